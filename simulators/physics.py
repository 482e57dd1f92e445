"""Physics shared by the device families: battery, crop coefficient, local clock, ranges.

Saturation vapour pressure is FAO-56's, from :mod:`analytics.agronomy.humidity`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import overload

import numpy as np
from numpy.typing import NDArray

from devices.catalogue import QUANTITIES
from storage.clock import CST_OFFSET_MS, DAY_MS, HOUR_MS

__all__ = ["RANGES", "Battery", "bump", "crop_coefficient", "local_day", "local_hour", "months"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Catalogue valid range ``(minimum, maximum)`` per quantity, canonical units.
RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {name: (q.minimum, q.maximum) for name, q in QUANTITIES.items()}
)


def local_hour(ts_ms: I64) -> F64:
    """China Standard Time clock hour [0, 24) of UTC epoch ms (element-wise)."""
    out: F64 = ((ts_ms + CST_OFFSET_MS) % DAY_MS) / HOUR_MS
    return out


@overload
def local_day(ts_ms: int) -> int: ...


@overload
def local_day(ts_ms: I64) -> I64: ...


def local_day(ts_ms: int | I64) -> int | I64:
    """China Standard Time day number since 1970-01-01 of UTC epoch ms (element-wise)."""
    return (ts_ms + CST_OFFSET_MS) // DAY_MS


def months(day: I64) -> I64:
    """Calendar month 1..12 of day numbers since 1970-01-01."""
    m = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    out: I64 = m % 12 + 1
    return out


def bump(hour: F64, centre: F64 | float, width_h: float) -> F64:
    """Gaussian bump in clock hours (wrapping midnight)."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    out: F64 = np.exp(-0.5 * (d / width_h) ** 2)
    return out


def crop_coefficient(doy: F64) -> F64:
    """Seasonal ET coefficient: bare/stubble in winter, full maize canopy in July-August."""
    d = (doy - 205.0 + 182.625) % 365.25 - 182.625
    out: F64 = 0.35 + 0.7 * np.exp(-((d / 50.0) ** 2))
    return out


class Battery:
    """1-cell Li-ion packs [V: 3.3 empty .. 4.2 full] with small solar panels, one per device.

    The load drains the state of charge steadily (~2-3.5 % a day); the panel recharges it in
    proportion to global radiation (a clear summer day adds ~6-11 %), so the voltage saws up by
    day and down by night.
    """

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.soc = rng.uniform(0.55, 0.95, n)  # state of charge [0..1]
        self._drain_per_h = rng.uniform(0.0009, 0.0015, n)  # [1/h]
        self._charge_per_wh = rng.uniform(0.6, 1.4, n) * 1.1e-5  # [1/(Wh/m²)]

    def step(self, idx: I64, dt_h: float, solar_w_m2: F64) -> None:
        """Advance devices ``idx`` by ``dt_h`` [h] under ``solar_w_m2`` [W/m²]."""
        soc = self.soc[idx]
        charge = self._charge_per_wh[idx] * solar_w_m2 * dt_h * (1.0 - 0.7 * soc * soc)
        self.soc[idx] = np.clip(soc + charge - self._drain_per_h[idx] * dt_h, 0.0, 1.0)

    def voltage(self, idx: I64, z: F64) -> F64:
        """Terminal voltage [V] with ``z`` standard-normal noise (σ 4 mV)."""
        soc = self.soc[idx]
        out: F64 = 3.3 + 0.55 * soc + 0.35 * soc**4 + 0.004 * z
        return out
