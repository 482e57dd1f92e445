"""Retention and downsampling, the rules every backend shares (pure: no I/O).

What is kept: raw readings for ``Retention.raw_days`` (whole UTC days); hourly and daily
aggregates per (device, quantity, site) -- sum, count, min, max -- for ``rollup_days`` (None:
forever). Hours and days are epoch-aligned (UTC), as the store's query windows are; a CST day
is exactly 24 hourly rollups (the offset is whole hours), so analytics derive CST days from
hourly windows exactly as they do from raw data.

The rollup rule (``maintain(now_ms)``, idempotent):

* *closed hours*: every hour ending at least ``ROLLUP_GRACE_MS`` before ``now_ms`` is
  aggregated once from raw, from the watermark ``rolled_until_ms`` onwards, in chunks;
  complete days are then summed from their hours (sum of sums, sum of counts, min of mins,
  max of maxes: exact, never a mean of means).
* *late data*: ``write()`` marks (device, hour) for each reading of an hour that had already
  closed by the writer's clock (``late_marks``: only for batches holding such readings, with
  C-level set operations, no per-reading Python; one mark per device and hour, not per
  quantity, keeps a backlog's marks few); ``maintain`` recomputes every quantity of those
  device-hours below the watermark from raw, and their days. The grace covers clock skew between
  the writer and the maintainer up to ``ROLLUP_GRACE_MS``.
* *retention*: raw readings before ``raw_horizon_ms`` are deleted once they are rolled up; a
  late reading older than the horizon is dropped with them (ingest refuses readings older
  than ``max_age_days`` anyway).

Queries: ``plan`` splits an aggregated ``RangeQuery`` whose window is a whole number of hours
into segments answered from daily rollups, hourly rollups and raw readings; every source
yields partial aggregates ``(device, window, sum, count, min, max)`` that ``reduce`` merges,
so a mean is ``sum / count`` over everything in the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import repeat
from operator import floordiv, itemgetter
from typing import Final

from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from storage.telemetry import Aggregation, RangeQuery, Reading, SeriesPoint, StoreRejected

__all__ = [
    "DEFAULT_RAW_RETENTION_DAYS",
    "NO_HORIZON_MS",
    "ROLLUPS_NEED_V1",
    "ROLLUP_GRACE_MS",
    "Maintenance",
    "Partial",
    "Retention",
    "RollupsUnsupported",
    "Source",
    "adaptive_chunks",
    "ceil_to",
    "floor_to",
    "late_marks",
    "plan",
    "reduce",
    "rollups_may_answer",
]

DEFAULT_RAW_RETENTION_DAYS: Final = 400
"""A full season and its successor [days]."""
ROLLUP_GRACE_MS: Final = 5 * MINUTE_MS
"""An hour is rolled up once it has been closed this long [ms] (bounds the clock skew
between writers and the maintainer that late-data marking tolerates)."""
NO_HORIZON_MS: Final = -(2**62)
"""The raw horizon before any deletion: everything is kept [UTC ms]."""

ROLLUPS_NEED_V1: Final = (
    "influxdb2:// stores have no rollups and no raw retention: farmtel builds them with InfluxQL "
    "SELECT INTO, DELETE and retention policies, which InfluxDB 2's v1-compatibility /query "
    "refuses. Use InfluxDB 1.x (influxdb://user:password@host:8086/db) for rollups, or set the "
    "bucket's retention yourself (long ranges are then read from raw data)")


class RollupsUnsupported(StoreRejected):
    """The store cannot keep rollups or a raw retention (``maintain()`` of an ``influxdb2://``
    store; ops13, issue 13: a refusal rather than a silent no-op)."""


Partial = tuple[str, int, float, int, float, float]
"""A partial aggregate: (device_id, window start [UTC ms], sum, count, min, max)."""

_TS_MS = itemgetter(3)  # Reading.ts_ms
_DEVICE_ID = itemgetter(0)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each resolution is kept [days]; ``rollup_days`` None keeps rollups forever."""

    raw_days: int = DEFAULT_RAW_RETENTION_DAYS
    rollup_days: int | None = None

    def __post_init__(self) -> None:
        if self.raw_days < 1 or (self.rollup_days is not None and self.rollup_days < 1):
            raise ValueError("retention periods are at least one day")

    def raw_horizon_ms(self, now_ms: int) -> int:
        """Raw readings before this instant (a UTC midnight) are deleted [UTC ms]."""
        return floor_to(now_ms - self.raw_days * DAY_MS, DAY_MS)

    def rollup_horizon_ms(self, now_ms: int) -> int:
        """Rollups before this instant are deleted (``NO_HORIZON_MS`` when kept forever)."""
        if self.rollup_days is None:
            return NO_HORIZON_MS
        return floor_to(now_ms - self.rollup_days * DAY_MS, DAY_MS)


@dataclass(frozen=True, slots=True)
class Maintenance:
    """What one ``maintain()`` did."""

    rolled_until_ms: int
    """Every hour before this instant is rolled up [UTC ms]."""
    raw_from_ms: int
    """Raw readings before this instant are gone [UTC ms]."""
    hours_rolled_up: int
    """Newly closed hours aggregated (each for every series)."""
    late_hours: int
    """(device, quantity, hour) rollups recomputed for late data."""


class Source(Enum):
    """Where a segment of an aggregated query is read from."""

    RAW = "raw"
    HOUR = "1h"
    DAY = "1d"


def floor_to(ms: int, unit_ms: int) -> int:
    """``ms`` rounded down to a multiple of ``unit_ms`` (also before 1970) [ms]."""
    return ms - ms % unit_ms


def ceil_to(ms: int, unit_ms: int) -> int:
    """``ms`` rounded up to a multiple of ``unit_ms`` [ms]."""
    return -floor_to(-ms, unit_ms)


def late_marks(readings: Sequence[Reading], now_ms: int) -> set[tuple[str, int]]:
    """(device_id, hour start [UTC ms]) of a batch holding a reading of an hour that closed
    before ``now_ms``; empty otherwise. One C-level ``min`` per batch on the live path; a late
    batch marks every device-hour it touches (marks of open hours are harmless)."""
    if not readings or min(map(_TS_MS, readings)) >= floor_to(now_ms, HOUR_MS):
        return set()
    hours = map(floordiv, map(_TS_MS, readings), repeat(HOUR_MS))
    return {(d, h * HOUR_MS) for d, h in set(zip(map(_DEVICE_ID, readings), hours, strict=True))}


def rollups_may_answer(q: RangeQuery) -> bool:
    """Whether rollups can answer part of ``q``: an aggregation over windows of whole hours
    (checked before a store looks up its watermark)."""
    return q.agg is not None and q.every_s is not None and (q.every_s * SECOND_MS) % HOUR_MS == 0


def plan(q: RangeQuery, rolled_until_ms: int) -> list[tuple[Source, int, int]] | None:
    """The segments ``(source, start, end)`` covering ``[q.start_ms, q.end_ms)``, or None when
    rollups cannot help: a raw query, a window that is not a whole number of hours, or no
    whole rolled-up hour in the range. Whole rolled-up days (for windows of whole days) come
    from daily rollups, other whole rolled-up hours from hourly ones, the rest from raw."""
    if not rollups_may_answer(q) or q.every_s is None:
        return None
    h0 = ceil_to(q.start_ms, HOUR_MS)
    h1 = min(floor_to(q.end_ms, HOUR_MS), rolled_until_ms)
    if h1 <= h0:
        return None
    rolled: list[tuple[Source, int, int]] = [(Source.HOUR, h0, h1)]
    if (q.every_s * SECOND_MS) % DAY_MS == 0:
        d0, d1 = ceil_to(h0, DAY_MS), floor_to(h1, DAY_MS)
        if d1 > d0:
            rolled = [(Source.HOUR, h0, d0), (Source.DAY, d0, d1), (Source.HOUR, d1, h1)]
    segments = [(Source.RAW, q.start_ms, h0), *rolled, (Source.RAW, h1, q.end_ms)]
    return [(source, a, b) for source, a, b in segments if b > a]


def reduce(partials: Iterable[Partial], q: RangeQuery) -> list[SeriesPoint]:
    """Merge partial aggregates per (device, window) and apply ``q``'s aggregation: oldest
    window first, then by device, at most ``q.limit`` points."""
    merged: dict[tuple[str, int], list[float]] = {}
    for device, win, total, count, low, high in partials:
        if not count:
            continue
        acc = merged.get((device, win))
        if acc is None:
            merged[device, win] = [total, count, low, high]
        else:
            acc[0] += total
            acc[1] += count
            acc[2] = min(acc[2], low)
            acc[3] = max(acc[3], high)
    if q.agg is None:
        raise ValueError("reduce needs an aggregated query")
    value = _VALUE[Aggregation(q.agg)]
    keys = sorted(merged, key=lambda k: (k[1], k[0]))[: max(q.limit, 0)]
    return [SeriesPoint(d, q.quantity, win, float(value(merged[d, win]))) for d, win in keys]


_VALUE: Final[dict[Aggregation, Callable[[list[float]], float]]] = {
    Aggregation.MEAN: lambda a: a[0] / a[1],
    Aggregation.MIN: itemgetter(2),
    Aggregation.MAX: itemgetter(3),
    Aggregation.SUM: itemgetter(0),
    Aggregation.COUNT: itemgetter(1),
}


def adaptive_chunks(start_ms: int, end_ms: int, *, first_ms: int = DAY_MS,
                    target_s: float = 0.25) -> Iterator[tuple[int, int]]:
    """Consecutive hour-aligned ``[a, b)`` covering ``[start_ms, end_ms)`` (hour-aligned),
    sized so that the caller's work per chunk (measured between yields) stays near
    ``target_s`` [s]: a catch-up over years takes few chunks, a busy hour stays one chunk,
    and a writer never waits long on one."""
    size, a = first_ms, start_ms
    while a < end_ms:
        b = min(a + size, end_ms)
        started = time.monotonic()
        yield a, b
        elapsed = time.monotonic() - started
        a = b
        if elapsed < target_s / 2:
            size = min(size * 2, 256 * DAY_MS)
        elif elapsed > target_s * 2:
            size = max(floor_to(size // 2, HOUR_MS), HOUR_MS)
