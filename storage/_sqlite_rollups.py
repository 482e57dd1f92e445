"""The SQLite store's rollups: tables, late marks, maintenance and rollup reads.

Tables next to ``readings``: ``rollup_1h`` and ``rollup_1d`` (sum, count, min, max per device,
quantity, window start and site), ``rollup_dirty`` (late marks written with the batch that
made them) and ``rollup_state`` (one row: the rollup watermark and the raw horizon). Every
per-series statement is driven by the ``latest`` table (one row per series) so it seeks the
primary keys instead of scanning by time. The rules are ``storage.rollups``'.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from storage.clock import DAY_MS, HOUR_MS
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

__all__ = ["ROLLUP_SCHEMA", "maintain", "mark_late", "partials", "rolled_until", "window_sql"]

_ROLLUP_COLUMNS = """
    device_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    site_id TEXT NOT NULL,
    sum REAL NOT NULL,
    count INTEGER NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (device_id, quantity, ts_ms, site_id)"""
ROLLUP_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS rollup_1h ({_ROLLUP_COLUMNS}) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_1h_site ON rollup_1h (site_id, quantity, ts_ms);
CREATE TABLE IF NOT EXISTS rollup_1d ({_ROLLUP_COLUMNS}) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_1d_site ON rollup_1d (site_id, quantity, ts_ms);
CREATE TABLE IF NOT EXISTS rollup_dirty (
    device_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    rolled_until_ms INTEGER NOT NULL,
    raw_from_ms INTEGER NOT NULL
);
"""
_TABLE: Final = {Source.RAW: "readings", Source.HOUR: "rollup_1h", Source.DAY: "rollup_1d"}
_PARTIAL_COLUMNS: Final = {
    Source.RAW: "SUM(value), COUNT(value), MIN(value), MAX(value)",
    Source.HOUR: "SUM(sum), SUM(count), MIN(min), MAX(max)",
    Source.DAY: "SUM(sum), SUM(count), MIN(min), MAX(max)",
}
_SERIES_PER_TRANSACTION: Final = 200
_INSERT_ROLLUP = "INSERT OR REPLACE INTO {table} (device_id, quantity, ts_ms, site_id, sum, count, min, max) "
_FROM_SERIES = ("FROM latest AS l CROSS JOIN {table} AS r "  # latest drives: primary-key seeks
                "ON r.device_id = l.device_id AND r.quantity = l.quantity "
                "AND r.ts_ms >= ? AND r.ts_ms < ?")
_AGGREGATE_HOURS = (_INSERT_ROLLUP.format(table="rollup_1h")
                    + "SELECT r.device_id, r.quantity, {win} AS w, r.site_id, SUM(r.value), "
                    "COUNT(*), MIN(r.value), MAX(r.value) " + _FROM_SERIES.format(table="readings")
                    + " GROUP BY r.device_id, r.quantity, w, r.site_id")
_AGGREGATE_DAYS = (_INSERT_ROLLUP.format(table="rollup_1d")
                   + "SELECT r.device_id, r.quantity, {win} AS w, r.site_id, SUM(r.sum), "
                   "SUM(r.count), MIN(r.min), MAX(r.max) " + _FROM_SERIES.format(table="rollup_1h")
                   + " GROUP BY r.device_id, r.quantity, w, r.site_id")
_FIRST_TS = ("SELECT MIN((SELECT MIN(ts_ms) FROM readings AS r "
             "WHERE r.device_id = l.device_id AND r.quantity = l.quantity)) FROM latest AS l")

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]
"""Opens a write transaction (``BEGIN IMMEDIATE`` under the store's lock) on this thread's
connection; commits on exit, rolls back on an exception."""


def window_sql(width_ms: int, column: str = "ts_ms") -> str:
    """SQL for the start of ``column``'s epoch-aligned window of ``width_ms`` [ms] (floor
    division, also before 1970); only an int and a constant column name are formatted in."""
    w = int(width_ms)
    return f"{column} - (({column} % {w}) + {w}) % {w}"


def mark_late(conn: sqlite3.Connection, marks: Iterable[tuple[str, int]]) -> None:
    """Record late (device, hour) marks inside the caller's write transaction."""
    conn.executemany("INSERT OR IGNORE INTO rollup_dirty VALUES (?, ?)", marks)


def rolled_until(conn: sqlite3.Connection) -> int:
    """The rollup watermark: every hour before it is rolled up [UTC ms] (NO_HORIZON_MS: none)."""
    row = conn.execute("SELECT rolled_until_ms FROM rollup_state").fetchone()
    return NO_HORIZON_MS if row is None else int(row[0])


def partials(conn: sqlite3.Connection, segments: Sequence[tuple[Source, int, int]],
             where: str, key: str, quantity: str, every_ms: int) -> list[Partial]:
    """Partial aggregates per device and window of ``every_ms`` of each segment's source;
    ``where`` is a constant ``device_id = ?`` or ``site_id = ?`` bound to ``key``."""
    out: list[Partial] = []
    for source, start, end in segments:
        sql = (f"SELECT device_id, {window_sql(every_ms)} AS win, {_PARTIAL_COLUMNS[source]} "  # noqa: S608
               f"FROM {_TABLE[source]} WHERE {where} AND quantity = ? AND ts_ms >= ? AND ts_ms < ? "
               "GROUP BY device_id, win")
        out += conn.execute(sql, (key, quantity, start, end)).fetchall()
    return out


def maintain(transaction: Transaction, retention: Retention, now_ms: int) -> Maintenance:
    """Late hours, then newly closed hours and their days, then retention (see
    ``storage.rollups``); each step in short write transactions."""
    closed = floor_to(now_ms - ROLLUP_GRACE_MS, HOUR_MS)
    with transaction() as conn:
        until, raw_from = _state(conn, closed)
        late = _recompute_late(conn, until, raw_from)
    hours = 0
    for a, b in adaptive_chunks(until, closed):
        with transaction() as conn:
            conn.execute(_AGGREGATE_HOURS.format(win=window_sql(HOUR_MS, "r.ts_ms")), (a, b))
            d0, d1 = floor_to(a, DAY_MS), floor_to(b, DAY_MS)  # the days that end in (a, b]
            if d1 > d0:
                conn.execute(_AGGREGATE_DAYS.format(win=window_sql(DAY_MS, "r.ts_ms")), (d0, d1))
            conn.execute("UPDATE rollup_state SET rolled_until_ms = ?", (b,))
        hours += (b - a) // HOUR_MS
    until = max(until, closed)
    horizon = min(retention.raw_horizon_ms(now_ms), floor_to(until, DAY_MS))
    if horizon > raw_from:
        _delete_before(transaction, ("readings",), horizon)
        with transaction() as conn:
            conn.execute("DELETE FROM rollup_dirty WHERE ts_ms < ?", (horizon,))
            conn.execute("UPDATE rollup_state SET raw_from_ms = ?", (horizon,))
        raw_from = horizon
    rollup_horizon = retention.rollup_horizon_ms(now_ms)
    if rollup_horizon > NO_HORIZON_MS:
        _delete_before(transaction, ("rollup_1h", "rollup_1d"), rollup_horizon)
    return Maintenance(rolled_until_ms=until, raw_from_ms=raw_from, hours_rolled_up=hours,
                       late_hours=late)


def _state(conn: sqlite3.Connection, closed: int) -> tuple[int, int]:
    """(rolled_until, raw_from), created on the first run: the watermark starts at the hour
    of the oldest reading (or at ``closed`` for an empty store)."""
    row = conn.execute("SELECT rolled_until_ms, raw_from_ms FROM rollup_state").fetchone()
    if row is not None:
        return int(row[0]), int(row[1])
    (first,) = conn.execute(_FIRST_TS).fetchone()
    until = closed if first is None else min(floor_to(int(first), HOUR_MS), closed)
    conn.execute("INSERT INTO rollup_state VALUES (0, ?, ?)", (until, NO_HORIZON_MS))
    return until, NO_HORIZON_MS


def _recompute_late(conn: sqlite3.Connection, until: int, raw_from: int) -> int:
    """Recompute the marked device-hours below the watermark (and within the raw horizon) and
    their complete days; clear every mark (hours at or above the watermark are rolled up
    fresh)."""
    marks = conn.execute("SELECT device_id, ts_ms FROM rollup_dirty").fetchall()
    if not marks:
        return 0
    conn.execute("DELETE FROM rollup_dirty")
    hours = [(d, h) for d, h in marks if raw_from <= h < until]
    _recompute(conn, "rollup_1h", "readings",
               "SUM(r.value), COUNT(*), MIN(r.value), MAX(r.value)", hours, HOUR_MS)
    days = sorted({(d, floor_to(h, DAY_MS)) for d, h in hours})
    _recompute(conn, "rollup_1d", "rollup_1h", "SUM(r.sum), SUM(r.count), MIN(r.min), MAX(r.max)",
               [(d, day) for d, day in days if day + DAY_MS <= until], DAY_MS)
    return len(hours)


def _recompute(conn: sqlite3.Connection, table: str, source: str, columns: str,
               keys: list[tuple[str, int]], width_ms: int) -> None:
    """Replace ``table``'s rows of every quantity of each (device, window) by ``source``'s
    aggregate, series by series from ``latest`` (constant names only are formatted in)."""
    if not keys:
        return
    conn.executemany(
        f"DELETE FROM {table} WHERE device_id = ? AND ts_ms = ? AND quantity IN "  # noqa: S608
        "(SELECT quantity FROM latest WHERE device_id = ?)", [(d, w, d) for d, w in keys])
    conn.executemany(
        f"INSERT INTO {table} (device_id, quantity, ts_ms, site_id, sum, count, min, max) "
        f"SELECT r.device_id, r.quantity, ?, r.site_id, {columns} "
        + _FROM_SERIES.format(table=source)
        + " WHERE l.device_id = ? GROUP BY r.quantity, r.site_id",
        [(w, w, w + width_ms, d) for d, w in keys],
    )


def _delete_before(transaction: Transaction, tables: Sequence[str], before_ms: int) -> None:
    """Delete rows before ``before_ms`` from ``tables``, series by series (primary-key seeks),
    a few hundred series per transaction."""
    with transaction() as conn:
        series: list[tuple[Any, ...]] = conn.execute(
            "SELECT device_id, quantity FROM latest ORDER BY device_id, quantity").fetchall()
    for i in range(0, len(series), _SERIES_PER_TRANSACTION):
        chunk = [(d, q, before_ms) for d, q in series[i : i + _SERIES_PER_TRANSACTION]]
        with transaction() as conn:
            for table in tables:
                conn.executemany(
                    f"DELETE FROM {table} WHERE device_id = ? AND quantity = ? AND ts_ms < ?",  # noqa: S608
                    chunk)

