"""Soil-moisture probes: a water balance of a soil slab at the probe's depth."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from simulators.county_weather import CountyWeather, Weather
from simulators.models._family import F64, I64, Family
from simulators.models.irrigation import IrrigationPlan
from simulators.physics import Battery, crop_coefficient, local_hour

_TWO_PI = 2.0 * math.pi


class SoilProbes(Family):
    """Soil-moisture probes.

    A 10 cm slab at ``depth_cm``: loses water to ET (ET0 × seasonal Kc × stress, a share
    shrinking with depth), gains rain/snow-melt/irrigation left over after refilling the soil
    above, with a depth-dependent lag; drains above field capacity. Soil temperature is the
    damped, delayed daily wave; EC rises as the soil dries. ``field`` indexes the
    :class:`IrrigationPlan` (-1: rain-fed dryland).
    """

    device_type = "soil_moisture"
    decimals = (2, 2, 3, 3)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, depth_cm: F64, field: I64,
                 irrigation: IrrigationPlan | None) -> None:
        super().__init__(seed, county, prev_ms, weather)
        n, rng = self.n, self.rng
        self.depth_cm = depth_cm
        self.field = field
        self.irrigation = irrigation
        self.wilting_point_pct = rng.uniform(9.0, 12.0, n)
        self.field_capacity_pct = rng.uniform(27.0, 33.0, n)
        self.saturation_pct = rng.uniform(42.0, 47.0, n)
        wp, fc = self.wilting_point_pct, self.field_capacity_pct
        self.vwc_pct = wp + (fc - wp) * rng.uniform(0.35, 0.8, n)  # true water content [%]
        z_top_cm = np.maximum(0.0, depth_cm - 5.0)
        self._z_top_mm = 10.0 * z_top_cm
        self._share = 0.35 * np.exp(-depth_cm / 30.0)
        self._share_above = 1.04 * (1.0 - np.exp(-z_top_cm / 30.0))
        self._deficit_above = np.maximum(0.0, fc - self.vwc_pct) / 100.0 * self._z_top_mm
        self._lag_h = 0.3 + depth_cm / 6.0
        self._pending = np.zeros(n)  # water on its way down [mm]
        self.snow_mm = np.zeros(n)
        self._offset = rng.normal(0.0, 0.8, n)  # calibration offset [% vol]
        self._ec_base = 0.25 * np.exp(rng.normal(0.0, 0.45, n))
        self._ec_drift = np.zeros(n)
        self._t_mean = weather.at(county, prev_ms).daily_mean_c + 1.5
        self.battery = Battery(rng, n)
        self.irrigated_mm = np.zeros(n)  # total irrigation received [mm]

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        dt = self.dt_h
        t0 = ts_ms - self.interval_ms
        precip = self.weather.rain_mm(self.county[idx], t0, ts_ms)
        z = self.noise(idx, ts_ms, 6)
        wp, fc = self.wilting_point_pct[idx], self.field_capacity_pct[idx]
        theta = self.vwc_pct[idx]
        snow = self.snow_mm[idx]
        t_mean = self._t_mean[idx]
        # precipitation: snow below ~0.5 °C, melting 3 mm/°C/day above 0 °C
        cold = w.air_temp_c < 0.5
        snow = snow + np.where(cold, precip, 0.0)
        water_in = np.where(cold, 0.0, precip)
        melt = np.where(w.air_temp_c > 0.0, np.minimum(snow, 0.125 * w.air_temp_c * dt), 0.0)
        snow -= melt
        water_in += melt
        if self.irrigation is not None:
            field = self.field[idx]
            wet = field >= 0
            if wet.any():
                f = field[wet]
                mm = self.irrigation.delivered_mm(f, t0[wet], ts_ms[wet])
                water_in[wet] += mm
                self.irrigated_mm[idx[wet]] += mm
        # evapotranspiration [mm] with water stress below half the available water
        et = w.et0_mm_h * crop_coefficient(w.doy) * dt
        et = np.where((t_mean < 0.0) | (snow > 1.0), 0.1 * et, et)
        ks = np.clip((theta - wp) / (0.5 * (fc - wp)), 0.0, 1.0)
        theta = theta - et * ks * self._share[idx]
        d_max = (fc - wp) / 100.0 * self._z_top_mm[idx]
        deficit = np.minimum(d_max, self._deficit_above[idx] + et * ks * self._share_above[idx])
        fill = np.minimum(deficit, water_in)
        self._deficit_above[idx] = deficit - fill
        pending = self._pending[idx] + water_in - fill
        release = pending * (1.0 - np.exp(-dt / self._lag_h[idx]))
        self._pending[idx] = pending - release
        theta = theta + release
        theta = np.where(theta > fc, theta - (theta - fc) * (1.0 - math.exp(-dt / 18.0)), theta)
        theta = np.clip(theta, wp, self.saturation_pct[idx])
        self.vwc_pct[idx] = theta
        self.snow_mm[idx] = snow
        depth = self.depth_cm[idx]
        t_mean = t_mean + (w.daily_mean_c + 1.5 - t_mean) * (1.0 - np.exp(-dt / (12.0 + 2.4 * depth)))
        self._t_mean[idx] = t_mean
        drift = self._ec_drift[idx]
        drift += -drift * dt / 240.0 + 0.004 * math.sqrt(dt) * z[:, 0]
        self._ec_drift[idx] = drift
        self.battery.step(idx, dt, w.solar_rad_w_m2)

        zr = depth / 10.0  # damping depth 10 cm
        amp = 0.65 * (w.daily_max_c - w.daily_min_c) * np.exp(-zr)
        amp = np.where(snow > 5.0, 0.3 * amp, amp)
        soil_t = t_mean + amp * np.cos(_TWO_PI / 24.0 * (local_hour(ts_ms) - 13.5) - zr)
        soil_t += 0.05 * z[:, 1]
        ec = self._ec_base[idx] * (fc / theta) * np.exp(drift) * (1.0 + 0.01 * z[:, 2])
        ec = np.where(soil_t < 0.0, 0.3 * ec, ec)  # ice does not conduct
        vwc = np.clip(theta + self._offset[idx] + 0.15 * z[:, 3], wp, self.saturation_pct[idx])
        return np.column_stack((vwc, soil_t, ec, self.battery.voltage(idx, z[:, 4])))
