"""One contract for every TelemetryStore backend, run against real storage.

``backend`` is SQLite in ``tmp_path``, InfluxDB 1.x (a real ``influxd``, one fresh database
per test) and the in-memory fake the unit tests use (``tests.fakes.MemoryStore``). Each backend
also knows how to make itself honestly unavailable: another process holding SQLite's write
lock, the ``influxd`` process stopped, or the fake's ``available`` switch off. Retention and
downsampling (``maintain()``) run on every backend too. At the end: backend-specific
checks, the URL factory, and the API v2 write path against a real VictoriaMetrics.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS, now_ms
from storage.errors import StoreError
from storage.factory import open_store
from storage.influx import InfluxTelemetryStore
from storage.rollups import Retention
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import (
    TIME_MAX_MS,
    TIME_MIN_MS,
    Aggregation,
    Quality,
    RangeQuery,
    Reading,
    Refused,
    SeriesPoint,
    StoreRejected,
    StoreUnavailable,
    TelemetryStore,
)
from tests.fakes import MemoryStore
from tests.servers import InfluxServer, VictoriaMetricsServer

pytestmark = pytest.mark.timeout(120)

T0 = 1_780_000_020_000  # a whole minute: 29_666_667 * 60_000 ms
MIN = MINUTE_MS
TRICKY = "gw.01_port-3.a"  # the id rules (storage.naming.ID_CHARS) allow ".", "-", "_"
TRICKY_SITE = "site_a.b-c"


@dataclass
class Backend:
    """A store under test and a way to make it unavailable for a while."""

    name: str
    store: TelemetryStore
    outage: Callable[[], AbstractContextManager[None]]


@contextmanager
def _sqlite_write_locked(path: Path) -> Iterator[None]:
    """Another connection holds the write lock (as another process would)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@contextmanager
def _switched_off(store: MemoryStore) -> Iterator[None]:
    """The fake is unavailable; it is back (same data) afterwards, even on failure."""
    store.available = False
    try:
        yield
    finally:
        store.available = True


@contextmanager
def _influx_stopped(server: InfluxServer) -> Iterator[None]:
    """The influxd process is gone; it is back (same data) afterwards, even on failure."""
    server.stop()
    try:
        yield
    finally:
        server.start()


@pytest.fixture(
    params=["sqlite", pytest.param("influx_v1", marks=pytest.mark.integration), "memory"]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    store: SqliteTelemetryStore | InfluxTelemetryStore | MemoryStore
    if request.param == "sqlite":
        path = tmp_path / "telemetry.db"
        store = SqliteTelemetryStore(path, busy_timeout_ms=200)
        b = Backend("sqlite", store, lambda: _sqlite_write_locked(path))
    elif request.param == "memory":
        fake = store = MemoryStore()
        b = Backend("memory", store, lambda: _switched_off(fake))
    else:
        server: InfluxServer = request.getfixturevalue("influx_server")
        database: str = request.getfixturevalue("influx_database")
        store = InfluxTelemetryStore(server.url, database, timeout_s=5)
        store.create_database()
        b = Backend("influx_v1", store, lambda: _influx_stopped(server))
    try:
        yield b
    finally:
        store.close()


@pytest.fixture
def store(backend: Backend) -> TelemetryStore:
    return backend.store


def reading(
    device: str,
    quantity: str,
    value: float,
    ts: int,
    seq: int = 0,
    site: str = "field-1",
    quality: int = Quality.GOOD,
) -> Reading:
    return Reading(
        device_id=device,
        quantity=quantity,
        value=value,
        ts_ms=ts,
        seq=seq,
        quality=quality,
        device_type="soil_moisture",
        site_id=site,
        farm_id="farm-a",
        county="Trans Nzoia",  # a space, escaped on the way into InfluxDB
    )


def raw(
    store: TelemetryStore, device: str, quantity: str, start: int, end: int
) -> list[SeriesPoint]:
    return store.query(RangeQuery(quantity, start, end, device_id=device))


# --- writes and latest -----------------------------------------------------------------------


def test_write_then_latest_returns_every_field(store: TelemetryStore) -> None:
    batch = [
        reading("sm-1", "vwc_pct", 21.5, T0, seq=1),
        reading("sm-1", "soil_temp_c", 14.25, T0, seq=1),
        reading("sm-2", "vwc_pct", 30.0, T0 + 5, seq=9, quality=Quality.LATE),
    ]
    store.write(batch)
    assert store.latest() == sorted(batch, key=lambda r: (r.device_id, r.quantity))


def test_latest_is_the_newest_per_device_and_quantity(store: TelemetryStore) -> None:
    old_temp = reading("sm-1", "soil_temp_c", 14.0, T0, seq=1)
    new_vwc = reading("sm-1", "vwc_pct", 25.0, T0 + MIN, seq=2)  # the newest line lacks temp
    other = reading("sm-2", "soil_temp_c", 9.5, T0 + 2 * MIN, seq=5)
    store.write([reading("sm-1", "vwc_pct", 20.0, T0, seq=1), old_temp])
    store.write([new_vwc, other])

    assert store.latest() == [old_temp, new_vwc, other]
    assert store.latest(device_ids=["sm-1"]) == [old_temp, new_vwc]
    assert store.latest(quantity="soil_temp_c") == [old_temp, other]
    assert store.latest(device_ids=["sm-2", "sm-1"], quantity="vwc_pct") == [new_vwc]
    assert store.latest(device_ids=[]) == []
    assert store.latest(device_ids=["nobody"]) == []
    assert store.latest(quantity="rh_pct") == []


def test_empty_store_reads_empty(store: TelemetryStore) -> None:
    store.write([])
    assert store.latest() == []
    assert raw(store, "sm-1", "vwc_pct", 0, T0) == []
    assert store.count_devices_since(0) == 0


def test_replaying_a_batch_changes_nothing(store: TelemetryStore) -> None:
    batch = [
        reading(f"sm-{d}", "vwc_pct", 20.0 + d + k, T0 + k * MIN, seq=k)
        for d in range(3)
        for k in range(5)
    ]
    store.write(batch)
    before = {d: raw(store, f"sm-{d}", "vwc_pct", T0, T0 + 10 * MIN) for d in range(3)}
    latest_before = store.latest()

    store.write(batch)
    store.write(batch[3:7])

    after = {d: raw(store, f"sm-{d}", "vwc_pct", T0, T0 + 10 * MIN) for d in range(3)}
    assert after == before
    expected = {(r.device_id, r.ts_ms, r.value) for r in batch}
    assert {(p.device_id, p.ts_ms, p.value) for pts in after.values() for p in pts} == expected
    assert sum(len(p) for p in after.values()) == len(batch)
    assert store.latest() == latest_before
    count = RangeQuery(
        "vwc_pct", T0, T0 + 10 * MIN, device_id="sm-1", every_s=3600, agg=Aggregation.COUNT
    )
    assert [p.value for p in store.query(count)] == [5.0]


def test_a_key_repeated_within_a_batch_is_stored_once_first_value_kept(
    store: TelemetryStore,
) -> None:
    first = reading("sm-1", "vwc_pct", 1.0, T0, seq=1)
    store.write([first, reading("sm-1", "soil_temp_c", 9.0, T0, seq=1), first._replace(value=2.0)])
    assert raw(store, "sm-1", "vwc_pct", T0, T0 + 1) == [SeriesPoint("sm-1", "vwc_pct", T0, 1.0)]
    assert store.latest(quantity="vwc_pct") == [first]


# --- one rule for a key written twice (issue 14 item 7) ------------------------------------


def _records_a_and_b() -> tuple[list[Reading], list[Reading]]:
    """Record A (seq 1: vwc 20, temp 10) and record B of the same device and instant (seq 2:
    vwc 30)."""
    a = [reading("sm-1", "vwc_pct", 20.0, T0, seq=1), reading("sm-1", "soil_temp_c", 10.0, T0, seq=1)]
    b = [reading("sm-1", "vwc_pct", 30.0, T0, seq=2, quality=Quality.LATE)]
    return a, b


@pytest.mark.parametrize("b_first", [False, True], ids=["A-then-B", "B-then-A"])
@pytest.mark.parametrize("same_batch", [True, False], ids=["one-batch", "two-batches"])
def test_a_conflicting_value_is_refused_and_the_first_value_stands(
    store: TelemetryStore, b_first: bool, same_batch: bool
) -> None:
    a, b = _records_a_and_b()
    first, second = (b, a) if b_first else (a, b)
    batches = [first + second] if same_batch else [first, second]
    results = [store.write(batch) for batch in batches]

    stored = sum(r.stored for r in results)
    refused = [f for r in results for f in r.refused]
    assert (stored, sum(r.duplicates for r in results)) == (2, 0)  # 3 sent: 2 stored, 1 refused
    (refusal,) = refused
    assert refusal.why is Refused.CONFLICTING_VALUE
    assert (refusal.reading, refusal.stored_value) == (second[0], first[0].value)
    assert raw(store, "sm-1", "vwc_pct", T0, T0 + 1) == [
        SeriesPoint("sm-1", "vwc_pct", T0, first[0].value)]
    # the point never mixes the refused record's value or seq with the first one's
    assert store.latest(quantity="vwc_pct") == [first[0]]
    assert [p.value for p in raw(store, "sm-1", "soil_temp_c", T0, T0 + 1)] == [10.0]


@pytest.mark.parametrize("same_batch", [True, False], ids=["one-batch", "two-batches"])
def test_an_identical_value_of_another_record_is_a_duplicate(
    store: TelemetryStore, same_batch: bool
) -> None:
    a, _ = _records_a_and_b()
    again = [r._replace(seq=7) for r in a]
    results = [store.write(a + again)] if same_batch else [store.write(a), store.write(again)]
    assert [(r.stored, r.duplicates, r.refused) for r in results][-1][1:] == (2, [])
    assert sum(r.stored for r in results) == 2
    assert store.latest() == sorted(a, key=lambda r: r.quantity)


def test_write_results_add_up_over_a_replayed_batch(store: TelemetryStore) -> None:
    batch = [reading(f"sm-{d}", "vwc_pct", 20.0 + d + k, T0 + k * MIN, seq=k)
             for d in range(3) for k in range(5)]
    assert store.write(batch).stored == len(batch)
    changed = [r._replace(value=r.value + 0.5) if r.ts_ms == T0 else r for r in batch]
    result = store.write(changed)
    assert (result.stored, result.duplicates, len(result.refused)) == (0, 12, 3)
    assert {(f.reading.device_id, f.stored_value) for f in result.refused} == {
        (f"sm-{d}", 20.0 + d) for d in range(3)}


def test_out_of_order_writes(store: TelemetryStore) -> None:
    newest = reading("sm-1", "vwc_pct", 3.0, T0 + 2 * MIN, seq=3)
    store.write([newest])
    store.write([reading("sm-1", "vwc_pct", 1.0, T0, seq=1)])
    store.write([reading("sm-1", "vwc_pct", 2.0, T0 + MIN, seq=2)])

    assert store.latest() == [newest]
    points = raw(store, "sm-1", "vwc_pct", T0, T0 + 3 * MIN)
    assert [(p.ts_ms, p.value) for p in points] == [(T0, 1.0), (T0 + MIN, 2.0), (T0 + 2 * MIN, 3.0)]


# --- range queries ---------------------------------------------------------------------------


def test_raw_query_is_oldest_first_within_start_inclusive_end_exclusive(
    store: TelemetryStore,
) -> None:
    batch = [reading("sm-1", "vwc_pct", float(k), T0 + k * 1000, seq=k) for k in range(10)]
    batch.append(reading("sm-1", "soil_temp_c", 99.0, T0 + 3000, seq=3))  # other quantity
    batch.append(reading("sm-2", "vwc_pct", 99.0, T0 + 3000, seq=3))  # other device
    random.Random(7).shuffle(batch)
    store.write(batch)

    points = raw(store, "sm-1", "vwc_pct", T0 + 2000, T0 + 5000)
    assert points == [SeriesPoint("sm-1", "vwc_pct", T0 + k * 1000, float(k)) for k in (2, 3, 4)]

    limited = store.query(RangeQuery("vwc_pct", T0, T0 + MIN, device_id="sm-1", limit=2))
    assert [p.ts_ms for p in limited] == [T0, T0 + 1000]
    assert store.query(RangeQuery("vwc_pct", T0, T0 + MIN, device_id="sm-1", limit=0)) == []


# Window [T0, T0+1min): 1 (before start), 2, 6; window [T0+1min, T0+2min): 10, -4;
# window 3 is empty (no point, fill none); T0+3min is at the exclusive end.
AGG_POINTS = [(0, 1.0), (10_000, 2.0), (59_999, 6.0), (MIN, 10.0), (90_000, -4.0), (3 * MIN, 7.0)]
AGG_EXPECTED = {
    Aggregation.MEAN: [4.0, 3.0],
    Aggregation.MIN: [2.0, -4.0],
    Aggregation.MAX: [6.0, 10.0],
    Aggregation.SUM: [8.0, 6.0],
    Aggregation.COUNT: [2.0, 2.0],
}


@pytest.mark.parametrize("agg", list(Aggregation))
def test_aggregated_windows_are_aligned_to_the_epoch(
    store: TelemetryStore, agg: Aggregation
) -> None:
    store.write(
        [reading("sm-1", "vwc_pct", v, T0 + dt, seq=i) for i, (dt, v) in enumerate(AGG_POINTS)]
    )
    store.write([reading("sm-2", "vwc_pct", 50.0, T0 + 10_000)])  # another device: not counted

    q = RangeQuery("vwc_pct", T0 + 5_000, T0 + 3 * MIN, device_id="sm-1", every_s=60, agg=agg)
    points = store.query(q)

    assert [(p.device_id, p.quantity, p.ts_ms) for p in points] == [
        ("sm-1", "vwc_pct", T0),  # the window start, although the range starts 5 s later
        ("sm-1", "vwc_pct", T0 + MIN),
    ]
    assert [p.value for p in points] == pytest.approx(AGG_EXPECTED[agg])


def test_site_query_spans_its_devices_only(store: TelemetryStore) -> None:
    store.write(
        [
            reading("gh-1", "rh_pct", 60.0, T0, site=TRICKY_SITE),
            reading("gh-2", "rh_pct", 70.0, T0, site=TRICKY_SITE),
            reading("gh-1", "rh_pct", 64.0, T0 + MIN, site=TRICKY_SITE),
            reading("gh-2", "rh_pct", 50.0, T0 + 2 * MIN, site=TRICKY_SITE),
            reading("gh-9", "rh_pct", 10.0, T0 + MIN, site="elsewhere"),
        ]
    )
    points = store.query(RangeQuery("rh_pct", T0, T0 + 3 * MIN, site_id=TRICKY_SITE))
    assert [(p.device_id, p.ts_ms, p.value) for p in points] == [
        ("gh-1", T0, 60.0),
        ("gh-2", T0, 70.0),
        ("gh-1", T0 + MIN, 64.0),
        ("gh-2", T0 + 2 * MIN, 50.0),
    ]
    windows = store.query(
        RangeQuery(
            "rh_pct", T0, T0 + 3 * MIN, site_id=TRICKY_SITE, every_s=120, agg=Aggregation.MEAN
        )
    )
    assert T0 % 120_000 == 60_000  # 2-min windows from the epoch start 1 min before T0
    assert [(p.device_id, p.ts_ms, p.value) for p in windows] == [
        ("gh-1", T0 - MIN, 60.0),
        ("gh-2", T0 - MIN, 70.0),
        ("gh-1", T0 + MIN, 64.0),
        ("gh-2", T0 + MIN, 50.0),
    ]


def test_count_devices_since(store: TelemetryStore) -> None:
    store.write(
        [
            reading("old", "vwc_pct", 1.0, T0 - 10 * MIN),
            reading("both", "vwc_pct", 1.0, T0 - 10 * MIN),
            reading("both", "battery_v", 3.6, T0 + MIN),  # newer, another quantity
            reading("edge", "vwc_pct", 1.0, T0),  # exactly at since: counted
            reading("future", "vwc_pct", 1.0, T0 + 10**9),  # a clock ahead is still "since"
        ]
    )
    assert store.count_devices_since(T0) == 3
    assert store.count_devices_since(T0 + 1) == 2
    assert store.count_devices_since(T0 - 10 * MIN) == 4
    assert store.count_devices_since(T0 + 10**9 + 1) == 0


# --- bulk reads: window_counts and raw_series (indicator counts and counters) -----------------

HOUR = HOUR_MS
H0 = (T0 // HOUR + 1) * HOUR  # a whole hour after T0


def _bulk_fixture(store: TelemetryStore) -> None:
    store.write(
        [
            reading("sm-1", "vwc_pct", 1.0, H0),  # at a window start: in that window
            reading("sm-1", "vwc_pct", 2.0, H0 + 15 * MIN),
            reading("sm-1", "battery_v", 3.6, H0 + 15 * MIN),  # another quantity: never counted
            reading("sm-1", "vwc_pct", 3.0, H0 + HOUR - 1),  # last ms of the first hour
            reading("sm-1", "vwc_pct", 4.0, H0 + 2 * HOUR),  # hour 1 empty: no row for it
            reading("sm-2", "vwc_pct", 5.0, H0 - 1),  # just before the range
            reading("sm-2", "vwc_pct", 6.0, H0 + HOUR + 30 * MIN, site="field-2"),
            reading(TRICKY, "vwc_pct", 7.0, H0 + 3 * HOUR),  # at the range end: left out
        ]
    )


def test_window_counts_per_device_and_epoch_aligned_window(store: TelemetryStore) -> None:
    _bulk_fixture(store)
    counts = store.window_counts("vwc_pct", H0, H0 + 3 * HOUR, every_s=3600)
    assert counts == [("sm-1", H0, 3), ("sm-1", H0 + 2 * HOUR, 1), ("sm-2", H0 + HOUR, 1)]
    # a range starting mid-window reports the window start and counts from the range start
    assert store.window_counts("vwc_pct", H0 + 10 * MIN, H0 + HOUR, every_s=3600) == [
        ("sm-1", H0, 2)
    ]
    # two-hour windows from the epoch; narrowed to some devices (ids that never wrote included)
    narrowed = store.window_counts(
        "vwc_pct", H0 - HOUR, H0 + 4 * HOUR, every_s=7200, device_ids=["sm-2", TRICKY, "nobody"]
    )
    expected = sorted([("sm-2", (H0 - 1) // (2 * HOUR) * 2 * HOUR, 1),
                       ("sm-2", (H0 + HOUR) // (2 * HOUR) * 2 * HOUR, 1),
                       (TRICKY, (H0 + 3 * HOUR) // (2 * HOUR) * 2 * HOUR, 1)])
    assert narrowed == expected
    assert store.window_counts("vwc_pct", H0, H0 + HOUR, every_s=3600, device_ids=[]) == []
    assert store.window_counts("rh_pct", H0, H0 + HOUR, every_s=3600) == []


def test_window_counts_for_many_device_ids(store: TelemetryStore) -> None:
    # more ids than one statement takes (SQLite chunks them; InfluxDB reads every series and
    # filters): the answer is the same as for the few ids that have readings
    _bulk_fixture(store)
    many = [*(f"dev-{i:04d}" for i in range(1_500)), "sm-2", "sm-1"]
    assert store.window_counts("vwc_pct", H0, H0 + 3 * HOUR, every_s=3600, device_ids=many) == [
        ("sm-1", H0, 3), ("sm-1", H0 + 2 * HOUR, 1), ("sm-2", H0 + HOUR, 1)]
    assert store.raw_series("vwc_pct", H0, H0 + HOUR, device_ids=[d for d in many if d != "sm-2"]) == [
        ("sm-1", H0, 1.0), ("sm-1", H0 + 15 * MIN, 2.0), ("sm-1", H0 + HOUR - 1, 3.0)]


def test_raw_series_is_ordered_by_device_then_time(store: TelemetryStore) -> None:
    _bulk_fixture(store)
    store.write([reading("sm-2", "vwc_pct", 8.0, H0 + 10 * MIN)])  # written after a later one
    assert store.raw_series("vwc_pct", H0, H0 + 3 * HOUR) == [
        ("sm-1", H0, 1.0), ("sm-1", H0 + 15 * MIN, 2.0), ("sm-1", H0 + HOUR - 1, 3.0),
        ("sm-1", H0 + 2 * HOUR, 4.0),
        ("sm-2", H0 + 10 * MIN, 8.0), ("sm-2", H0 + HOUR + 30 * MIN, 6.0),
    ]
    assert TRICKY < "sm-2"  # "gw.01:..." sorts first
    assert store.raw_series("vwc_pct", H0 - HOUR, H0 + 4 * HOUR, device_ids=["sm-2", TRICKY]) == [
        (TRICKY, H0 + 3 * HOUR, 7.0),
        ("sm-2", H0 - 1, 5.0), ("sm-2", H0 + 10 * MIN, 8.0), ("sm-2", H0 + HOUR + 30 * MIN, 6.0),
    ]
    assert store.raw_series("vwc_pct", H0, H0, device_ids=None) == []


@pytest.mark.parametrize("evil", ["x' OR '1'='1", 'a" OR 1=1 --', "vwc_pct;DROP", ""])
def test_bulk_reads_refuse_bad_names(store: TelemetryStore, evil: str) -> None:
    with pytest.raises(ValueError):
        store.window_counts(evil, T0, T0 + MIN, every_s=60)
    with pytest.raises(ValueError):
        store.raw_series("vwc_pct", T0, T0 + MIN, device_ids=[evil])
    with pytest.raises(ValueError):
        store.window_counts("vwc_pct", T0, T0 + MIN, every_s=0)


def test_tricky_but_valid_ids_round_trip(store: TelemetryStore) -> None:
    r = reading(TRICKY, "vwc_pct", 12.5, T0, seq=4, site=TRICKY_SITE)
    store.write([r, reading("gw.01", "vwc_pct", 1.0, T0, site="site:a")])  # a prefix of both
    assert store.latest(device_ids=[TRICKY]) == [r]
    assert raw(store, TRICKY, "vwc_pct", T0, T0 + 1) == [SeriesPoint(TRICKY, "vwc_pct", T0, 12.5)]
    site = store.query(RangeQuery("vwc_pct", T0, T0 + 1, site_id=TRICKY_SITE))
    assert [p.device_id for p in site] == [TRICKY]


# --- retention and downsampling --------------------------------------------------------------

QUARTER_HOUR = 15 * MIN
YEARS_3_DAYS = 3 * 365


def quarter_hourly(device: str, start: int, days: int) -> list[Reading]:
    """One reading every 15 minutes for ``days`` days from ``start``: deterministic values with
    two decimals in [15, 25)."""
    return [reading(device, "vwc_pct", 15.0 + (k * 7919 % 1000) / 100, start + k * QUARTER_HOUR)
            for k in range(days * 96)]


def expected_windows(readings: list[Reading], width_ms: int, start: int, end: int,
                     ) -> dict[Aggregation, list[tuple[int, float]]]:
    """Every aggregation per epoch-aligned window, computed here from the values (not through
    a store): (window start, value), oldest first."""
    windows: dict[int, list[float]] = {}
    for r in readings:
        if start <= r.ts_ms < end:
            windows.setdefault(r.ts_ms - r.ts_ms % width_ms, []).append(r.value)
    wins = sorted(windows)
    return {
        Aggregation.MEAN: [(w, math.fsum(windows[w]) / len(windows[w])) for w in wins],
        Aggregation.MIN: [(w, min(windows[w])) for w in wins],
        Aggregation.MAX: [(w, max(windows[w])) for w in wins],
        Aggregation.SUM: [(w, math.fsum(windows[w])) for w in wins],
        Aggregation.COUNT: [(w, float(len(windows[w]))) for w in wins],
    }


def windows_of(store: TelemetryStore, device: str, start: int, end: int, every_s: int,
               agg: Aggregation) -> list[tuple[int, float]]:
    q = RangeQuery("vwc_pct", start, end, device_id=device, every_s=every_s, agg=agg)
    return [(p.ts_ms, p.value) for p in store.query(q)]


def assert_windows(store: TelemetryStore, device: str, start: int, end: int, every_s: int,
                   expected: dict[Aggregation, list[tuple[int, float]]]) -> None:
    for agg, want in expected.items():
        got = windows_of(store, device, start, end, every_s, agg)
        assert [w for w, _ in got] == [w for w, _ in want], agg
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-12), agg


def test_a_three_year_device_query_is_answered_from_rollups(store: TelemetryStore) -> None:
    now = now_ms()
    end = now - now % DAY_MS - DAY_MS  # yesterday, 00:00 UTC: every hour is closed
    start = end - YEARS_3_DAYS * DAY_MS
    data = quarter_hourly("sm-1", start, YEARS_3_DAYS)
    for i in range(0, len(data), 5_000):
        store.write(data[i : i + 5_000])
    daily = expected_windows(data, DAY_MS, start, end)
    assert len(daily[Aggregation.MEAN]) == YEARS_3_DAYS
    assert_windows(store, "sm-1", start, end, 86_400, daily)  # from raw, before maintenance

    done = store.maintain(now)

    assert done.rolled_until_ms >= end
    horizon = Retention().raw_horizon_ms(now)
    assert done.raw_from_ms == horizon
    assert_windows(store, "sm-1", start, end, 86_400, daily)  # now from the daily rollups
    # raw older than the retention is gone; the rollups stay, hourly too
    assert raw(store, "sm-1", "vwc_pct", start, horizon) == []
    assert len(raw(store, "sm-1", "vwc_pct", horizon, horizon + DAY_MS)) == 96
    old_day = start + 100 * DAY_MS
    assert_windows(store, "sm-1", old_day, old_day + DAY_MS, 3600,
                   expected_windows(data, HOUR_MS, old_day, old_day + DAY_MS))
    # a range that starts and ends mid-hour: raw edges, hourly and daily rollups, merged
    a, b = end - 5 * DAY_MS + 20 * MIN, end - DAY_MS - 50 * MIN
    assert_windows(store, "sm-1", a, b, 86_400, expected_windows(data, DAY_MS, a, b))
    assert_windows(store, "sm-1", a, b, 2 * 86_400, expected_windows(data, 2 * DAY_MS, a, b))
    assert_windows(store, "sm-1", a, b, 6 * 3600, expected_windows(data, 6 * HOUR_MS, a, b))
    assert store.latest(device_ids=["sm-1"])[0].ts_ms == data[-1].ts_ms


def test_late_data_reaches_the_rollups_at_the_next_maintenance(store: TelemetryStore) -> None:
    now = now_ms()
    day = now - now % DAY_MS - 2 * DAY_MS  # the day before yesterday
    first = [reading(f"sm-{d}", "vwc_pct", 10.0 + d + k, day + k * QUARTER_HOUR)
             for d in (1, 2) for k in range(96)]
    store.write(first)
    store.maintain(now)
    late = [reading("sm-1", "vwc_pct", 99.0, day + 5 * HOUR_MS + 7 * MIN),
            reading("sm-1", "vwc_pct", -3.0, day + 5 * HOUR_MS + 8 * MIN)]
    store.write(late)

    done = store.maintain(now)

    assert done.late_hours >= 1
    everything = first + late
    sm1 = [r for r in everything if r.device_id == "sm-1"]
    assert_windows(store, "sm-1", day, day + DAY_MS, 3600,
                   expected_windows(sm1, HOUR_MS, day, day + DAY_MS))
    assert_windows(store, "sm-1", day, day + DAY_MS, 86_400,
                   expected_windows(sm1, DAY_MS, day, day + DAY_MS))
    site = store.query(RangeQuery("vwc_pct", day, day + DAY_MS, site_id="field-1",
                                  every_s=86_400, agg=Aggregation.COUNT))
    assert [(p.device_id, p.value) for p in site] == [("sm-1", 98.0), ("sm-2", 96.0)]


def test_maintenance_is_idempotent(store: TelemetryStore) -> None:
    now = now_ms()
    day = now - now % DAY_MS - 3 * DAY_MS
    data = quarter_hourly("sm-1", day, 2)
    store.write(data)
    store.maintain(now)
    before = {agg: windows_of(store, "sm-1", day, day + 2 * DAY_MS, 3600, agg)
              for agg in Aggregation}

    again = store.maintain(now)

    assert again.hours_rolled_up == 0  # (InfluxDB re-reads the last minutes' late marks)
    assert {agg: windows_of(store, "sm-1", day, day + 2 * DAY_MS, 3600, agg)
            for agg in Aggregation} == before
    assert_windows(store, "sm-1", day, day + 2 * DAY_MS, 3600,
                   expected_windows(data, HOUR_MS, day, day + 2 * DAY_MS))
    assert len(raw(store, "sm-1", "vwc_pct", day, day + 2 * DAY_MS)) == 2 * 96


def test_maintaining_an_empty_store_keeps_it_empty(store: TelemetryStore) -> None:
    now = now_ms()
    store.maintain(now)
    store.maintain(now)
    assert store.latest() == []
    assert windows_of(store, "sm-1", now - 3 * DAY_MS, now, 86_400, Aggregation.MEAN) == []


# --- errors ----------------------------------------------------------------------------------


def test_unavailable_store_raises_then_recovers(backend: Backend) -> None:
    store = backend.store
    first = reading("sm-1", "vwc_pct", 1.0, T0, seq=1)
    second = reading("sm-1", "vwc_pct", 2.0, T0 + MIN, seq=2)
    store.write([first])
    started = time.monotonic()
    with backend.outage():
        with pytest.raises(StoreUnavailable):
            store.write([second])
        if backend.name != "sqlite":  # SQLite readers are not blocked by a writer (WAL)
            with pytest.raises(StoreUnavailable):
                store.latest()
    assert time.monotonic() - started < 30
    store.write([second])  # the retry after the outage succeeds; nothing was half-written
    assert raw(store, "sm-1", "vwc_pct", T0, T0 + 2 * MIN) == [
        SeriesPoint("sm-1", "vwc_pct", T0, 1.0),
        SeriesPoint("sm-1", "vwc_pct", T0 + MIN, 2.0),
    ]


def _ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("start", "end", "found"), [
    (1600, 1700, False), (2300, 2400, False), (1600, 2300, True), (1600, 2027, True),
    (2026, 2300, True),
])
def test_ranges_beyond_the_representable_time_are_cut_to_it(
    store: TelemetryStore, start: int, end: int, found: bool
) -> None:
    """Issue 14 item 11: instants outside InfluxDB's range (1677-09-21 .. 2262-04-11) are cut
    off on every store; a range wholly outside reads as empty, never as an error."""
    assert _ms(1678) > TIME_MIN_MS and _ms(2262) < TIME_MAX_MS < _ms(2263)
    r = reading("sm-1", "vwc_pct", 21.5, T0)
    store.write([r])
    a, b = _ms(start), _ms(end)
    expected = [SeriesPoint("sm-1", "vwc_pct", T0, 21.5)] if found else []
    assert store.query(RangeQuery("vwc_pct", a, b, device_id="sm-1")) == expected
    hourly = store.query(RangeQuery("vwc_pct", a, b, site_id="field-1", every_s=3600,
                                    agg=Aggregation.COUNT))
    assert [p.value for p in hourly] == ([1.0] if found else [])
    assert store.raw_series("vwc_pct", a, b) == ([("sm-1", T0, 21.5)] if found else [])
    assert store.window_counts("vwc_pct", a, b, every_s=86_400) == (
        [("sm-1", T0 - T0 % DAY_MS, 1)] if found else [])
    assert store.count_devices_since(a) == (1 if a <= T0 else 0)


@pytest.mark.integration
def test_every_call_to_a_stopped_influxdb_is_a_store_error(
    influx_server: InfluxServer, influx_database: str
) -> None:
    """Issue 14 item 11: with InfluxDB gone (connection refused) every call raises
    ``storage.errors.StoreError`` (the API's 503), never a bare transport exception."""
    with InfluxTelemetryStore(influx_server.url, influx_database, timeout_s=2) as store:
        store.write([reading("sm-1", "vwc_pct", 1.0, T0)])
        calls: list[Callable[[], object]] = [
            store.ping, store.latest, lambda: store.latest(["sm-1"], "vwc_pct"),
            lambda: store.query(RangeQuery("vwc_pct", T0, T0 + 1, device_id="sm-1")),
            lambda: store.query(RangeQuery("vwc_pct", T0, T0 + DAY_MS, site_id="field-1",
                                           every_s=3600, agg=Aggregation.MEAN)),
            lambda: store.count_devices_since(T0),
            lambda: store.window_counts("vwc_pct", T0, T0 + 1, every_s=60),
            lambda: store.raw_series("vwc_pct", T0, T0 + 1),
            lambda: store.write([reading("sm-1", "vwc_pct", 2.0, T0 + MIN)]),
            lambda: store.maintain(now_ms()),
        ]
        with _influx_stopped(influx_server):
            for call in calls:
                with pytest.raises(StoreError):
                    call()


def test_a_closed_store_is_unavailable(store: TelemetryStore) -> None:
    store.write([reading("sm-1", "vwc_pct", 1.0, T0)])
    store.close()
    with pytest.raises(StoreUnavailable):
        store.write([reading("sm-1", "vwc_pct", 2.0, T0 + MIN)])
    with pytest.raises(StoreUnavailable):
        store.latest()


INJECTIONS = ["x' OR 1=1 --", "x' OR device_id =~ /.*/ --", "sm-1'; DROP DATABASE x; --", "sm-1\n"]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_attempts_are_refused(store: TelemetryStore, evil: str) -> None:
    store.write([reading("sm-1", "vwc_pct", 1.0, T0), reading("sm-2", "vwc_pct", 2.0, T0)])
    with pytest.raises(ValueError):
        store.latest(device_ids=[evil])
    with pytest.raises(ValueError):
        store.latest(device_ids=["sm-1", evil])
    with pytest.raises(ValueError):
        raw(store, evil, "vwc_pct", 0, T0 + 1)
    with pytest.raises(ValueError):
        store.query(RangeQuery("vwc_pct", 0, T0 + 1, site_id=evil))
    with pytest.raises(ValueError):
        store.latest(quantity='vwc_pct" FROM telemetry --')
    assert [p.device_id for p in raw(store, "sm-1", "vwc_pct", 0, T0 + 1)] == ["sm-1"]
    assert len(store.latest()) == 2  # nothing was dropped


@pytest.mark.parametrize(
    "bad",
    [
        reading("sm-1", "vwc_pct", float("nan"), T0 + 1),
        reading("sm-1", "vwc_pct", float("inf"), T0 + 1),
        reading("sm-1", "seq", 1.0, T0 + 1),  # would collide with InfluxDB's seq field
        reading("sm-1", "Not A Name", 1.0, T0 + 1),
    ],
    ids=["nan", "inf", "reserved", "bad-name"],
)
def test_bad_readings_reject_the_whole_batch(store: TelemetryStore, bad: Reading) -> None:
    good = reading("sm-1", "vwc_pct", 1.0, T0)
    with pytest.raises(StoreRejected):
        store.write([good, bad])
    assert store.latest() == []


# --- backend specifics -----------------------------------------------------------------------


def test_sqlite_is_durable_wal(tmp_path: Path) -> None:
    with SqliteTelemetryStore(tmp_path / "t.db") as store:
        conn = store._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SqliteTelemetryStore(path, busy_timeout_ms=5_000) as store:
        store.write([reading("sm-1", "vwc_pct", 1.0, T0)])
        with _sqlite_write_locked(path):
            started = time.monotonic()
            assert len(store.latest()) == 1
            assert len(raw(store, "sm-1", "vwc_pct", T0, T0 + 1)) == 1
            assert time.monotonic() - started < 1.0


def test_sqlite_concurrent_writer_and_readers(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def guarded(fn: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        return threading.Thread(target=run)

    with SqliteTelemetryStore(tmp_path / "t.db") as store:

        def write() -> None:
            for k in range(50):
                store.write(
                    [reading(f"sm-{d}", "vwc_pct", k, T0 + k * 1000, seq=k) for d in range(20)]
                )

        def read() -> None:
            for _ in range(50):
                seen = store.latest()
                assert len({r.device_id for r in seen}) == len(seen)  # one row per device
                store.count_devices_since(T0)

        threads = [guarded(write), guarded(read), guarded(read), guarded(read)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors
        assert store.count_devices_since(T0 + 49_000) == 20
        assert len(raw(store, "sm-0", "vwc_pct", T0, T0 + MIN)) == 50


def test_sqlite_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteTelemetryStore(tmp_path / "t.db")
    store.close()
    with pytest.raises(StoreUnavailable):
        store.latest()


def _influx_write_requests(server: InfluxServer) -> int:
    """Write requests the server has answered so far (its own ``httpd`` statistics)."""
    answer = server.query("SHOW STATS FOR 'httpd'")
    (series,) = answer["results"][0]["series"]
    return int(dict(zip(series["columns"], series["values"][0], strict=True))["writeReq"])


@pytest.mark.integration
def test_the_first_batch_of_many_devices_creates_the_influx_database(
    influx_server: InfluxServer, influx_database: str
) -> None:
    """The stored-points read before a write spans several statements (100 devices each); on a
    database that does not exist yet InfluxDB 1.6 answers it with one "not executed", which
    means nothing is stored yet, not a refusal: the batch goes in and creates the database."""
    batch = [reading(f"sm-{i:03d}", "vwc_pct", 20.0 + i % 7, T0 + i) for i in range(250)]
    with InfluxTelemetryStore(influx_server.url, influx_database) as store:
        first = store.write(batch)
        again = store.write(batch)
        assert (first.stored, first.duplicates, len(first.refused)) == (250, 0, 0)
        assert (again.stored, again.duplicates) == (0, 250)
        assert len(store.latest()) == 250


@pytest.mark.integration
def test_influx_field_type_conflict_refuses_only_that_field_in_o1_writes(
    influx_server: InfluxServer, influx_database: str
) -> None:
    """Issue 14 item 9: another writer made ``vwc_pct`` an integer in the current shard; a
    batch of 1,250 readings stores the 1,000 others in a constant number of requests and
    refuses the 250 ``vwc_pct`` readings as type conflicts with the server's message."""
    with InfluxTelemetryStore(influx_server.url, influx_database) as store:
        store.create_database()
        response = httpx.post(
            f"{influx_server.url}/write",
            params={"db": influx_database, "precision": "ms"},
            content=f"telemetry,device_id=x vwc_pct=1i {T0 - 1000}".encode(),  # same shard
        )
        assert response.status_code == 204
        quantities = ["vwc_pct", "soil_temp_c", "ec_ds_m", "battery_v", "rh_pct"]
        batch = [reading(f"sm-{d}", q, 1.5 + d, T0 + d) for d in range(250) for q in quantities]
        before = _influx_write_requests(influx_server)
        result = store.write(batch)
        writes = _influx_write_requests(influx_server) - before

        assert writes <= 2  # the batch, then the batch without vwc_pct: never one per reading
        assert (result.stored, result.duplicates) == (1_000, 0)
        assert {(f.reading.quantity, f.why) for f in result.refused} == {
            ("vwc_pct", Refused.TYPE_CONFLICT)}
        assert len(result.refused) == 250
        assert "field type conflict" in result.refused[0].detail
        assert {d for d, _, _ in store.raw_series("soil_temp_c", T0, T0 + 250)} == {
            f"sm-{d}" for d in range(250)}
        assert store.raw_series("vwc_pct", T0, T0 + 250) == []


@pytest.mark.integration
def test_influx_creates_a_missing_database_on_first_write(
    influx_server: InfluxServer, influx_database: str
) -> None:
    with InfluxTelemetryStore(influx_server.url, influx_database) as store:
        assert store.latest() == []  # no database yet reads as empty
        store.write([reading("sm-1", "vwc_pct", 1.5, T0)])
        assert [r.value for r in store.latest()] == [1.5]


@pytest.mark.integration
def test_influx_merges_a_device_message_into_one_point(
    influx_server: InfluxServer, influx_database: str
) -> None:
    with InfluxTelemetryStore(influx_server.url, influx_database) as store:
        store.write(
            [reading("sm-1", q, 1.0, T0, seq=3) for q in ("vwc_pct", "soil_temp_c", "ec_ds_m")]
        )
        answer = influx_server.query('SELECT * FROM "telemetry"', influx_database)
        (series,) = answer["results"][0]["series"]
        assert len(series["values"]) == 1


@pytest.mark.parametrize(
    "make_url",
    [
        lambda tmp, srv, db: f"sqlite:///{tmp / 'via-url.db'}",  # tmp is absolute: four slashes
        pytest.param(
            lambda tmp, srv, db: f"influxdb://127.0.0.1:{srv.port}/{db}",
            marks=pytest.mark.integration,
        ),
    ],
    ids=["sqlite", "influxdb"],
)
def test_open_store_from_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_url: Callable[[Path, InfluxServer | None, str], str],
) -> None:
    needs_influx = "influxdb" in request.node.callspec.id
    srv = request.getfixturevalue("influx_server") if needs_influx else None
    db = request.getfixturevalue("influx_database") if needs_influx else ""
    store = open_store(make_url(tmp_path, srv, db))
    try:
        r = reading("sm-1", "vwc_pct", 7.0, T0)
        store.write([r])
        assert store.latest() == [r]
    finally:
        store.close()


# --- API v2 write path against VictoriaMetrics -----------------------------------------------


def _vm_export(vm: VictoriaMetricsServer, metric: str) -> list[dict[str, Any]]:
    httpx.get(f"{vm.url}/internal/force_flush", timeout=5).raise_for_status()
    response = httpx.get(f"{vm.url}/api/v1/export", params={"match[]": metric}, timeout=5)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


@pytest.mark.integration
def test_v2_write_path_against_victoria_metrics() -> None:
    now = (int(time.time()) - 60) * 1000  # recent: inside any retention
    batch = [
        reading("sm-1", "vwc_pct", 21.5, now, seq=1)._replace(county=""),
        reading("sm-1", "soil_temp_c", 14.0, now, seq=1)._replace(county=""),
        reading("sm-1", "vwc_pct", 22.5, now + 1000, seq=2)._replace(county=""),
    ]
    with VictoriaMetricsServer() as vm:
        store = InfluxTelemetryStore(
            vm.url, api="v2", org="farm", bucket="telemetry", token="t0ken", timeout_s=5
        )
        try:
            store.write(batch)
            deadline = time.monotonic() + 15
            series = _vm_export(vm, "telemetry_vwc_pct")
            while not series and time.monotonic() < deadline:
                time.sleep(0.2)
                series = _vm_export(vm, "telemetry_vwc_pct")
            (s,) = series
            assert s["metric"] == {  # the tags arrive as labels; the empty county is omitted
                "__name__": "telemetry_vwc_pct",
                "device_id": "sm-1",
                "device_type": "soil_moisture",
                "farm_id": "farm-a",
                "site_id": "field-1",
            }
            assert s["timestamps"] == [now, now + 1000]
            assert s["values"] == [21.5, 22.5]
            assert [x["values"] for x in _vm_export(vm, "telemetry_soil_temp_c")] == [[14.0]]

            vm.stop()
            with pytest.raises(StoreUnavailable):
                store.write(batch)
        finally:
            store.close()
