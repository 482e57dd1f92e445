"""Solar-greenhouse climate nodes."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from analytics.agronomy.humidity import saturation_vapour_pressure_kpa
from simulators.county_weather import CountyWeather, Weather
from simulators.models._family import F64, I64, Family
from simulators.physics import Battery, local_hour
from storage.clock import HOUR_MS

# lumped thermal parameters [1/h], solar [°C/h per W/m²]
_U_FILM, _U_QUILT, _LEAK, _LEAK_QUILT, _VENT = 0.8, 0.15, 0.1, 0.05, 20.0
_H_MASS, _SOLAR_AIR, _MASS_AIR, _SOLAR_MASS, _MASS_LOSS = 1.5, 0.1, 0.12, 0.0035, 0.025
_GROUND_EXCESS_C, _NIGHT_SETPOINT_C, _CO2_OUT, _CO2_COMP, _PAR_PER_W = 8.0, 16.0, 420.0, 80.0, 2.05


class Greenhouses(Family):
    """Solar-greenhouse climate nodes: air + heat-storing mass, quilt in the cold season,
    proportional roof vents, transpiration/condensation humidity, CO2 respiration and
    photosynthesis, leaf wetness.

    States start from a 48 h spin-up (30 min steps) before each node's first report.
    """

    device_type = "greenhouse_climate"
    decimals = (2, 1, 0, 1, 1, 3)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather) -> None:
        super().__init__(seed, county, prev_ms, weather)
        n, rng = self.n, self.rng
        self.vent_setpoint_c = rng.uniform(26.5, 29.0, n)
        self.heating_setpoint_c = 5.0
        self.transmissivity = rng.uniform(0.6, 0.75, n)
        self._resp = rng.uniform(40.0, 65.0, n)  # soil + crop respiration [ppm/h]
        self.battery = Battery(rng, n)
        idx = np.arange(n)
        start = prev_ms - 48 * HOUR_MS
        w0 = weather.at(county, start)
        mean0 = w0.daily_mean_c
        self.t_mass = mean0 + np.where(mean0 < 12.0, 12.0, 5.0)
        self.t_air = self.t_mass.copy()
        self.e_in = 0.85 * saturation_vapour_pressure_kpa(t_c=self.t_air)
        self.co2 = np.full(n, 600.0)
        self.leaf_wet = np.zeros(n)
        self.vent = np.zeros(n)
        for k in range(1, 97):
            ts = start + k * (HOUR_MS // 2)
            self._advance(idx, ts, 0.5, weather.at(county, ts))

    @staticmethod
    def _quilt_down(ts_ms: I64, w: Weather) -> NDArray[np.bool_]:
        """Quilt down: cold season, 1 h before sunset to 1.5 h after sunrise."""
        h = local_hour(ts_ms)
        out: NDArray[np.bool_] = (w.daily_mean_c <= 12.0) & (
            (h < w.sunrise_h + 1.5) | (h > w.sunset_h - 1.0))
        return out

    def _advance(self, idx: I64, ts_ms: I64, dt_h: float, w: Weather) -> F64:
        """One step of ``dt_h`` [h]; returns the radiation inside [W/m²]."""
        t_out = w.air_temp_c
        quilt = self._quilt_down(ts_ms, w)
        solar_in = np.where(quilt, 0.0, w.solar_rad_w_m2 * self.transmissivity[idx])
        u_loss = np.where(quilt, _U_QUILT, _U_FILM)
        leak = np.where(quilt, _LEAK_QUILT, _LEAK)
        t_mass = self.t_mass[idx]
        gains = _SOLAR_AIR * solar_in + _H_MASS * t_mass
        k0 = _H_MASS + u_loss + leak
        t_closed = (gains + (u_loss + leak) * t_out) / k0
        night = solar_in <= 0.0
        sp = np.where(night, _NIGHT_SETPOINT_C, self.vent_setpoint_c[idx])
        target = np.where((w.daily_mean_c > 15.0) & night, 0.06, 0.0)
        t_target = sp + np.minimum(2.0, 0.15 * (t_closed - sp))
        gap = t_target - t_out
        need = (t_closed - t_target) * k0 / (_VENT * np.where(gap > 0.0, gap, 1.0))
        opened = np.where(gap > 0.0, np.maximum(target, np.minimum(1.0, need)), 1.0)
        target = np.where(t_closed > sp, opened, target)
        vent = target + (self.vent[idx] - target) * math.exp(-dt_h / 0.15)
        k = k0 + _VENT * vent
        t_eq = np.maximum((gains + (u_loss + leak + _VENT * vent) * t_out) / k,
                          self.heating_setpoint_c)
        t_air = t_eq + (self.t_air[idx] - t_eq) * np.exp(-k * dt_h)
        t_mass = t_mass + (_MASS_AIR * (t_air - t_mass) + _SOLAR_MASS * solar_in
                           - _MASS_LOSS * (t_mass - w.daily_mean_c - _GROUND_EXCESS_C)) * dt_h
        # vapour [kPa]: transpiration vs ventilation, capped by condensation on the film
        k_e = leak + _VENT * vent
        e_eq = w.vapour_pressure_kpa + (0.8 + 0.08 * np.maximum(0.0, t_air - 10.0)
                                        + 5.0 * solar_in / 500.0) / k_e
        e_in = e_eq + (self.e_in[idx] - e_eq) * np.exp(-np.maximum(k_e, 1.0) * dt_h)
        film_drop = np.where(quilt, 1.0, 0.3 * (t_air - t_out) + np.where(night, 0.8, 0.0))
        e_sat_film = saturation_vapour_pressure_kpa(t_c=t_air - np.maximum(0.0, film_drop))
        e_in = np.minimum(e_in, 0.99 * e_sat_film)
        # CO2 [ppm]: respiration, photosynthesis, exchange
        par = solar_in * _PAR_PER_W
        photo = 0.8 * par / (par + 400.0)
        k_c = leak + 0.05 + _VENT * vent
        resp = self._resp[idx] * (1.0 + 0.03 * (t_air - 15.0))
        c_eq = (resp + k_c * _CO2_OUT + photo * _CO2_COMP) / (k_c + photo)
        co2 = c_eq + (self.co2[idx] - c_eq) * np.exp(-(k_c + photo) * dt_h)
        # leaf wetness [%]: wets when RH > ~91 %, dries faster in light
        rh = 100.0 * e_in / saturation_vapour_pressure_kpa(t_c=t_air)
        wet_target = 100.0 / (1.0 + np.exp(-(rh - 91.0) / 1.2))
        leaf = self.leaf_wet[idx]
        rate = np.where(wet_target > leaf, 2.0, 1.5 + 0.01 * par)
        leaf = wet_target + (leaf - wet_target) * np.exp(-rate * dt_h)
        self.vent[idx], self.t_air[idx], self.t_mass[idx] = vent, t_air, t_mass
        self.e_in[idx], self.co2[idx], self.leaf_wet[idx] = e_in, co2, leaf
        self.battery.step(idx, dt_h, solar_in)
        out: F64 = solar_in
        return out

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        solar_in = self._advance(idx, ts_ms, self.dt_h, w)
        z = self.noise(idx, ts_ms, 6)
        t_air = self.t_air[idx]
        rh = 100.0 * self.e_in[idx] / saturation_vapour_pressure_kpa(t_c=t_air)
        rh = np.clip(rh + 0.7 * z[:, 1], 5.0, 100.0)
        par = solar_in * _PAR_PER_W * (1.0 + 0.02 * z[:, 3])
        return np.column_stack((t_air + 0.1 * z[:, 0], rh, self.co2[idx] + 6.0 * z[:, 2], par,
                                self.leaf_wet[idx] + 0.5 * z[:, 4],
                                self.battery.voltage(idx, z[:, 5])))
