"""Fakes of farmtel's own protocols (never of paho or the databases)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from storage.clock import DAY_MS, HOUR_MS, SECOND_MS, now_ms
from storage.naming import check_id, check_quantity, storable_quantity
from storage.rollups import (
    NO_HORIZON_MS,
    ROLLUP_GRACE_MS,
    Maintenance,
    Partial,
    Retention,
    Source,
    floor_to,
    late_marks,
    plan,
    reduce,
)
from storage.telemetry import (
    Aggregation,
    ClosedOnExit,
    RangeQuery,
    Reading,
    SeriesPoint,
    StoreRejected,
    StoreUnavailable,
    WriteResult,
    finite_value,
    first_wins,
)

_AGGREGATE: dict[Aggregation, Callable[[list[float]], float]] = {
    Aggregation.MEAN: lambda vs: sum(vs) / len(vs),
    Aggregation.MIN: min,
    Aggregation.MAX: max,
    Aggregation.SUM: sum,
    Aggregation.COUNT: lambda vs: float(len(vs)),
}


class MemoryStore(ClosedOnExit):
    """A ``TelemetryStore`` in a dict, with switches to simulate an outage or a refusal.

    It keeps the whole contract (``tests/integration/test_store_contract.py`` runs it next to
    SQLite and InfluxDB): the naming rules, whole-batch refusal of unstorable readings, first
    write wins per ``(device_id, quantity, ts_ms)``, epoch-aligned windows, limits and orders.

    Switches: ``available = False`` makes every call raise ``StoreUnavailable`` (as a server
    that is gone); ``reject_quantity`` makes a batch holding that quantity raise
    ``StoreRejected``. ``rows`` holds what is stored, ``writes`` counts the batches stored.
    Rollups (``storage.rollups``' rules): ``rollups[Source.HOUR]`` and ``rollups[Source.DAY]``
    map (device, quantity, window start, site) to [sum, count, min, max].
    """

    def __init__(self, retention: Retention | None = None) -> None:
        self.rows: dict[tuple[str, str, int], Reading] = {}
        self.retention = retention or Retention()
        self.rollups: dict[Source, dict[tuple[str, str, int, str], list[float]]] = {
            Source.HOUR: {}, Source.DAY: {}}
        self.late: set[tuple[str, int]] = set()
        self.rolled_until: int | None = None
        self.raw_from = NO_HORIZON_MS
        self.available = True
        self.reject_quantity: str | None = None
        self.writes = 0
        self.closed = False

    def ping(self) -> None:
        """Raises ``StoreUnavailable`` when switched off or closed."""
        self._check_available()

    def _check_available(self) -> None:
        if self.closed:
            raise StoreUnavailable("store is closed")
        if not self.available:
            raise StoreUnavailable("switched off")

    # -- writes --

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Store a batch whole or not at all, under the store rule (``first_wins``)."""
        self._check_available()
        if self.reject_quantity and any(r.quantity == self.reject_quantity for r in readings):
            raise StoreRejected(f"{self.reject_quantity} refused")
        for quantity in {r.quantity for r in readings}:
            storable_quantity(quantity)
        values = [r._replace(value=finite_value(r)) for r in readings]  # as a float
        self.writes += 1
        new, result = first_wins(values, lambda key: r.value if (r := self.rows.get(key)) else None)
        for r in new:
            self.rows[r.device_id, r.quantity, r.ts_ms] = r
        self.late |= late_marks(values, now_ms())
        return result

    def maintain(self, now_ms: int) -> Maintenance:
        """Late hours, newly closed hours and their days, then retention."""
        self._check_available()
        closed = floor_to(now_ms - ROLLUP_GRACE_MS, HOUR_MS)
        if self.rolled_until is None:
            first = min((r.ts_ms for r in self.rows.values()), default=None)
            self.rolled_until = closed if first is None else min(floor_to(first, HOUR_MS), closed)
        until = self.rolled_until
        late = sorted((d, h) for d, h in self.late if self.raw_from <= h < until)
        self.late.clear()
        for d, h in late:
            self._roll(Source.HOUR, h, h + HOUR_MS, {d})
        for d, day in {(d, floor_to(h, DAY_MS)) for d, h in late}:
            if day + DAY_MS <= until:
                self._roll(Source.DAY, day, day + DAY_MS, {d})
        if closed > until:
            self._roll(Source.HOUR, until, closed, None)
            self._roll(Source.DAY, floor_to(until, DAY_MS), floor_to(closed, DAY_MS), None)
            self.rolled_until = closed
        horizon = min(self.retention.raw_horizon_ms(now_ms), floor_to(self.rolled_until, DAY_MS))
        if horizon > self.raw_from:
            self.rows = {k: r for k, r in self.rows.items() if r.ts_ms >= horizon}
            self.raw_from = horizon
        rollup_horizon = self.retention.rollup_horizon_ms(now_ms)
        for table in self.rollups.values():
            for key in [k for k in table if k[2] < rollup_horizon]:
                del table[key]
        return Maintenance(self.rolled_until, self.raw_from, max(closed - until, 0) // HOUR_MS,
                           len(late))

    def _roll(self, target: Source, start: int, end: int, devices: set[str] | None) -> None:
        """Replace ``target``'s rollups in ``[start, end)`` (of ``devices``, or all) by the
        aggregates of the finer level: raw for hours, hours for days."""
        width = HOUR_MS if target is Source.HOUR else DAY_MS
        table = self.rollups[target]
        for key in [k for k in table if start <= k[2] < end
                    and (devices is None or k[0] in devices)]:
            del table[key]
        if target is Source.HOUR:
            parts = [(r.device_id, r.quantity, r.ts_ms, r.site_id, r.value, 1.0, r.value, r.value)
                     for r in self.rows.values()]
        else:
            parts = [(d, q, ts, site, v[0], v[1], v[2], v[3])
                     for (d, q, ts, site), v in self.rollups[Source.HOUR].items()]
        for d, q, ts, site, total, count, low, high in parts:
            if start <= ts < end and (devices is None or d in devices):
                key = (d, q, floor_to(ts, width), site)
                acc = table.setdefault(key, [0.0, 0, low, high])
                acc[0] += total
                acc[1] += count
                acc[2], acc[3] = min(acc[2], low), max(acc[3], high)

    # -- reads --

    def latest(
        self, device_ids: Sequence[str] | None = None, quantity: str | None = None
    ) -> list[Reading]:
        """The newest reading per (device, quantity), ordered by device then quantity."""
        self._check_available()
        wanted = self._wanted(device_ids)
        if quantity is not None:
            check_quantity(quantity)
        newest: dict[tuple[str, str], Reading] = {}
        for r in self._select(quantity, wanted):
            key = (r.device_id, r.quantity)
            if key not in newest or r.ts_ms > newest[key].ts_ms:
                newest[key] = r
        return [newest[key] for key in sorted(newest)]

    def query(self, q: RangeQuery) -> list[SeriesPoint]:
        """Raw or window-aggregated points in ``[start_ms, end_ms)``, oldest first, then by
        device; at most ``limit`` of them."""
        self._check_available()
        check_quantity(q.quantity)
        if q.device_id is not None:
            check_id(q.device_id)
            rows = [r for r in self._in_range(q.quantity, q.start_ms, q.end_ms, None)
                    if r.device_id == q.device_id]
        else:
            site_id = check_id(q.site_id or "")
            rows = [r for r in self._in_range(q.quantity, q.start_ms, q.end_ms, None)
                    if r.site_id == site_id]
        limit = max(q.limit, 0)
        segments = None if self.rolled_until is None else plan(q, self.rolled_until)
        if segments is not None:
            return reduce(self._partials(segments, q, rows), q)
        if q.agg is None or q.every_s is None:
            rows.sort(key=lambda r: (r.ts_ms, r.device_id))
            return [SeriesPoint(r.device_id, r.quantity, r.ts_ms, r.value) for r in rows[:limit]]
        aggregate = _AGGREGATE[Aggregation(q.agg)]
        windows = _windows(rows, q.every_s)
        keys = sorted(windows, key=lambda k: (k[1], k[0]))[:limit]
        return [SeriesPoint(d, q.quantity, win, float(aggregate(windows[d, win])))
                for d, win in keys]

    def _partials(self, segments: list[tuple[Source, int, int]], q: RangeQuery,
                  rows: list[Reading]) -> list[Partial]:
        """Partial aggregates per device and window of each segment (``rows``: the raw
        readings of the query's device or site in its range)."""
        width = (q.every_s or 0) * SECOND_MS
        out: list[Partial] = []
        for source, start, end in segments:
            if source is Source.RAW:
                out += [(r.device_id, floor_to(r.ts_ms, width), r.value, 1, r.value, r.value)
                        for r in rows if start <= r.ts_ms < end]
                continue
            out += [(d, floor_to(ts, width), total, int(count), low, high)
                    for (d, quantity, ts, site), (total, count, low, high)
                    in self.rollups[source].items()
                    if quantity == q.quantity and start <= ts < end
                    and (d == q.device_id if q.device_id is not None else site == q.site_id)]
        return out

    def count_devices_since(self, since_ms: int) -> int:
        """How many distinct devices have a reading at or after ``since_ms``."""
        self._check_available()
        return len({r.device_id for r in self.rows.values() if r.ts_ms >= since_ms})

    def window_counts(
        self, quantity: str, start_ms: int, end_ms: int, *, every_s: int,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int]]:
        """Readings per device and epoch-aligned window of ``every_s`` [s], ordered by device
        then window."""
        self._check_available()
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        windows = _windows(self._in_range(quantity, start_ms, end_ms, device_ids), every_s)
        return [(d, win, len(windows[d, win])) for d, win in sorted(windows)]

    def raw_series(
        self, quantity: str, start_ms: int, end_ms: int, *,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, float]]:
        """Every reading in ``[start_ms, end_ms)`` as (device, ts_ms, value), ordered by device
        then time."""
        self._check_available()
        return sorted((r.device_id, r.ts_ms, r.value)
                      for r in self._in_range(quantity, start_ms, end_ms, device_ids))

    def close(self) -> None:
        """Later calls raise ``StoreUnavailable``; ``rows`` stays readable."""
        self.closed = True

    # -- selection --

    @staticmethod
    def _wanted(device_ids: Sequence[str] | None) -> set[str] | None:
        return None if device_ids is None else {check_id(d) for d in device_ids}

    def _select(self, quantity: str | None, wanted: set[str] | None) -> Iterable[Reading]:
        return (r for r in self.rows.values()
                if (quantity is None or r.quantity == quantity)
                and (wanted is None or r.device_id in wanted))

    def _in_range(self, quantity: str, start_ms: int, end_ms: int,
                  device_ids: Sequence[str] | None) -> list[Reading]:
        """The readings of ``quantity`` in ``[start_ms, end_ms)`` (names validated first)."""
        wanted = self._wanted(device_ids)
        check_quantity(quantity)
        return [r for r in self._select(quantity, wanted) if start_ms <= r.ts_ms < end_ms]


def _windows(rows: Iterable[Reading], every_s: int) -> dict[tuple[str, int], list[float]]:
    """Values per (device, start of the epoch-aligned window of ``every_s`` [s])."""
    width_ms = every_s * SECOND_MS
    windows: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        windows[r.device_id, r.ts_ms - r.ts_ms % width_ms].append(r.value)
    return windows
