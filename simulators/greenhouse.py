"""Solar greenhouse (日光温室) climate-node model.

A lumped two-node model: greenhouse air and the heat-storing north wall + soil (mass).
By day the film passes ``transmissivity`` of the outside radiation, which heats the air and
charges the mass; roof vents open proportionally above ``vent_setpoint_c`` and cap the day
temperature around 28-32 °C. At night (and in the cold season, under the insulating quilt
rolled down before sunset and up after sunrise) the air lives off the mass's heat.

Humidity: crop transpiration (driven by light) raises the vapour pressure, ventilation
brings it back to outside air, condensation on the film caps it, so RH is 85-95 % at night
and lower by day. CO2: soil/crop respiration accumulates it at night (~600-900 ppm by
dawn), photosynthesis draws it down by day, ventilation pulls it to ~420 ppm. Leaf wetness
rises as RH nears saturation.
"""

from __future__ import annotations

import math
from typing import ClassVar

from simulators.models import HOUR_MS, RANGES, Battery, DeviceModel, clamp, saturation_vp_kpa
from simulators.weather import WeatherDriver, WeatherState

_PAR_PER_W = 2.05  # µmol/m²/s of PAR per W/m² of global radiation
_CO2_OUT = 420.0  # outside CO2 [ppm]
_MAX_STEP_MS = 600_000
_SPIN_UP_H = 48
# lumped thermal parameters [1/h], solar terms [°C/h per W/m² inside]
_U_FILM = 0.8
_U_QUILT = 0.15
_LEAK = 0.1
_LEAK_QUILT = 0.05
_VENT = 20.0
_H_MASS = 1.5
_SOLAR_AIR = 0.1
_MASS_AIR = 0.12
_SOLAR_MASS = 0.0035
_MASS_LOSS = 0.025
_GROUND_EXCESS_C = 8.0  # ground under the greenhouse vs outside daily mean [°C]
_NIGHT_SETPOINT_C = 16.0  # vents (or a lifted quilt) keep nights below about this
_CO2_COMPENSATION = 80.0  # [ppm]


class GreenhouseClimateModel(DeviceModel):
    """A climate node inside one solar greenhouse (see module docstring).

    ``vent_setpoint_c`` [°C] opens the vents, ``heating_setpoint_c`` [°C] (``None``: no
    heater) is the minimum a backup heater holds, ``transmissivity`` [0..1] of the film
    defaults to 0.6-0.75 (film age/dust).
    """

    __slots__ = (
        "_battery",
        "_co2",
        "_e_in",
        "_leaf_wet",
        "_resp",
        "_t_air",
        "_t_mass",
        "_vent",
        "heating_setpoint_c",
        "transmissivity",
        "vent_setpoint_c",
    )

    device_type: ClassVar[str] = "greenhouse_climate"

    def __init__(
        self,
        seed: int,
        driver: WeatherDriver,
        *,
        vent_setpoint_c: float | None = None,
        heating_setpoint_c: float | None = 5.0,
        transmissivity: float | None = None,
    ) -> None:
        super().__init__(seed, driver)
        rng = self._rng
        self.vent_setpoint_c = (
            rng.uniform(26.5, 29.0) if vent_setpoint_c is None else vent_setpoint_c
        )
        self.heating_setpoint_c = heating_setpoint_c
        self.transmissivity = rng.uniform(0.6, 0.75) if transmissivity is None else transmissivity
        if not 0.0 < self.transmissivity <= 1.0:
            raise ValueError("transmissivity must be in (0, 1]")
        self._resp = rng.uniform(40.0, 65.0)  # soil + crop respiration [ppm/h]
        self._t_air = math.nan
        self._t_mass = math.nan
        self._e_in = 0.0
        self._co2 = _CO2_OUT
        self._leaf_wet = 0.0
        self._vent = 0.0
        self._battery = Battery(rng)

    @property
    def air_temp_c(self) -> float:
        """True (noise-free) inside air temperature [°C]."""
        return self._t_air

    @property
    def vent_opening(self) -> float:
        """Vent opening [0..1]."""
        return self._vent

    def next_readings(self, ts_ms: int) -> dict[str, float]:
        """Air temp [°C], RH [%], CO2 [ppm], PAR [µmol/m²/s], leaf wetness [%], battery [V]."""
        last = self._last_ms
        self._advance(ts_ms)
        driver = self.driver
        if last is None:
            self._spin_up(ts_ms)
        else:
            t0 = last
            while t0 < ts_ms:
                t1 = min(ts_ms, t0 + _MAX_STEP_MS)
                self._step((t1 - t0) / HOUR_MS, driver.at(t1))
                t0 = t1
        w = driver.at(ts_ms)
        rng = self._rng
        t_air = self._t_air
        rh = 100.0 * self._e_in / saturation_vp_kpa(t_air)
        par = self._par(w) * (1.0 + rng.normal(0.0, 0.02))
        return {
            "air_temp_c": round(clamp(t_air + rng.normal(0.0, 0.1), *RANGES["air_temp_c"]), 2),
            "rh_pct": round(clamp(rh + rng.normal(0.0, 0.7), 5.0, 100.0), 1),
            "co2_ppm": round(clamp(self._co2 + rng.normal(0.0, 6.0), *RANGES["co2_ppm"]), 0),
            "par_umol_m2_s": round(clamp(par, *RANGES["par_umol_m2_s"]), 1),
            "leaf_wetness_pct": round(
                clamp(self._leaf_wet + rng.normal(0.0, 0.5), *RANGES["leaf_wetness_pct"]), 1
            ),
            "battery_v": round(clamp(self._battery.voltage(rng), *RANGES["battery_v"]), 3),
        }

    # ------------------------------------------------------------------ physics

    @staticmethod
    def _quilt_down(w: WeatherState) -> bool:
        """Insulating quilt down: cold season, from 1 h before sunset to 1.5 h after sunrise."""
        if w.daily_mean_c > 12.0:
            return False
        return w.local_hour < w.sunrise_h + 1.5 or w.local_hour > w.sunset_h - 1.0

    def _par(self, w: WeatherState) -> float:
        """PAR at the crop [µmol/m²/s]."""
        if w.solar_rad_w_m2 <= 0.0 or self._quilt_down(w):
            return 0.0
        return w.solar_rad_w_m2 * self.transmissivity * _PAR_PER_W

    def _spin_up(self, ts_ms: int) -> None:
        """Run the previous two days at 30 min steps so the state starts realistic."""
        driver = self.driver
        start = ts_ms - _SPIN_UP_H * HOUR_MS
        w0 = driver.at(start)
        self._t_mass = w0.daily_mean_c + (12.0 if w0.daily_mean_c < 12.0 else 5.0)
        self._t_air = self._t_mass
        self._e_in = 0.85 * saturation_vp_kpa(self._t_air)
        self._co2 = 600.0
        step = HOUR_MS // 2
        for k in range(1, 2 * _SPIN_UP_H + 1):
            self._step(0.5, driver.at(start + k * step))

    def _step(self, dt_h: float, w: WeatherState) -> None:
        """Advance the greenhouse by ``dt_h`` [h] under outside weather ``w``."""
        if dt_h <= 0.0:
            return
        t_out = w.air_temp_c
        quilt = self._quilt_down(w)
        solar_in = 0.0 if quilt else w.solar_rad_w_m2 * self.transmissivity
        warm_season = w.daily_mean_c > 15.0

        # air: relaxes to the equilibrium of solar gain, mass exchange and losses [1/h]
        u_loss = _U_QUILT if quilt else _U_FILM  # through film / quilt
        leak = _LEAK_QUILT if quilt else _LEAK
        h_mass = _H_MASS
        gains = _SOLAR_AIR * solar_in + h_mass * self._t_mass
        k0 = h_mass + u_loss + leak
        t_closed = (gains + (u_loss + leak) * t_out) / k0
        # vents: opened so the equilibrium sits a little above the setpoint (a cracked
        # minimum on warm nights), moved by the motor with a ~10 min time constant
        night = solar_in <= 0.0
        sp = _NIGHT_SETPOINT_C if night else self.vent_setpoint_c
        target_vent = 0.06 if warm_season and night else 0.0
        if t_closed > sp:
            t_target = sp + min(2.0, 0.15 * (t_closed - sp))
            if t_target <= t_out:
                target_vent = 1.0
            else:
                need = (t_closed - t_target) * k0 / (_VENT * (t_target - t_out))
                target_vent = max(target_vent, min(1.0, need))
        vent = target_vent + (self._vent - target_vent) * math.exp(-dt_h / 0.15)
        self._vent = vent
        k = k0 + _VENT * vent
        t_eq = (gains + (u_loss + leak + _VENT * vent) * t_out) / k
        heat = self.heating_setpoint_c
        if heat is not None and t_eq < heat:
            t_eq = heat
        self._t_air = t_eq + (self._t_air - t_eq) * math.exp(-k * dt_h)
        # mass (north wall + soil): exchange with air, absorbed radiation, loss to the ground
        self._t_mass += (
            _MASS_AIR * (self._t_air - self._t_mass)
            + _SOLAR_MASS * solar_in
            - _MASS_LOSS * (self._t_mass - w.daily_mean_c - _GROUND_EXCESS_C)
        ) * dt_h

        # vapour [kPa]: transpiration vs ventilation, capped by condensation on the film
        t_air = self._t_air
        e_out = w.vapour_pressure_kpa
        k_e = leak + _VENT * vent
        e_eq = e_out + (0.8 + 0.08 * max(0.0, t_air - 10.0) + 5.0 * solar_in / 500.0) / k_e
        self._e_in = e_eq + (self._e_in - e_eq) * math.exp(-max(k_e, 1.0) * dt_h)
        # film (or quilt) surface below the air: radiative cooling on clear nights
        night_sky = 0.8 if solar_in <= 0.0 else 0.0
        film_drop = 1.0 if quilt else 0.3 * (t_air - t_out) + night_sky
        self._e_in = min(self._e_in, 0.99 * saturation_vp_kpa(t_air - max(0.0, film_drop)))

        # CO2 [ppm]: respiration, photosynthesis (∝ CO2, saturating in light), exchange
        par = solar_in * _PAR_PER_W
        photo = 0.8 * par / (par + 400.0)  # [1/h]
        k_c = leak + 0.05 + _VENT * vent
        resp = self._resp * (1.0 + 0.03 * (t_air - 15.0))
        c_eq = (resp + k_c * _CO2_OUT + photo * _CO2_COMPENSATION) / (k_c + photo)
        self._co2 = c_eq + (self._co2 - c_eq) * math.exp(-(k_c + photo) * dt_h)

        # leaf wetness [%]: wets when RH > ~91 %, dries faster in light
        rh = 100.0 * self._e_in / saturation_vp_kpa(t_air)
        target = 100.0 / (1.0 + math.exp(-(rh - 91.0) / 1.2))
        rate = 2.0 if target > self._leaf_wet else (1.5 + 0.01 * par)
        self._leaf_wet = target + (self._leaf_wet - target) * math.exp(-rate * dt_h)

        self._battery.step(dt_h, solar_in)
