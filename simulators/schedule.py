"""When devices report: each member reports every ``interval_ms`` at its own phase.

Both runners (the demo fleet's and the city's) step a family the same way
(:class:`ScheduledFamily`): its schedule says which members are due in a window ``(a, b]``,
then ``family.step(members, times)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from simulators.models import Family

__all__ = ["Reports", "Schedule", "ScheduledFamily"]

I64 = NDArray[np.int64]


class Schedule:
    """Report times ``t ≡ phase (mod interval_ms)`` [UTC ms] of a family's members."""

    def __init__(self, phase_ms: I64, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        self.interval_ms = interval_ms
        phase = np.asarray(phase_ms, dtype=np.int64) % interval_ms
        self._order = np.argsort(phase, kind="stable").astype(np.int64)
        self._phase_sorted = phase[self._order]

    def first_after(self, phase_ms: I64, after_ms: int) -> I64:
        """Each phase's first report time after ``after_ms`` [UTC ms]."""
        base = after_ms - after_ms % self.interval_ms
        t = base + np.asarray(phase_ms, dtype=np.int64) % self.interval_ms
        out: I64 = np.where(t <= after_ms, t + self.interval_ms, t)
        return out

    def due(self, a: int, b: int) -> tuple[I64, I64]:
        """Members whose report times fall in ``(a, b]``, with those times.

        Needs ``b - a <= interval_ms`` (a member is due at most once).
        """
        if b - a > self.interval_ms:
            raise ValueError("a window may not exceed the report interval")
        interval, phases, order = self.interval_ms, self._phase_sorted, self._order
        base_a, base_b = a - a % interval, b - b % interval
        lo = int(np.searchsorted(phases, a - base_a, side="right"))
        hi = int(np.searchsorted(phases, b - base_b, side="right"))
        if base_a == base_b:
            return order[lo:hi], base_a + phases[lo:hi]
        return (np.concatenate((order[lo:], order[:hi])),
                np.concatenate((base_a + phases[lo:], base_b + phases[:hi])))


@dataclass(frozen=True, slots=True)
class Reports:
    """The reports of some members of a family: who, when [UTC ms], sequence numbers and
    readings ``(len(idx), quantities)``."""

    idx: I64
    ts_ms: I64
    seq: I64
    values: NDArray[np.float64]


class ScheduledFamily:
    """A device family with its schedule and per-device sequence numbers (from 1): what the
    demo runner and the city simulator step, window by window."""

    def __init__(self, model: Family, schedule: Schedule) -> None:
        self.model = model
        self.schedule = schedule
        self.seq = np.zeros(model.n, dtype=np.int64)

    def step(self, a: int, b: int) -> Reports | None:
        """Advance the members due in ``(a, b]`` (:meth:`Schedule.due`); ``None`` if none."""
        idx, ts = self.schedule.due(a, b)
        if not len(idx):
            return None
        values = self.model.step(idx, ts)
        self.seq[idx] += 1
        return Reports(idx, ts, self.seq[idx], values)
