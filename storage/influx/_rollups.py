"""The InfluxDB 1.x store's rollups: retention policies, rollup measurements, late marks.

Layout: raw ``telemetry`` stays in the database's default retention policy, whose duration
farmtel sets to the raw retention (``ALTER RETENTION POLICY``, after the rollups have caught
up); the rollups live in the retention policy ``farmtel_rollups`` (``INF``, or the rollup
retention): measurements ``telemetry_1h`` and ``telemetry_1d``, the raw tags, and per
quantity ``q`` the fields ``q_sum``, ``q_count``, ``q_min``, ``q_max``; ``rollup_state`` holds
the watermark, the raw horizon and the late-mark cursor. ``telemetry_late`` (default policy)
holds the late marks: one point per (device, late hour) at the writer's clock, the hour as
the field ``hour`` (the one tag is the device: no cardinality growth).

Farmtel maintains the rollups (``SELECT ... INTO ... GROUP BY time(1h), *``), not continuous
queries: a continuous query aggregates each interval once, when it closes, so late data (a
gateway's backlog flushed a day later) would never reach the rollups; here late hours are
recomputed, and the rules are the same as the other stores' (``storage.rollups``). Raw
readings before the horizon are also deleted explicitly (``DELETE``) so they are gone when
``maintain()`` returns; the retention policy then drops whole shards by itself.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

from storage.clock import DAY_MS, HOUR_MS, SECOND_MS
from storage.influx._influxql import (
    IDS_PER_STATEMENT,
    chunks,
    device_filter,
    device_rows,
    key_filter,
    quote_ident,
    time_range,
)
from storage.influx._layout import MEASUREMENT
from storage.influx._line_protocol import escape_key
from storage.influx._transport import Transport
from storage.naming import check_quantity
from storage.rollups import (
    NO_HORIZON_MS,
    ROLLUP_GRACE_MS,
    Maintenance,
    Partial,
    Retention,
    Source,
    adaptive_chunks,
    floor_to,
)
from storage.telemetry import Aggregation, RangeQuery, StoreRejected

__all__ = ["ROLLUP_POLICY", "InfluxRollups", "late_lines"]

ROLLUP_POLICY: Final = "farmtel_rollups"
_MEASUREMENT: Final = {Source.HOUR: "telemetry_1h", Source.DAY: "telemetry_1d"}
_LATE: Final = "telemetry_late"
_STATE: Final = "rollup_state"
_STATEMENTS_PER_REQUEST: Final = 50
_WATERMARK_TTL_S: Final = 10.0
_PARTS: Final = {  # the partial aggregates each aggregation needs (count: to skip empty windows)
    Aggregation.MEAN: ("count", "sum"),
    Aggregation.SUM: ("count", "sum"),
    Aggregation.MIN: ("count", "min"),
    Aggregation.MAX: ("count", "max"),
    Aggregation.COUNT: ("count",),
}
_MERGE: Final = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}
"""How a part of several rollup rows merges."""


def late_lines(marks: Iterable[tuple[str, int]], now_ms: int) -> list[str]:
    """Line protocol of late (device, hour) marks at the writer's clock ``now_ms``; a device
    with several late hours in one batch gets them 1 ms apart (one point per hour)."""
    taken: dict[str, int] = defaultdict(int)
    lines = []
    for device, hour in sorted(marks):
        offset = taken[device]
        taken[device] += 1
        lines.append(f"{_LATE},device_id={escape_key(device)} hour={int(hour)}i {now_ms + offset}")
    return lines


class InfluxRollups:
    """Maintenance and rollup reads of one database (API v1) through ``transport``."""

    def __init__(self, transport: Transport, retention: Retention) -> None:
        self._t = transport
        self.retention = retention
        self._until: tuple[float, int] | None = None  # (monotonic time read [s], watermark)

    # -- reads --

    def rolled_until(self) -> int:
        """The watermark: every hour before it is rolled up [UTC ms] (NO_HORIZON_MS: none).

        Cached for ``_WATERMARK_TTL_S`` (it moves every 10 minutes; a stale one only reads a
        few more minutes from raw data, which is still there) and after this ``maintain()``."""
        cached = self._until
        if cached is not None and time.monotonic() - cached[0] < _WATERMARK_TTL_S:
            return cached[1]
        state = self._state()
        until = NO_HORIZON_MS if state is None else state[0]
        self._until = (time.monotonic(), until)
        return until

    def partials(self, segments: Sequence[tuple[Source, int, int]], q: RangeQuery) -> list[Partial]:
        """Partial aggregates per device and window of each segment, in one request. Only the
        parts ``q``'s aggregation needs are read (each field costs InfluxDB an iterator per
        shard); the others are 0."""
        field = check_quantity(q.quantity)
        parts = _PARTS[Aggregation(q.agg or Aggregation.COUNT)]
        statements = []
        for source, start, end in segments:
            if source is Source.RAW:
                f = quote_ident(field)
                select = ", ".join(f"{part}({f})" for part in parts)
                frm = f'"{MEASUREMENT}"'
            else:
                select = ", ".join(f'{_MERGE[part]}({quote_ident(f"{field}_{part}")})'
                                   for part in parts)
                frm = self._target(source)
            statements.append(f"SELECT {select} FROM {frm} WHERE {key_filter(q)} AND "  # noqa: S608
                              f"{time_range(start, end)} GROUP BY time({int(q.every_s or 0)}s), "
                              '"device_id" fill(none)')
        out: list[Partial] = []
        for result in self._t.query(";".join(statements)):
            for d, row in device_rows(result, complete=True):
                got = dict(zip(parts, row[1:], strict=True))
                if got["count"]:
                    out.append((d, int(row[0]), float(got.get("sum") or 0.0), int(got["count"]),
                                float(got.get("min") or 0.0), float(got.get("max") or 0.0)))
        return out

    # -- maintenance --

    def maintain(self, now_ms: int, quantities: Sequence[str]) -> Maintenance:
        """Late hours, newly closed hours and their days, then the retention policies and the
        deletion of raw readings before the horizon (see the module docstring)."""
        closed = floor_to(now_ms - ROLLUP_GRACE_MS, HOUR_MS)
        raw_policy = self._ensure_policies()
        state = self._state()
        if state is None:
            first = self._first_ts()
            until = closed if first is None else min(floor_to(first, HOUR_MS), closed)
            raw_from, marks_from = NO_HORIZON_MS, 0
        else:
            until, raw_from, marks_from = state
        late = sorted(m for m in self._marks(marks_from) if raw_from <= m[1] < until)
        if quantities and late:
            self._recompute_late(late, until, quantities)
        hours = 0
        for a, b in adaptive_chunks(until, closed):
            if quantities:
                statements = [self._aggregate(Source.HOUR, quantities, a, b, None)]
                d0, d1 = floor_to(a, DAY_MS), floor_to(b, DAY_MS)  # the days ending in (a, b]
                if d1 > d0:
                    statements.append(self._aggregate(Source.DAY, quantities, d0, d1, None))
                self._run(statements)
            self._save(now_ms, b, raw_from, marks_from)
            hours += (b - a) // HOUR_MS
        until = max(until, closed)
        marks_from = max(marks_from, now_ms - ROLLUP_GRACE_MS)
        self._set_duration(raw_policy, self.retention.raw_days)
        horizon = min(self.retention.raw_horizon_ms(now_ms), floor_to(until, DAY_MS))
        if horizon > raw_from:
            self._run([f'DELETE FROM "{MEASUREMENT}" WHERE time < {horizon}ms',  # noqa: S608
                       f'DELETE FROM "{_LATE}" WHERE time < {marks_from}ms'])  # noqa: S608
            raw_from = horizon
        self._save(now_ms, until, raw_from, marks_from)
        self._until = None
        return Maintenance(rolled_until_ms=until, raw_from_ms=raw_from, hours_rolled_up=hours,
                           late_hours=len(late))

    def _recompute_late(self, late: list[tuple[str, int]], until: int,
                        quantities: Sequence[str]) -> None:
        """Re-aggregate each late hour of the devices marked in it, then their whole days."""
        hours: dict[int, set[str]] = defaultdict(set)
        days: dict[int, set[str]] = defaultdict(set)
        for device, hour in late:
            hours[hour].add(device)
            day = floor_to(hour, DAY_MS)
            if day + DAY_MS <= until:
                days[day].add(device)
        statements = [self._aggregate(Source.HOUR, quantities, h, h + HOUR_MS, ids)
                      for h, devices in sorted(hours.items())
                      for ids in chunks(sorted(devices), IDS_PER_STATEMENT)]
        statements += [self._aggregate(Source.DAY, quantities, d, d + DAY_MS, ids)
                       for d, devices in sorted(days.items())
                       for ids in chunks(sorted(devices), IDS_PER_STATEMENT)]
        self._run(statements)

    def _aggregate(self, target: Source, quantities: Sequence[str], start: int, end: int,
                   device_ids: Sequence[str] | None) -> str:
        """``SELECT ... INTO`` the ``target`` rollup over ``[start, end)``: from raw for hours,
        from hours for days; every tag kept (``GROUP BY *``)."""
        parts = []
        for quantity in quantities:
            names = {k: quote_ident(f"{quantity}_{k}") for k in ("sum", "count", "min", "max")}
            if target is Source.HOUR:
                f = quote_ident(quantity)
                parts.append(f"sum({f}) AS {names['sum']}, count({f}) AS {names['count']}, "
                             f"min({f}) AS {names['min']}, max({f}) AS {names['max']}")
            else:
                parts.append(", ".join(f"{agg}({names[k]}) AS {names[k]}" for k, agg in
                                       (("sum", "sum"), ("count", "sum"), ("min", "min"),
                                        ("max", "max"))))
        source = f'"{MEASUREMENT}"' if target is Source.HOUR else self._target(Source.HOUR)
        where = "" if device_ids is None else device_filter(device_ids) + " AND "
        width_s = (HOUR_MS if target is Source.HOUR else DAY_MS) // SECOND_MS
        return (f"SELECT {', '.join(parts)} INTO {self._target(target)} FROM {source} WHERE "  # noqa: S608
                f"{where}{time_range(start, end)} GROUP BY time({width_s}s), * fill(none)")

    # -- retention policies and state --

    def _ensure_policies(self) -> str:
        """Create the database and the rollup policy (or set its duration); the name of the
        database's default policy (where raw readings go)."""
        self._t.create_database()
        policies = self._policies()
        if ROLLUP_POLICY not in policies:
            days = self.retention.rollup_days
            self._run([f"CREATE RETENTION POLICY {quote_ident(ROLLUP_POLICY)} ON "
                       f"{quote_ident(self._t.database)} DURATION {_duration(days)} REPLICATION 1 "
                       f"SHARD DURATION {_shard_duration(days)}"])
        else:
            self._set_duration(ROLLUP_POLICY, self.retention.rollup_days, policies)
        return next(name for name, (_, default) in policies.items() if default)

    def _set_duration(self, policy: str, days: int | None,
                      policies: dict[str, tuple[str, bool]] | None = None) -> None:
        """``ALTER RETENTION POLICY`` when its duration differs from ``days`` (None: INF)."""
        current = (policies or self._policies()).get(policy)
        if current is None or current[0] == _shown_duration(days):
            return
        self._run([f"ALTER RETENTION POLICY {quote_ident(policy)} ON "
                   f"{quote_ident(self._t.database)} DURATION {_duration(days)} "
                   f"SHARD DURATION {_shard_duration(days)}"])

    def _policies(self) -> dict[str, tuple[str, bool]]:
        """Retention policies of the database: name -> (duration as shown, is default)."""
        (result,) = self._t.query(f"SHOW RETENTION POLICIES ON {quote_ident(self._t.database)}",
                                  with_db=False)
        return {str(row[0]): (str(row[1]), bool(row[4])) for _, row in device_rows(result)}

    def _state(self) -> tuple[int, int, int] | None:
        """(rolled_until, raw_from, marks_from) of the last ``maintain()``, None before one."""
        try:
            (result,) = self._t.query(
                'SELECT last("rolled_until_ms"), last("raw_from_ms"), last("marks_from_ms") '  # noqa: S608
                f"FROM {self._target_name(_STATE)}")
        except StoreRejected as exc:
            if "retention policy not found" in str(exc):  # no maintain() yet
                return None
            raise
        rows = [row for _, row in device_rows(result)]
        if not rows or rows[0][1] is None:
            return None
        return int(rows[0][1]), int(rows[0][2]), int(rows[0][3])

    def _save(self, now_ms: int, until: int, raw_from: int, marks_from: int) -> None:
        self._t.write([f"{_STATE} rolled_until_ms={until}i,raw_from_ms={raw_from}i,"
                       f"marks_from_ms={marks_from}i {now_ms}"], retention_policy=ROLLUP_POLICY)

    def _first_ts(self) -> int | None:
        """The time of the oldest raw line [UTC ms], None for no data."""
        (result,) = self._t.query(f'SELECT first("seq") FROM "{MEASUREMENT}"')  # noqa: S608
        rows = [row for _, row in device_rows(result)]
        return int(rows[0][0]) if rows else None

    def _marks(self, since_ms: int) -> set[tuple[str, int]]:
        """(device, hour) of the late marks written at or after ``since_ms``."""
        (result,) = self._t.query(f'SELECT "hour" FROM "{_LATE}" WHERE time >= {int(since_ms)}ms '  # noqa: S608
                                  'GROUP BY "device_id"')
        return {(device, int(row[1])) for device, row in device_rows(result) if row[1] is not None}

    def _run(self, statements: Sequence[str]) -> None:
        for chunk in chunks(statements, _STATEMENTS_PER_REQUEST):
            self._t.query(";".join(chunk))

    def _target(self, source: Source) -> str:
        return self._target_name(_MEASUREMENT[source])

    def _target_name(self, measurement: str) -> str:
        """``"database"."farmtel_rollups"."measurement"``."""
        return ".".join(quote_ident(n) for n in (self._t.database, ROLLUP_POLICY, measurement))


def _duration(days: int | None) -> str:
    return "INF" if days is None else f"{int(days)}d"


def _shown_duration(days: int | None) -> str:
    """A duration as ``SHOW RETENTION POLICIES`` prints it."""
    return "0s" if days is None else f"{int(days) * 24}h0m0s"


def _shard_duration(days: int | None) -> str:
    """Shard group duration for a policy of ``days``: InfluxDB's own defaults, but a year for
    long-lived rollups (sparse data: fewer, fuller shards)."""
    if days is None or days >= 730:
        return "52w"
    return "7d" if days >= 180 else "1d" if days >= 2 else "1h"
