"""Village weather stations: the county's weather seen by real sensors."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from simulators.county_weather import CountyWeather, Weather
from simulators.models._family import F64, I64, Family


class WeatherStations(Family):
    """Village weather stations:
    the county's weather at the station's elevation offset, sensor biases and noise, wind at
    the anemometer height (log profile) and a 0.2 mm tipping bucket."""

    device_type = "weather_station"
    decimals = (2, 1, 2, 1, 1, 2)
    TIP_MM: ClassVar[float] = 0.2

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, elevation_offset_m: F64,
                 wind_height_m: F64) -> None:
        super().__init__(seed, county, prev_ms, weather)
        self._dt_c = -0.0065 * elevation_offset_m
        self._dp = np.exp(-elevation_offset_m / 8400.0)
        self._wind_factor = np.log(np.maximum(wind_height_m, 0.06) / 0.03) / math.log(10.0 / 0.03)
        self._t_bias = self.rng.normal(0.0, 0.15, self.n)
        self._rh_bias = self.rng.normal(0.0, 1.5, self.n)
        self._bucket = np.zeros(self.n)

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        z = self.noise(idx, ts_ms, 6)
        bucket = self._bucket[idx] + self.weather.rain_mm(self.county[idx],
                                                          ts_ms - self.interval_ms, ts_ms)
        tips = np.floor(bucket / self.TIP_MM + 1e-9)
        self._bucket[idx] = bucket - tips * self.TIP_MM
        solar = np.where(w.solar_rad_w_m2 > 0.0, w.solar_rad_w_m2 * (1.0 + 0.02 * z[:, 3]), 0.0)
        return np.column_stack((
            w.air_temp_c + self._dt_c[idx] + self._t_bias[idx] + 0.1 * z[:, 0],
            np.clip(w.rh_pct + self._rh_bias[idx] + 0.8 * z[:, 1], 2.0, 100.0),
            w.wind_speed_m_s * self._wind_factor[idx] * np.exp(0.12 * z[:, 2]),
            solar,
            tips * self.TIP_MM,
            w.pressure_kpa * self._dp[idx] + 0.01 * z[:, 4],
        ))
