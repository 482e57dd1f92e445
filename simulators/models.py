"""Shared pieces of the device models: the base class, a small per-device RNG and a battery.

Every model is deterministic from its seed and the (seeded) :class:`~simulators.weather.
WeatherDriver` it reads: the same seed, driver seed and sequence of ``next_readings(ts_ms)``
calls give identical readings. Models keep their state in ``__slots__`` and draw random
numbers from :class:`DeviceRng` (one 64-bit integer of state), so a city-scale fleet of
200,000 devices stays small and needs no per-reading numpy allocations.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from devices.catalogue import QUANTITIES

if TYPE_CHECKING:
    from simulators.weather import WeatherDriver

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_TWO_PI = 2.0 * math.pi

#: Catalogue valid range ``(minimum, maximum)`` per quantity, canonical units.
RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {name: (q.minimum, q.maximum) for name, q in QUANTITIES.items()}
)


def clamp(value: float, lo: float, hi: float) -> float:
    """``value`` limited to ``[lo, hi]``."""
    return lo if value < lo else hi if value > hi else value


def derive_seed(*parts: str | float) -> int:
    """A stable 63-bit seed from ``parts`` (e.g. a city seed and a device id).

    Unlike ``hash()`` it does not change between processes.
    """
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") >> 1


class DeviceRng:
    """SplitMix64 generator: 64 bits of state, pure Python, deterministic from ``seed``.

    Far smaller than ``random.Random`` (2.5 kB of Mersenne-Twister state) or a numpy
    ``Generator``, which matters with 200,000 simulated devices.
    """

    __slots__ = ("_spare", "_state")

    def __init__(self, seed: int) -> None:
        self._state = (seed * _GOLDEN + 0x632BE59BD9B4E019) & _M64
        self._spare = math.nan

    def random(self) -> float:
        """Uniform in ``[0, 1)``."""
        s = (self._state + _GOLDEN) & _M64
        self._state = s
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return ((z ^ (z >> 31)) >> 11) * 1.1102230246251565e-16

    def uniform(self, lo: float, hi: float) -> float:
        """Uniform in ``[lo, hi)``."""
        return lo + (hi - lo) * self.random()

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        """Gaussian (Box-Muller, the second variate is kept for the next call)."""
        spare = self._spare
        if spare == spare:  # not NaN
            self._spare = math.nan
            return mu + sigma * spare
        r = math.sqrt(-2.0 * math.log(1.0 - self.random()))
        theta = _TWO_PI * self.random()
        self._spare = r * math.sin(theta)
        return mu + sigma * r * math.cos(theta)


class Battery:
    """A 1-cell Li-ion pack [V: 3.3 empty .. 4.2 full] with a small solar panel.

    The load drains the state of charge steadily; the panel recharges it in proportion to
    global radiation, so the voltage saws up by day and down by night.
    """

    __slots__ = ("_charge_per_wh", "_drain_per_h", "soc")

    def __init__(
        self, rng: DeviceRng, *, soc: float | None = None, panel: float | None = None
    ) -> None:
        #: state of charge [0..1]
        self.soc = rng.uniform(0.55, 0.95) if soc is None else clamp(soc, 0.0, 1.0)
        self._drain_per_h = rng.uniform(0.0009, 0.0015)  # [1/h] ~2-3.5 % a day
        # [1/(Wh/m²)]: a clear summer day (~8 kWh/m²) adds ~6-11 % with an average panel
        self._charge_per_wh = (rng.uniform(0.6, 1.4) if panel is None else panel) * 1.1e-5

    def step(self, dt_h: float, solar_w_m2: float) -> None:
        """Advance ``dt_h`` [h] under ``solar_w_m2`` [W/m²] on the panel."""
        charge = self._charge_per_wh * solar_w_m2 * dt_h * (1.0 - 0.7 * self.soc * self.soc)
        self.soc = clamp(self.soc + charge - self._drain_per_h * dt_h, 0.0, 1.0)

    def voltage(self, rng: DeviceRng) -> float:
        """Terminal voltage [V] with a few mV of noise."""
        soc = self.soc
        return 3.3 + 0.55 * soc + 0.35 * soc**4 + rng.normal(0.0, 0.004)


class DeviceModel(ABC):
    """One simulated device: state advanced in time by :meth:`next_readings`.

    ``seed`` fixes the device's individual traits and noise; ``driver`` gives the outside
    weather of its location. Calls must come in non-decreasing time order.
    """

    __slots__ = ("_last_ms", "_rng", "driver", "seed")

    #: catalogue device type this model simulates
    device_type: ClassVar[str]

    def __init__(self, seed: int, driver: WeatherDriver) -> None:
        self.seed = seed
        self.driver = driver
        self._rng = DeviceRng(seed)
        self._last_ms: int | None = None

    @property
    def last_ts_ms(self) -> int | None:
        """Time of the previous reading [UTC epoch ms], ``None`` before the first."""
        return self._last_ms

    def _advance(self, ts_ms: int) -> float:
        """Record ``ts_ms`` as now; the elapsed time since the previous call [h] (0 at first)."""
        last = self._last_ms
        self._last_ms = ts_ms
        if last is None:
            return 0.0
        if ts_ms < last:
            self._last_ms = last
            raise ValueError(f"time went backwards: {ts_ms} < {last}")
        return (ts_ms - last) / HOUR_MS

    @abstractmethod
    def next_readings(self, ts_ms: int) -> dict[str, float]:
        """Readings at ``ts_ms`` [UTC epoch ms] in canonical units, within catalogue ranges."""


def saturation_vp_kpa(temp_c: float) -> float:
    """Saturation vapour pressure over water [kPa] at ``temp_c`` [°C] (Tetens/FAO-56)."""
    return 0.6108 * math.exp(17.27 * temp_c / (temp_c + 237.3))
