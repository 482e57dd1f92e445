"""The counties' weather for a family of devices: one :class:`WeatherDriver` per county,
queried in bulk (once per county and minute) and broadcast to the devices as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.noise import derive_seed
from simulators.weather_driver import SHUOZHOU_COUNTIES, DrySpell, WeatherDriver
from storage.clock import CST_OFFSET_MS, DAY_MS, MINUTE_MS

__all__ = ["CountyWeather", "Weather"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

_FIELDS = ("air_temp_c", "rh_pct", "wind_speed_m_s", "solar_rad_w_m2", "pressure_kpa",
           "et0_mm_h", "daily_min_c", "daily_max_c", "sunrise_h", "sunset_h", "doy",
           "vapour_pressure_kpa")


@dataclass(frozen=True, slots=True)
class Weather:
    """Outside weather per device (arrays aligned with the devices asked for).

    Temperatures [°C], RH [%], wind at 10 m [m/s], global radiation [W/m²], pressure [kPa],
    FAO-56 hourly ET0 [mm/h], sunrise/sunset [local h], day of year, vapour pressure [kPa].
    """

    air_temp_c: F64
    rh_pct: F64
    wind_speed_m_s: F64
    solar_rad_w_m2: F64
    pressure_kpa: F64
    et0_mm_h: F64
    daily_min_c: F64
    daily_max_c: F64
    sunrise_h: F64
    sunset_h: F64
    doy: F64
    vapour_pressure_kpa: F64

    @property
    def daily_mean_c(self) -> F64:
        """Mean of the day's minimum and maximum [°C]."""
        out: F64 = 0.5 * (self.daily_min_c + self.daily_max_c)
        return out


class CountyWeather:
    """Weather drivers by county index (devices carry the index as an ``int8`` array)."""

    def __init__(self, drivers: Sequence[WeatherDriver]) -> None:
        self.drivers = tuple(drivers)
        self._wet: dict[tuple[int, int, float], bool] = {}

    @classmethod
    def for_counties(cls, seed: int, county_ids: Sequence[str]) -> CountyWeather:
        """One seeded driver per county id (``"shuocheng"``...), at the county's location."""
        return cls([WeatherDriver(derive_seed(seed, c), SHUOZHOU_COUNTIES[c.capitalize()])
                    for c in county_ids])

    def add_dry_spell(self, start_ms: int, end_ms: int, heat_c: float = 4.0, *,
                      county: int | None = None) -> list[DrySpell]:
        """A dry spell (:meth:`WeatherDriver.add_dry_spell`) in one county or in all."""
        chosen = self.drivers if county is None else (self.drivers[county],)
        spells = [d.add_dry_spell(start_ms, end_ms, heat_c) for d in chosen]
        self._wet.clear()
        return spells

    def add_rain(self, start_ms: int, end_ms: int, depth_mm: float, *, county: int) -> None:
        """Force rain (:meth:`WeatherDriver.add_rain`) in one county."""
        self.drivers[county].add_rain(start_ms, end_ms, depth_mm)
        self._wet.clear()

    def at(self, county: NDArray[np.int8], ts_ms: I64) -> Weather:
        """Weather of each device's county at its time (quantised to the drivers' minute)."""
        n_c = len(self.drivers)
        key = (ts_ms // MINUTE_MS) * n_c + county
        uniq, inv = np.unique(key, return_inverse=True)
        table = np.empty((len(uniq), len(_FIELDS)))
        for row, k in enumerate(uniq.tolist()):
            w = self.drivers[k % n_c].at((k // n_c) * MINUTE_MS)
            table[row] = (w.air_temp_c, w.rh_pct, w.wind_speed_m_s, w.solar_rad_w_m2,
                          w.pressure_kpa, w.et0_mm_h, w.daily_min_c, w.daily_max_c, w.sunrise_h,
                          w.sunset_h, w.doy, w.vapour_pressure_kpa)
        cols = table[inv.reshape(-1)]
        return Weather(*(np.ascontiguousarray(cols[:, j]) for j in range(len(_FIELDS))))

    def rain_mm(self, county: NDArray[np.int8], t0_ms: I64, t1_ms: I64) -> F64:
        """Rain [mm] of each device's county in [t0, t1)."""
        out = np.zeros(len(county))
        for i, (c, a, b) in enumerate(zip(county.tolist(), t0_ms.tolist(), t1_ms.tolist(),
                                          strict=True)):
            out[i] = self.drivers[c].rain_between(a, b)
        return out

    def wet_day_before(self, county: NDArray[np.int8], day: I64,
                       threshold_mm: float) -> NDArray[np.bool_]:
        """Whether at least ``threshold_mm`` [mm] fell in the county on the local day before."""
        out = np.zeros(len(county), dtype=bool)
        for i, (c, d) in enumerate(zip(county.tolist(), day.tolist(), strict=True)):
            hit = self._wet.get((c, d, threshold_mm))
            if hit is None:
                if len(self._wet) > 4096:
                    self._wet.clear()
                start = (d - 1) * DAY_MS - CST_OFFSET_MS
                hit = self.drivers[c].rain_between(start, start + DAY_MS) >= threshold_mm
                self._wet[(c, d, threshold_mm)] = hit
            out[i] = hit
        return out
