"""Hourly counting, its cache and the cached meter totals against both real stores (SQLite and a
real ``influxd``): the hand-built registry and readings (``tests/unit/indicators/handbuilt``)
give the same figures whichever way they are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from analytics.indicators import definitions as d
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.counters import CachedMeterTotals
from analytics.indicators.hourly.refresh import refresh_hourly_counts
from analytics.indicators.measure import measure_hourly, measure_per_site
from analytics.indicators.periods import range_period
from analytics.indicators.registry_view import load_registry_view
from analytics.indicators.service import evaluate
from analytics.water import FlowMeterSpec, meter_totals
from farmtel.migrate import upgrade_schema
from storage.clock import HOUR_MS as H
from storage.influx import InfluxTelemetryStore
from storage.metadata import make_engine, make_session_factory
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import TelemetryStore
from tests.unit.analytics.indicators.handbuilt import (
    DAY,
    NO_OFFICIAL,
    T0,
    WEIGHTS,
    build_registry,
    readings,
)

pytestmark = pytest.mark.timeout(180)

PERIOD = range_period(T0, T0 + DAY)
NOW = T0 + 2 * DAY
HOURLY = IndicatorConfig(active_threshold_pct=80.0, max_windows_per_device=24)


@pytest.fixture(params=["sqlite", pytest.param("influx_v1", marks=pytest.mark.integration)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sessionmaker[Any], TelemetryStore]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    import analytics.indicators.snapshots  # noqa: F401  (registers the indicator tables)

    upgrade_schema(engine)
    sessions = make_session_factory(engine)
    with sessions() as s, s.begin():
        build_registry(s)
    store: SqliteTelemetryStore | InfluxTelemetryStore
    if request.param == "sqlite":
        store = SqliteTelemetryStore(tmp_path / "telemetry.db")
    else:
        server = request.getfixturevalue("influx_server")
        store = InfluxTelemetryStore(server.url, request.getfixturevalue("influx_database"))
        store.create_database()
    store.write(readings())
    try:
        yield sessions, store
    finally:
        store.close()
        engine.dispose()


def _evaluate(sessions: sessionmaker[Any], store: TelemetryStore) -> Any:
    with sessions() as s:
        return evaluate(s, store, period=PERIOD, now_ms=NOW, config=HOURLY, weights=WEIGHTS,
                        denominators=NO_OFFICIAL)


def test_every_way_of_counting_agrees(env: tuple[sessionmaker[Any], TelemetryStore]) -> None:
    sessions, store = env
    with sessions() as s:
        view = load_registry_view(s)
    per_site = measure_per_site(store=store, view=view, period=PERIOD, now_ms=NOW, config=HOURLY)
    from_store = measure_hourly(store=store, view=view, period=PERIOD, now_ms=NOW, config=HOURLY)
    assert from_store is not None and from_store.devices == per_site.devices
    assert from_store.store_queries == 4  # one bulk read per counted quantity
    uncached = _evaluate(sessions, store)
    # half a day cached, then all of it
    refresh_hourly_counts(sessions, store, now_ms=T0 + 5 * H, lookback_days=0)
    partly = _evaluate(sessions, store)
    report = refresh_hourly_counts(sessions, store, now_ms=NOW, lookback_days=2)
    assert report.rows_written == 4 * 3  # 06-01 completed, 06-02, 06-03 up to 07:00 CST
    cached = _evaluate(sessions, store)
    assert cached.fleet.store_queries == 0
    for ev in (uncached, partly, cached):
        assert ev.fleet.devices == per_site.devices
    dev = cached.fleet.devices
    assert (dev["sm-f2"].received, dev["sm-f2"].longest_gap_s) == (72, 6 * 3600)
    assert (dev["sm-new"].expected, dev["sm-new"].received) == (48, 48)

    def values(ev: Any) -> dict[tuple[str, str], Any]:
        return {(v.scope, v.key): v.value for v in ev.values}

    assert values(uncached) == values(partly) == values(cached)
    v = values(cached)
    assert v["shuocheng", d.COVERAGE_FIELD] == pytest.approx(100 * 250 / 550)
    assert v["shuocheng", d.IRRIGATION_COEFFICIENT] == pytest.approx(0.7)
    assert v["huairen", d.IRRIGATION_COEFFICIENT] is None
    assert v["city", d.SERVICE_COVERAGE] == pytest.approx(75.0)


def test_cached_meter_totals(env: tuple[sessionmaker[Any], TelemetryStore]) -> None:
    sessions, store = env
    meters = [FlowMeterSpec("fm-w1", "source", "W1", "W1", "shuocheng"),
              FlowMeterSpec("fm-f1", "field", "F1", "W1", "shuocheng"),
              FlowMeterSpec("fm-hf1", "field", "HF1", "HW1", "huairen")]
    first, last = PERIOD.end_date.replace(day=1), PERIOD.end_date
    expected = meter_totals(store=store, meters=meters, first_day=first, last_day=last)
    assert [t.volume_m3 for t in expected] == pytest.approx([1430.0, 1001.0, 0.0])
    for when in (T0 + 5 * H, NOW):
        refresh_hourly_counts(sessions, store, now_ms=when, lookback_days=2)
        with sessions() as s:
            got = CachedMeterTotals(s, [])(store=store, meters=meters, first_day=first,
                                           last_day=last)
        assert [t.volume_m3 for t in got] == pytest.approx([t.volume_m3 for t in expected])
