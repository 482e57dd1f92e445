"""The base of every device family: state arrays indexed by the device's family index."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from devices.catalogue import DEVICE_TYPES
from simulators.county_weather import CountyWeather, Weather
from simulators.noise import derive_seed, normals, record_keys, uniforms
from simulators.physics import RANGES
from storage.clock import HOUR_MS

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class Family(ABC):
    """All devices of one catalogue type: state arrays indexed by the device's family index.

    Every device reports every ``interval_ms``; :meth:`step` is called once per report with
    the devices' report times. ``prev_ms`` [UTC ms] is each device's report before the first
    simulated one (initial states are set for then).
    """

    device_type: ClassVar[str]
    #: decimals each quantity is rounded to
    decimals: ClassVar[tuple[int, ...]]

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather) -> None:
        self.n = len(county)
        self.county = county
        self.weather = weather
        self.interval_ms = DEVICE_TYPES[self.device_type].report_interval_s * 1000
        self.dt_h = self.interval_ms / HOUR_MS
        self.quantities = DEVICE_TYPES[self.device_type].quantities
        self._seed = derive_seed(seed, "noise", self.device_type)
        self.rng = np.random.default_rng(derive_seed(seed, "traits", self.device_type))
        lo, hi = zip(*(RANGES[q] for q in self.quantities), strict=True)
        self._lo = np.array(lo)
        self._hi = np.array(hi)
        self._scale = 10.0 ** np.array(self.decimals)
        #: each device's latest report [UTC ms]
        self.last_ms = np.array(prev_ms, dtype=np.int64)

    def noise(self, idx: I64, ts_ms: I64, count: int) -> F64:
        """``count`` standard normals per device for its report at ``ts_ms``."""
        return normals(record_keys(self._seed, idx, ts_ms // self.interval_ms), count)

    def uniform(self, idx: I64, ts_ms: I64, stream: int) -> F64:
        """One uniform (0, 1) per device for its report at ``ts_ms`` (``stream`` >= 100)."""
        return uniforms(record_keys(self._seed, idx, ts_ms // self.interval_ms), stream)

    def step(self, idx: I64, ts_ms: I64) -> F64:
        """Advance devices ``idx`` to their reports at ``ts_ms``; readings ``(len, quantities)``.

        Values are clipped to the catalogue's ranges and rounded; ``FloatingPointError`` if a
        model produced a non-finite value (a bug, never sent); ``ValueError`` if a device's
        time does not move forward.
        """
        if (ts_ms <= self.last_ms[idx]).any():
            raise ValueError(f"{self.device_type}: time went backwards or stood still")
        self.last_ms[idx] = ts_ms
        values = self._readings(idx, ts_ms, self.weather.at(self.county[idx], ts_ms))
        if not np.isfinite(values).all():
            raise FloatingPointError(f"{self.device_type}: non-finite reading")
        np.clip(values, self._lo, self._hi, out=values)
        out: F64 = np.rint(values * self._scale) / self._scale  # as np.round(x, decimals)
        return out

    @abstractmethod
    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        """Advance state by one interval and return raw readings ``(len(idx), quantities)``."""
