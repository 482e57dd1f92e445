"""Barn climate sensors of a naturally ventilated free-stall barn."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from analytics.agronomy.humidity import saturation_vapour_pressure_kpa
from simulators.county_weather import CountyWeather, Weather
from simulators.models._family import F64, I64, Family
from simulators.physics import local_hour


class BarnClimate(Family):
    """Barn sensors: a naturally
    ventilated free-stall barn; less ventilation in the cold keeps heat, CO2 and NH3 in."""

    device_type = "barn_climate"
    decimals = (2, 1, 2, 0)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather) -> None:
        super().__init__(seed, county, prev_ms, weather)
        self.stocking = self.rng.uniform(0.85, 1.15, self.n)
        self._scrape_phase_h = self.rng.uniform(0.0, 8.0, self.n)
        idx = np.arange(self.n)
        self.t_c, self.e_kpa, self.co2_ppm, self.nh3_ppm = self._equilibrium(
            idx, prev_ms, weather.at(county, prev_ms))

    def _equilibrium(self, idx: I64, ts_ms: I64, w: Weather) -> tuple[F64, F64, F64, F64]:
        s = self.stocking[idx]
        vent = np.clip(5.0 + 15.0 * (w.air_temp_c + 5.0) / 30.0, 5.0, 20.0)  # air changes [1/h]
        t_eq = w.air_temp_c + 50.0 * s / vent
        e_eq = w.vapour_pressure_kpa + 1.2 * s / vent
        co2_eq = 420.0 + 10_000.0 * s / vent
        since_scrape = (local_hour(ts_ms) - self._scrape_phase_h[idx]) % 8.0
        emission = 150.0 * s * 1.04 ** (t_eq - 10.0) * (0.75 + 0.5 * since_scrape / 8.0)
        return t_eq, e_eq, co2_eq, emission / vent

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        t_eq, e_eq, co2_eq, nh3_eq = self._equilibrium(idx, ts_ms, w)
        a = 1.0 - math.exp(-self.dt_h / 0.3)
        t = self.t_c[idx] + (t_eq - self.t_c[idx]) * a
        e = self.e_kpa[idx] + (e_eq - self.e_kpa[idx]) * a
        co2 = self.co2_ppm[idx] + (co2_eq - self.co2_ppm[idx]) * a
        nh3 = self.nh3_ppm[idx] + (nh3_eq - self.nh3_ppm[idx]) * a
        self.t_c[idx], self.e_kpa[idx], self.co2_ppm[idx], self.nh3_ppm[idx] = t, e, co2, nh3
        z = self.noise(idx, ts_ms, 4)
        rh = np.clip(100.0 * e / saturation_vapour_pressure_kpa(t_c=t) + z[:, 1], 5.0, 98.0)
        return np.column_stack((t + 0.15 * z[:, 0], rh, nh3 * np.exp(0.05 * z[:, 2]),
                                co2 + 25.0 * z[:, 3]))
