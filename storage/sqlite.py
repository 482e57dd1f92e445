"""Embedded SQLite backend: the default telemetry store, one file, no server.

One narrow ``readings`` table keyed on ``(device_id, quantity, ts_ms)`` (``INSERT OR IGNORE``
makes replays harmless) and a small ``latest`` table kept in the same transaction, so
``latest()`` and ``count_devices_since()`` read O(devices) rows instead of scanning.

Durability: WAL with ``synchronous=FULL``. With WAL, ``NORMAL`` skips the fsync at commit and
may lose the last transactions on power loss; ingest acknowledges MQTT messages once
``write()`` returns, so every commit must be on disk by then.

Concurrency: one connection per thread (readers never wait for the writer under WAL); writes
are serialised by an in-process lock and by ``BEGIN IMMEDIATE`` across processes.

Retention and downsampling: hourly and daily rollup tables in the same file, maintained by
``maintain()`` (``storage._sqlite_rollups``; the rules are ``storage.rollups``').
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from itertools import starmap
from pathlib import Path
from typing import Any

from storage import _sqlite_rollups as rollups
from storage.clock import SECOND_MS, now_ms
from storage.naming import check_id, check_quantity, storable_quantity
from storage.rollups import Maintenance, Retention, late_marks, plan, reduce, rollups_may_answer
from storage.telemetry import (
    TIME_MAX_MS,
    TIME_MIN_MS,
    Aggregation,
    ClosedOnExit,
    RangeQuery,
    Reading,
    SeriesPoint,
    StoreRejected,
    StoreUnavailable,
    WriteResult,
    clamp_range,
    finite_value,
    first_wins,
)

# The columns in ``Reading``'s field order: readings are bound and rows read back positionally.
_READING_COLUMNS = (
    "device_id, quantity, value, ts_ms, seq, quality, device_type, site_id, farm_id, county"
)
_COLUMN_DEFS = """
    device_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    value REAL NOT NULL,
    seq INTEGER NOT NULL,
    quality INTEGER NOT NULL,
    site_id TEXT NOT NULL,
    farm_id TEXT NOT NULL,
    county TEXT NOT NULL,
    device_type TEXT NOT NULL,"""
# ``readings`` keeps every key once; ``latest`` the newest reading per (device, quantity).
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS readings ({_COLUMN_DEFS}
    PRIMARY KEY (device_id, quantity, ts_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_site ON readings (site_id, quantity, ts_ms);
CREATE TABLE IF NOT EXISTS latest ({_COLUMN_DEFS}
    PRIMARY KEY (device_id, quantity)
) WITHOUT ROWID;
"""
_PLACEHOLDERS = ",".join("?" * len(Reading._fields))
_INSERT = f"INSERT OR IGNORE INTO readings ({_READING_COLUMNS}) VALUES ({_PLACEHOLDERS})"  # noqa: S608
_UPSERT_LATEST = f"""
INSERT INTO latest ({_READING_COLUMNS}) VALUES ({_PLACEHOLDERS})
ON CONFLICT (device_id, quantity) DO UPDATE SET
    ts_ms = excluded.ts_ms, value = excluded.value, seq = excluded.seq,
    quality = excluded.quality, site_id = excluded.site_id, farm_id = excluded.farm_id,
    county = excluded.county, device_type = excluded.device_type
WHERE excluded.ts_ms > latest.ts_ms
"""  # noqa: S608 (constants only)
_STORED_VALUE = "SELECT value FROM readings WHERE device_id = ? AND quantity = ? AND ts_ms = ?"
# Whitelisted SQL per aggregation: never interpolate caller text into SQL.
_SQL_AGG = {
    Aggregation.MEAN: "AVG(value)",
    Aggregation.MIN: "MIN(value)",
    Aggregation.MAX: "MAX(value)",
    Aggregation.SUM: "SUM(value)",
    Aggregation.COUNT: "COUNT(value)",
}
_IDS_PER_STATEMENT = 500  # below SQLite's bound-parameter limit


class SqliteTelemetryStore(ClosedOnExit):
    """``TelemetryStore`` in one SQLite file at ``path`` (parent directories are created).

    ``busy_timeout_ms`` is how long a write waits for another process's write lock before it
    raises ``StoreUnavailable`` [ms]. ``path`` must be a file: ``:memory:`` would give every
    thread its own empty database. ``retention`` is what ``maintain()`` keeps.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5_000,
                 retention: Retention | None = None) -> None:
        self.path = Path(path)
        self.retention = retention or Retention()
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._registry_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._quantities: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._mapped_errors():
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA + rollups.ROLLUP_SCHEMA)

    # -- lifecycle --

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreUnavailable("store is closed")
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / SECOND_MS,  # SQLite's busy timeout [s]
            isolation_level=None,  # explicit BEGIN/COMMIT below
            check_same_thread=False,  # only so close() may close it; one thread uses it
        )
        conn.execute("PRAGMA synchronous=FULL")  # see the module docstring
        with self._registry_lock:
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def ping(self) -> None:
        """``SELECT 1`` on this thread's connection."""
        with self._mapped_errors():
            self._conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close every thread's connection; later calls raise ``StoreUnavailable``."""
        self._closed = True
        with self._registry_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """Map sqlite3 errors: locks, I/O, a closed store -> unavailable; bad data -> rejected."""
        try:
            yield
        except sqlite3.OperationalError as exc:  # locked, busy, disk I/O, disk full, read-only
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except sqlite3.ProgrammingError as exc:
            if self._closed:  # close() raced this call: "Cannot operate on a closed database"
                raise StoreUnavailable(f"SQLite: {exc}") from exc
            raise StoreRejected(f"SQLite: {exc}") from exc
        except (
            sqlite3.IntegrityError,
            sqlite3.DataError,
            sqlite3.InterfaceError,
            OverflowError,
        ) as exc:
            raise StoreRejected(f"SQLite: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection: committed on exit, rolled back
        on an exception; sqlite3 errors mapped."""
        with self._mapped_errors(), self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- writes --

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Store a batch in one transaction under the store rule (``first_wins``). The batch
        is inserted as is (``INSERT OR IGNORE``); only when fewer rows went in than were sent
        (a replay, a repeated or conflicting key) is it undone and settled reading by reading
        against what is stored. A batch holding readings of closed hours also marks them for
        the next ``maintain()``."""
        if not readings:
            return WriteResult()
        rows = self._validated(readings)
        marks = late_marks(rows, now_ms())
        with self._transaction() as conn:
            conn.execute("SAVEPOINT batch")
            before = conn.total_changes
            conn.executemany(_INSERT, rows)
            if conn.total_changes - before == len(rows):
                new, result = rows, WriteResult(stored=len(rows))
            else:
                conn.execute("ROLLBACK TO batch")
                new, result = first_wins(rows, lambda key: _stored_value(conn, key))
                conn.executemany(_INSERT, new)
            conn.execute("RELEASE batch")
            conn.executemany(_UPSERT_LATEST, _newest_per_key(new))
            if marks:
                rollups.mark_late(conn, marks)
        return result

    def maintain(self, now_ms: int) -> Maintenance:
        """Roll up, recompute late hours, apply the retention (``storage._sqlite_rollups``)."""
        return rollups.maintain(self._transaction, self.retention, now_ms)

    def _validated(self, readings: Sequence[Reading]) -> list[Reading]:
        """The batch, with values as finite floats; ``StoreRejected`` for a bad quantity name
        or a non-finite or non-numeric value. Decoded batches pass through uncopied."""
        rows = list(readings)
        for quantity in {r.quantity for r in rows} - self._quantities:
            self._quantities.add(storable_quantity(quantity))
        for r in rows:
            v = r.value
            if type(v) is not float or v - v != 0.0:  # not a float, NaN or ±inf
                return [self._coerced(r) for r in rows]
        return rows

    @staticmethod
    def _coerced(r: Reading) -> Reading:
        value = finite_value(r)
        return r if type(r.value) is float else r._replace(value=value)


    # -- reads --

    def latest(
        self, device_ids: Sequence[str] | None = None, quantity: str | None = None
    ) -> list[Reading]:
        """The newest reading per (device, quantity), ordered by device then quantity."""
        where, params = "1", []
        if quantity is not None:
            where, params = "quantity = ?", [check_quantity(quantity)]
        if device_ids is None:
            return self._latest_where(where, params)
        ids = sorted({check_id(d) for d in device_ids})  # chunks in order: no sort afterwards
        out: list[Reading] = []
        for i in range(0, len(ids), _IDS_PER_STATEMENT):
            chunk = ids[i : i + _IDS_PER_STATEMENT]
            marks = ",".join("?" * len(chunk))
            out += self._latest_where(f"{where} AND device_id IN ({marks})", [*params, *chunk])
        return out

    def _latest_where(self, where: str, params: Sequence[Any]) -> list[Reading]:
        """Rows of ``latest`` matching ``where`` (placeholders only; the values are bound),
        ordered by device then quantity."""
        sql = f"SELECT {_READING_COLUMNS} FROM latest WHERE {where} ORDER BY device_id, quantity"  # noqa: S608
        with self._mapped_errors():
            return list(starmap(Reading, self._conn().execute(sql, params)))

    def query(self, q: RangeQuery) -> list[SeriesPoint]:
        """Raw or window-aggregated points in ``[start_ms, end_ms)``, oldest first.

        Windows start at multiples of ``every_s`` since the epoch (floor division, also for
        times before 1970); at most ``limit`` points (raw or windows) are returned. Windows of
        whole hours read the rollups for the rolled-up whole hours (and days) of the range.
        """
        check_quantity(q.quantity)
        if q.device_id is not None:
            where, key = "device_id = ?", check_id(q.device_id)
        else:
            where, key = "site_id = ?", check_id(q.site_id or "")
        span = clamp_range(q.start_ms, q.end_ms)  # as InfluxDB: nothing outside its range
        if span is None:
            return []
        q = replace(q, start_ms=span[0], end_ms=span[1])
        if q.every_s is not None and rollups_may_answer(q):
            with self._mapped_errors():
                conn = self._conn()
                segments = plan(q, rollups.rolled_until(conn))
                if segments is not None:
                    return reduce(rollups.partials(conn, segments, where, key, q.quantity,
                                                   q.every_s * SECOND_MS), q)
        bounds = f"{where} AND quantity = ? AND ts_ms >= ? AND ts_ms < ?"
        params: list[Any] = [key, q.quantity, q.start_ms, q.end_ms]
        # Only constant fragments and an int are formatted into the SQL; values are bound.
        if q.agg is None or q.every_s is None:
            select, tail = "ts_ms, value", "ORDER BY ts_ms, device_id"
        else:
            select = f"{rollups.window_sql(q.every_s * SECOND_MS)} AS win, {_SQL_AGG[Aggregation(q.agg)]}"
            tail = "GROUP BY device_id, win ORDER BY win, device_id"
        sql = f"SELECT device_id, {select} FROM readings WHERE {bounds} {tail} LIMIT ?"  # noqa: S608
        params.append(max(q.limit, 0))
        with self._mapped_errors():
            rows = self._conn().execute(sql, params).fetchall()
        return [SeriesPoint(d, q.quantity, int(ts), float(v)) for d, ts, v in rows]

    def count_devices_since(self, since_ms: int) -> int:
        """Distinct devices with a reading at or after ``since_ms`` (from ``latest``)."""
        with self._mapped_errors():
            (n,) = (
                self._conn()
                .execute(
                    "SELECT COUNT(DISTINCT device_id) FROM latest WHERE ts_ms >= ?",
                    (min(max(int(since_ms), TIME_MIN_MS), TIME_MAX_MS),)
                )
                .fetchone()
            )
        return int(n)

    # -- bulk reads (indicator counts and counters; see TelemetryStore) --

    def window_counts(
        self, quantity: str, start_ms: int, end_ms: int, *, every_s: int,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int]]:
        """Readings per device and epoch-aligned window of ``every_s`` [s] in ``[start_ms,
        end_ms)``, ordered by device then window. With ``device_ids`` each chunk of ids is read
        from the primary key; without, the whole table is scanned (fine for small stores)."""
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        win = rollups.window_sql(every_s * SECOND_MS)
        rows = self._bulk(f"device_id, {win} AS win, COUNT(*)", "GROUP BY device_id, win "
                          "ORDER BY device_id, win", quantity, start_ms, end_ms, device_ids)
        return [(d, int(win), int(n)) for d, win, n in rows]

    def raw_series(
        self, quantity: str, start_ms: int, end_ms: int, *,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, float]]:
        """Every reading in ``[start_ms, end_ms)`` as (device, ts_ms, value), ordered by device
        then time (from the primary key per chunk of ``device_ids``, else a table scan)."""
        rows = self._bulk("device_id, ts_ms, value", "ORDER BY device_id, ts_ms", quantity,
                          start_ms, end_ms, device_ids)
        return [(d, int(ts), float(v)) for d, ts, v in rows]

    def _bulk(self, select: str, tail: str, quantity: str, start_ms: int, end_ms: int,
              device_ids: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """``SELECT select FROM readings WHERE <ids> AND quantity AND range tail``, per chunk of
        sorted ids (constant fragments only are formatted into the SQL; values are bound)."""
        check_quantity(quantity)
        span = clamp_range(start_ms, end_ms)
        if span is None:
            return []
        start_ms, end_ms = span
        bounds = "quantity = ? AND ts_ms >= ? AND ts_ms < ?"
        params: list[Any] = [quantity, int(start_ms), int(end_ms)]
        chunks: list[list[str]] = [[]]
        if device_ids is not None:
            ids = sorted({check_id(d) for d in device_ids})
            chunks = [ids[i : i + _IDS_PER_STATEMENT] for i in range(0, len(ids), _IDS_PER_STATEMENT)]
        out: list[tuple[Any, ...]] = []
        with self._mapped_errors():
            conn = self._conn()
            for chunk in chunks:
                where = f"device_id IN ({','.join('?' * len(chunk))}) AND " if chunk else ""
                sql = f"SELECT {select} FROM readings WHERE {where}{bounds} {tail}"  # noqa: S608
                out += conn.execute(sql, [*chunk, *params]).fetchall()
        return out


def _stored_value(conn: sqlite3.Connection, key: tuple[str, str, int]) -> float | None:
    """The value stored for (device_id, quantity, ts_ms), or None."""
    row = conn.execute(_STORED_VALUE, key).fetchone()
    return None if row is None else float(row[0])


def _newest_per_key(rows: list[Reading]) -> list[Reading]:
    """The first reading with the largest ``ts_ms`` per (device, quantity) of one batch."""
    newest: dict[tuple[str, str], Reading] = {}
    for r in rows:
        key = (r.device_id, r.quantity)
        cur = newest.get(key)
        if cur is None or r.ts_ms > cur.ts_ms:
            newest[key] = r
    return list(newest.values())
