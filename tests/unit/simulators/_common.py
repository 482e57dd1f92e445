"""Shared helpers for the simulator tests: CST instants and families of N devices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from devices.catalogue import DEVICE_TYPES
from simulators.county_weather import CountyWeather
from simulators.models import Family, IrrigationPlan, build_family
from simulators.physics import local_hour as _local_hour
from simulators.weather_driver import WeatherDriver
from storage.clock import CST, DAY_MS, HOUR_MS, to_ms

HOUR = HOUR_MS
DAY = DAY_MS

#: per-device inputs of each family when a test gives none
DEFAULT_INPUTS: dict[str, dict[str, float | list[int] | bool]] = {
    "livestock_collar": {"barn": 1},  # barn 1 milks at 06:00, 14:00, 22:00
    "soil_moisture": {"depth_cm": 20.0, "field": -1},
    "flow_meter": {"fields": [0], "source": False},
    "weather_station": {"elevation_offset_m": 0.0, "wind_height_m": 10.0},
}


def cst_ms(year: int, month: int, day: int, hour: int = 0) -> int:
    """UTC epoch ms of a China Standard Time wall-clock instant."""
    return to_ms(datetime(year, month, day, hour, tzinfo=CST))


def local_hour(ts_ms: int) -> float:
    """China Standard Time clock hour."""
    return float(_local_hour(np.array([ts_ms], dtype=np.int64))[0])


def family(device_type: str, n: int = 1, *, seed: int = 1, start_ms: int,
           weather: CountyWeather | WeatherDriver | None = None,
           irrigation: IrrigationPlan | None = None, **inputs: Any) -> Family:
    """A family of ``n`` devices in one county whose first report is at ``start_ms``.

    ``inputs`` override :data:`DEFAULT_INPUTS` (a scalar for all devices or a list per device).
    """
    if weather is None:
        weather = WeatherDriver(seed + 10)
    if isinstance(weather, WeatherDriver):
        weather = CountyWeather([weather])
    interval = DEVICE_TYPES[device_type].report_interval_s * 1000
    values = {**DEFAULT_INPUTS.get(device_type, {}), **inputs}
    extra = {}
    for key, v in values.items():
        arr = np.asarray(v)
        if key == "fields":
            extra[key] = arr if arr.ndim == 2 else np.tile(arr, (n, 1))
        else:
            extra[key] = arr if arr.ndim == 1 else np.full(n, v)
    if device_type == "flow_meter" and irrigation is None:
        irrigation = plan(1, weather=weather, months=())
    return build_family(device_type, seed, np.zeros(n, dtype=np.int8),
                        np.full(n, start_ms - interval, dtype=np.int64), weather, extra,
                        irrigation)


def plan(n: int, *, weather: CountyWeather, area_mu: float = 1.0, seed: int = 1,
         months: tuple[int, ...] = IrrigationPlan.MONTHS) -> IrrigationPlan:
    """An irrigation plan of ``n`` fields of ``area_mu`` [亩] in county 0."""
    return IrrigationPlan(seed, np.zeros(n, dtype=np.int8), np.full(n, area_mu), weather,
                          months=months)


def run(fam: Family, start_ms: int, days: float) -> np.ndarray:
    """Every device's readings at each report from ``start_ms`` over ``days``: shape
    ``(reports, devices, quantities)``."""
    steps = int(days * DAY / fam.interval_ms)
    idx = np.arange(fam.n)
    return np.array([fam.step(idx, np.full(fam.n, start_ms + k * fam.interval_ms,
                                           dtype=np.int64)) for k in range(steps + 1)])


def column(fam: Family, values: np.ndarray, quantity: str) -> np.ndarray:
    """The ``quantity`` readings out of :func:`run`'s result: shape ``(reports, devices)``."""
    out: np.ndarray = values[:, :, fam.quantities.index(quantity)]
    return out
