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

:func:`grid_completeness` does it for many devices at once with numpy (checked on random
cases against a plain per-window loop in the tests); :func:`device_completeness` is its row of
one device; :class:`DeviceTable` keeps the results as arrays behind a mapping of
:class:`DeviceCompleteness`.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from storage.clock import CST_OFFSET_MS, DAY_MS

# Windows divide 8 h so that UTC and CST (UTC+8) midnights are window boundaries.
_ALIGN_MS = CST_OFFSET_MS


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
    if DAY_MS % interval_ms == 0:
        per_day = DAY_MS // interval_ms
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


def device_completeness(
    *,
    device_id: str,
    grid: WindowGrid,
    counts: Mapping[int, float],
    life_start_ms: int,
    life_end_ms: int,
    threshold_pct: float,
) -> DeviceCompleteness:
    """Completeness of one device from ``counts`` (window start [ms] → reports in it): the
    row of one device of :func:`grid_completeness` (counts off the grid's windows are ignored).

    ``[life_start_ms, life_end_ms)`` is the part of the period the device was expected to
    report in (provisioned, not revoked, not in the future). A window the life covers only in
    part expects the report intervals that fit into that part (a device installed 10 minutes
    before the end of an hourly window expects 2 reports at 300 s); gaps are measured on
    whole windows only.
    """
    row = np.zeros((1, grid.n_windows), np.int64)
    for ts, n in counts.items():
        i, rem = divmod(ts - grid.first_ms, grid.window_ms)
        if not rem and 0 <= i < grid.n_windows and n > 0:
            row[0, i] = int(n)
    res = grid_completeness(grid=grid, counts=row, life_start_ms=np.array([life_start_ms]),
                            life_end_ms=np.array([life_end_ms]), threshold_pct=threshold_pct)
    w = grid.window_ms
    return DeviceCompleteness(
        device_id=device_id,
        expected=int(res.expected[0]),
        received=int(res.received[0]),
        longest_gap_s=int(res.longest_gap_windows[0]) * w // 1000,
        gap_resolution_s=w // 1000,
        active=bool(res.active[0]),
    )


IntArray = NDArray[np.int64]
_CHUNK_ROWS = 8_192  # devices per vectorised block (bounds the temporaries)
_EDGE_COLUMNS = 2  # windows at either end of the grid handled column by column


@dataclass(frozen=True, slots=True)
class GridCompleteness:
    """:func:`device_completeness` of many devices on one grid, as arrays (one per device)."""

    expected: IntArray
    """Reports expected [count]."""
    received: IntArray
    """Reports received, at most ``k`` per window [count]."""
    longest_gap_windows: IntArray
    """Longest run of windows without a report [windows]."""
    active: NDArray[np.bool_]


def grid_completeness(*, grid: WindowGrid, counts: NDArray[Any], life_start_ms: IntArray,
                      life_end_ms: IntArray, threshold_pct: float) -> GridCompleteness:
    """:func:`device_completeness` for every row of ``counts`` at once (the same arithmetic,
    vectorised with numpy): ``counts`` holds the reports per device and window of ``grid``
    [n, grid.n_windows] (non-negative integers), the life arrays the part of the period each
    device was expected to report in [UTC ms]."""
    n, nw = counts.shape
    if nw != grid.n_windows or life_start_ms.shape != (n,) or life_end_ms.shape != (n,):
        raise ValueError("counts must be [devices, grid windows] with one life per device")
    w, k = grid.window_ms, grid.k
    expected = np.zeros(n, np.int64)
    received = np.zeros(n, np.int64)
    longest = np.zeros(n, np.int64)
    win = np.arange(nw)
    for r0 in range(0, n, _CHUNK_ROWS):
        rows = slice(r0, min(r0 + _CHUNK_ROWS, n))
        c = counts[rows]
        if k > np.iinfo(c.dtype).max:  # np.minimum(c, k) must not overflow c's type
            c = c.astype(np.int64)
        start, end = life_start_ms[rows], life_end_ms[rows]
        i0 = np.clip(-((grid.first_ms - start) // w), 0, nw)  # index_range, row by row
        i1 = np.minimum(np.maximum((end - grid.first_ms) // w, i0), nw)
        capped = np.minimum(c, k)
        rec = capped.sum(axis=1, dtype=np.int64)
        empty = c == 0
        # windows outside [i0, i1) do not count: a few at either end for most devices (a period
        # off the window boundaries), anywhere for devices installed or revoked in the period
        near = (i0 <= _EDGE_COLUMNS) & (i1 >= nw - _EDGE_COLUMNS)
        for col in {*range(min(_EDGE_COLUMNS, nw)), *range(max(nw - _EDGE_COLUMNS, 0), nw)}:
            outside = near & ((col < i0) | (col >= i1))
            rec -= np.where(outside, capped[:, col], 0)
            empty[:, col] &= ~outside
        far = np.flatnonzero(~near)
        if far.size:
            inside = (win >= i0[far, None]) & (win < i1[far, None])
            rec[far] = np.where(inside, capped[far], 0).sum(axis=1, dtype=np.int64)
            empty[far] &= inside
        exp = (i1 - i0) * k
        ix = np.arange(c.shape[0])
        for j in (i0 - 1, i1):  # windows the life covers only in part (_edge_windows)
            ws = grid.first_ms + j * w
            covered = np.minimum(ws + w, end) - np.maximum(ws, start)
            fits = np.where(covered > 0, covered // grid.interval_ms, 0)
            edge = (j >= 0) & (j < nw) & ~((j >= i0) & (j < i1)) & (fits > 0)
            got = c[ix, np.clip(j, 0, max(nw - 1, 0))] if nw else np.zeros_like(j)
            rec += np.where(edge, np.minimum(got, fits), 0)
            exp += np.where(edge, fits, 0)
        expected[rows], received[rows] = exp, rec
        longest[rows] = longest_true_runs(empty)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * received / expected
    active = (expected > 0) & (pct >= threshold_pct)
    return GridCompleteness(expected, received, longest, active)


def longest_true_runs(mask: NDArray[np.bool_]) -> IntArray:
    """Length of the longest run of True in each row of ``mask`` [n, m] (0 for none)."""
    out = np.zeros(mask.shape[0], np.int64)
    flat = np.flatnonzero(mask)
    if flat.size == 0:
        return out
    row = flat // mask.shape[1]
    new = np.empty(flat.size, bool)
    new[0] = True
    new[1:] = (flat[1:] != flat[:-1] + 1) | (row[1:] != row[:-1])
    lengths = np.diff(np.r_[np.flatnonzero(new), flat.size])
    rows, first = np.unique(row[new], return_index=True)
    out[rows] = np.maximum.reduceat(lengths, first)
    return out


class DeviceTable(Mapping[str, DeviceCompleteness]):
    """Completeness of many devices kept as arrays, one row per device: a
    :class:`DeviceCompleteness` is made when a device is looked up (or iterated over), so the
    fleet-wide figures (active devices, site totals) are computed on the arrays without
    200,000 objects."""

    def __init__(self, device_ids: Sequence[str], *, expected: IntArray, received: IntArray,
                 longest_gap_s: IntArray, gap_resolution_s: IntArray,
                 active: NDArray[np.bool_]) -> None:
        n = len(device_ids)
        if not all(a.shape == (n,) for a in (expected, received, longest_gap_s, gap_resolution_s,
                                             active)):
            raise ValueError("one value per device in every column")
        self.device_ids = list(device_ids)
        self.expected, self.received = expected, received
        self.longest_gap_s, self.gap_resolution_s, self.active = longest_gap_s, gap_resolution_s, active
        self._pos: dict[str, int] | None = None
        self._lists: tuple[list[Any], ...] | None = None

    @classmethod
    def concat(cls, parts: Sequence[DeviceTable]) -> DeviceTable:
        """The rows of ``parts`` in order."""
        def col(name: str, dtype: type) -> NDArray[Any]:
            return np.concatenate([getattr(p, name) for p in parts]) if parts else np.zeros(0, dtype)

        return cls([d for p in parts for d in p.device_ids], expected=col("expected", np.int64),
                   received=col("received", np.int64), longest_gap_s=col("longest_gap_s", np.int64),
                   gap_resolution_s=col("gap_resolution_s", np.int64), active=col("active", bool))

    def row(self, i: int) -> DeviceCompleteness:
        """The ``i``-th device's completeness."""
        if self._lists is None:
            self._lists = (self.expected.tolist(), self.received.tolist(),
                           self.longest_gap_s.tolist(), self.gap_resolution_s.tolist(),
                           self.active.tolist())
        e, r, g, res, a = self._lists
        return DeviceCompleteness(self.device_ids[i], e[i], r[i], g[i], res[i], a[i])

    def _index(self) -> dict[str, int]:
        if self._pos is None:
            self._pos = {d: i for i, d in enumerate(self.device_ids)}
        return self._pos

    def __getitem__(self, device_id: str) -> DeviceCompleteness:
        return self.row(self._index()[device_id])

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._index()

    def __iter__(self) -> Iterator[str]:
        return iter(self.device_ids)

    def __len__(self) -> int:
        return len(self.device_ids)

    def items(self) -> ItemsView[str, DeviceCompleteness]:
        return _TableItems(self)

    def values(self) -> ValuesView[DeviceCompleteness]:
        return _TableValues(self)

    def active_ids(self) -> set[str]:
        """Ids of the active devices."""
        ids = self.device_ids
        return {ids[i] for i in np.flatnonzero(self.active).tolist()}


class _TableItems(ItemsView[str, DeviceCompleteness]):
    _mapping: DeviceTable

    def __iter__(self) -> Iterator[tuple[str, DeviceCompleteness]]:
        t = self._mapping
        for i, d in enumerate(t.device_ids):
            yield d, t.row(i)


class _TableValues(ValuesView[DeviceCompleteness]):
    _mapping: DeviceTable

    def __iter__(self) -> Iterator[DeviceCompleteness]:
        t = self._mapping
        for i in range(len(t)):
            yield t.row(i)


def active_device_ids(devices: Mapping[str, DeviceCompleteness]) -> set[str]:
    """Ids of the active devices of a fleet's results."""
    if isinstance(devices, DeviceTable):
        return devices.active_ids()
    return {k for k, v in devices.items() if v.active}
