"""Report completeness of one device over a period, from per-window report counts (pure).

The period is cut into epoch-aligned windows of ``k`` report intervals (``WindowGrid``); the
store gives the number of reports per window (COUNT aggregation). For a device:

* expected = k × (windows wholly inside its life in the period: after it was provisioned,
  before it was revoked, before "now") + the intervals that fit into the windows its life
  covers only in part,
* received = Σ min(count, k) over those windows (a window never counts more than it expects,
  so over-reporting or resends cannot make up for silence elsewhere),
* completeness = received / expected [%],
* longest gap = the longest run of windows without any report × window length [s]; its
  resolution is the window length (exact when k = 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Windows divide 8 h so that UTC and CST (UTC+8) midnights are window boundaries.
_ALIGN_MS = 8 * 3_600_000
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class WindowGrid:
    """Epoch-aligned windows of ``k`` report intervals covering a period [ms].

    The first and last windows may stick out of the period (a period need not start or end
    on a window boundary); the part of such a window inside the period expects the intervals
    that fit into it, and counts reports of the whole window up to that many. Calendar months,
    days and hours are always window boundaries.
    """

    interval_ms: int
    k: int
    first_ms: int
    n_windows: int

    @property
    def window_ms(self) -> int:
        """Window length [ms]."""
        return self.interval_ms * self.k

    @property
    def end_ms(self) -> int:
        """End of the last window [ms]."""
        return self.first_ms + self.n_windows * self.window_ms

    def index_range(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Indices ``[i0, i1)`` of the windows lying wholly inside ``[start_ms, end_ms)``."""
        w = self.window_ms
        i0 = -((self.first_ms - start_ms) // w)  # ceil((start - first) / w)
        i1 = (end_ms - self.first_ms) // w
        i0 = min(max(i0, 0), self.n_windows)
        i1 = min(max(i1, i0), self.n_windows)
        return i0, i1


def _intervals_per_window(interval_ms: int, n_intervals: int, max_windows: int) -> int:
    """Smallest k with at most ``max_windows`` windows, the window dividing 8 h or whole days."""
    need = max(1, -(-n_intervals // max_windows))
    if _ALIGN_MS % interval_ms == 0:
        per_align = _ALIGN_MS // interval_ms
        for k in range(need, per_align + 1):
            if per_align % k == 0:
                return k
    if _DAY_MS % interval_ms == 0:
        per_day = _DAY_MS // interval_ms
        return per_day * -(-need // per_day)
    return need


def window_grid(*, interval_s: int, start_ms: int, end_ms: int, max_windows: int) -> WindowGrid:
    """The windows a device reporting every ``interval_s`` [s] is counted on over a period
    (from the window containing ``start_ms`` to the one containing ``end_ms`` - 1)."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    interval_ms = interval_s * 1000
    k = _intervals_per_window(interval_ms, max(0, end_ms - start_ms) // interval_ms, max_windows)
    w = interval_ms * k
    first = start_ms // w * w
    last = -(-end_ms // w) * w
    return WindowGrid(interval_ms, k, first, max(0, (last - first) // w))


@dataclass(frozen=True, slots=True)
class DeviceCompleteness:
    """How completely a device reported in a period."""

    device_id: str
    expected: int
    """Reports expected [count]."""
    received: int
    """Reports received, at most ``k`` per window [count]."""
    longest_gap_s: int
    """Longest run of windows without a report [s]."""
    gap_resolution_s: int
    """Window length, the resolution of ``longest_gap_s`` [s]."""
    active: bool
    """Completeness reached the threshold."""

    @property
    def completeness_pct(self) -> float | None:
        """received / expected [%]; None when nothing was expected."""
        return None if self.expected == 0 else 100.0 * self.received / self.expected


def _edge_windows(grid: WindowGrid, i0: int, i1: int, life_start_ms: int,
                  life_end_ms: int) -> dict[int, int]:
    """Windows the device's life covers only in part (installed or revoked mid-window), with
    the report intervals that fit into the covered part [count]."""
    edges: dict[int, int] = {}
    w = grid.window_ms
    for j in {i0 - 1, i1}:
        if not 0 <= j < grid.n_windows or i0 <= j < i1:
            continue
        start = grid.first_ms + j * w
        covered = min(start + w, life_end_ms) - max(start, life_start_ms)
        if covered > 0 and covered // grid.interval_ms > 0:
            edges[j] = covered // grid.interval_ms
    return edges


def device_completeness(
    *,
    device_id: str,
    grid: WindowGrid,
    counts: Mapping[int, float],
    life_start_ms: int,
    life_end_ms: int,
    threshold_pct: float,
) -> DeviceCompleteness:
    """Completeness of one device from ``counts`` (window start [ms] → reports in it).

    ``[life_start_ms, life_end_ms)`` is the part of the period the device was expected to
    report in (provisioned, not revoked, not in the future). A window the life covers only in
    part expects the report intervals that fit into that part (a device installed 10 minutes
    before the end of an hourly window expects 2 reports at 300 s); gaps are measured on
    whole windows only.
    """
    i0, i1 = grid.index_range(life_start_ms, life_end_ms)
    edges = _edge_windows(grid, i0, i1, life_start_ms, life_end_ms)
    w = grid.window_ms
    received = 0
    longest = 0
    previous = i0 - 1  # index of the last window with a report
    for ts in sorted(counts):
        i, rem = divmod(ts - grid.first_ms, w)
        if rem or counts[ts] <= 0:
            continue
        if i in edges:
            received += min(int(counts[ts]), edges[i])
            continue
        if not i0 <= i < i1:
            continue
        received += min(int(counts[ts]), grid.k)
        longest = max(longest, i - previous - 1)
        previous = i
    longest = max(longest, i1 - previous - 1) if i1 > i0 else 0
    expected = (i1 - i0) * grid.k + sum(edges.values())
    pct = None if expected == 0 else 100.0 * received / expected
    return DeviceCompleteness(
        device_id=device_id,
        expected=expected,
        received=received,
        longest_gap_s=longest * w // 1000,
        gap_resolution_s=w // 1000,
        active=pct is not None and pct >= threshold_pct,
    )
