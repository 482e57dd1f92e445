"""Hourly counting and its cache on the hand-built registry (see ``handbuilt``): figures worked
out by hand for hourly windows, identical to the per-site way, the same whether the cache is
empty, partial or full, and the refresh job's increments, final days and late readings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from analytics.indicators import definitions as d
from analytics.indicators.completeness import DeviceTable
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.counters import CachedMeterTotals
from analytics.indicators.hourly.counts import hourly_counts
from analytics.indicators.hourly.refresh import refresh_hourly_counts
from analytics.indicators.hourly.table import HourlyCountDay, cached_days, counted_quantities
from analytics.indicators.jobs import HOURLY_COUNTS_JOB_ID, hourly_counts_job, register_hourly_counts_job
from analytics.indicators.measure import EXCLUDED_GATEWAY, EXCLUDED_REVOKED, measure_hourly, measure_per_site
from analytics.indicators.periods import range_period
from analytics.indicators.registry_view import load_registry_view
from analytics.indicators.rollup import Level, rollup
from analytics.indicators.service import evaluate
from analytics.water import FlowMeterSpec, meter_totals
from storage.clock import HOUR_MS as H
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import Reading
from tests.unit.analytics.indicators._support import meter_readings
from tests.unit.analytics.indicators.handbuilt import (
    DAY,
    NO_OFFICIAL,
    PLACES,
    T0,
    WEIGHTS,
    _device,
    readings,
)

PERIOD = range_period(T0, T0 + DAY)
NOW = T0 + 2 * DAY
HOURLY = IndicatorConfig(active_threshold_pct=80.0, max_windows_per_device=24)  # 1 h windows
D1, D2 = date(2025, 6, 1), date(2025, 6, 2)  # CST days: the period is 08:00 on D1 to 08:00 on D2


def _evaluate(env, config=HOURLY, now=NOW):
    sessions, store = env
    with sessions() as s:
        return evaluate(s, store, period=PERIOD, now_ms=now, config=config, weights=WEIGHTS,
                        denominators=NO_OFFICIAL)


def test_hourly_windows_by_hand(env):
    ev = _evaluate(env)
    dev = ev.fleet.devices
    assert isinstance(dev, DeviceTable)  # counted hourly, from the store (no cache yet)
    assert ev.fleet.excluded == {"gw-b1": EXCLUDED_GATEWAY, "sm-old": EXCLUDED_REVOKED}
    # one bulk read per counted quantity: vwc_pct, air_temp_c, body_temp_c, volume_m3
    assert ev.fleet.store_queries == 4
    assert (dev["sm-f1"].expected, dev["sm-f1"].received, dev["sm-f1"].active) == (96, 96, True)
    # 18 full hours of 4 reports then silence: 72 / 96 = 75 %, 6 silent hours = 21,600 s
    assert dev["sm-f2"].completeness_pct == pytest.approx(75.0) and not dev["sm-f2"].active
    assert (dev["sm-f2"].longest_gap_s, dev["sm-f2"].gap_resolution_s) == (6 * 3600, 3600)
    # windows 40-51 of 900 s = hours 10, 11, 12: 84 / 96, a 3-hour gap
    assert (dev["sm-f3"].received, dev["sm-f3"].longest_gap_s) == (84, 3 * 3600)
    # installed at 12:00Z: 12 hours of 4 expected, all received
    assert (dev["sm-new"].expected, dev["sm-new"].received) == (48, 48)
    # 12 reports an hour for the greenhouse node; gh-g2 silent all day
    assert (dev["gh-g1"].expected, dev["gh-g1"].received) == (288, 288)
    assert dev["gh-g2"].completeness_pct == 0.0 and dev["gh-g2"].longest_gap_s == 86_400
    assert dev["fm-f1"].expected == 144 and dev["fm-f1"].active


def test_hourly_and_per_site_counting_agree(env):
    sessions, store = env
    with sessions() as s:
        view = load_registry_view(s)
    for config in (HOURLY, IndicatorConfig(max_windows_per_device=6)):  # 1 h and 4 h windows
        hourly = measure_hourly(store=store, view=view, period=PERIOD, now_ms=NOW, config=config)
        per_site = measure_per_site(store=store, view=view, period=PERIOD, now_ms=NOW, config=config)
        assert hourly is not None
        assert hourly.devices == per_site.devices and hourly.excluded == per_site.excluded
        for level in Level:
            assert rollup(view, hourly, level) == rollup(view, per_site, level), level
    # an off-hour period, over or cut by "now" mid-hour: the same again (as many windows as
    # hours, so that they are hourly: the first and last windows are covered in part)
    period = range_period(T0 + 90 * 60_000, T0 + DAY - 30 * 60_000)
    for now, hours in ((T0 + 10 * H + 7 * 60_000, 9), (T0 + 3 * DAY, 22)):
        config = IndicatorConfig(max_windows_per_device=hours)
        hourly = measure_hourly(store=store, view=view, period=period, now_ms=now, config=config)
        per_site = measure_per_site(store=store, view=view, period=period, now_ms=now, config=config)
        assert hourly is not None and hourly.devices == per_site.devices
        assert {c.gap_resolution_s for c in hourly.devices.values()} == {3600}
    # windows shorter than an hour (the default budget for one day): not counted hourly
    assert measure_hourly(store=store, view=view, period=PERIOD, now_ms=NOW,
                          config=IndicatorConfig()) is None


def test_indicators_equal_whatever_the_windows_and_the_cache(env):
    per_site = _evaluate(env, config=IndicatorConfig(active_threshold_pct=80.0))  # 15-min windows
    from_store = _evaluate(env)
    sessions, store = env
    refresh_hourly_counts(sessions, store, now_ms=NOW)
    cached = _evaluate(env)
    assert cached.fleet.store_queries == 0  # every hour of the period is cached
    assert cached.fleet.devices == from_store.fleet.devices

    def values(ev):
        return {(v.scope, v.key): (v.value, dict(v.evidence)) for v in ev.values}

    assert values(cached) == values(from_store) == values(per_site)
    v = values(cached)
    # the hand-computed figures of test_handbuilt: fields 250 of 550 亩, η 7/10
    assert v["shuocheng", d.COVERAGE_FIELD][0] == pytest.approx(100 * 250 / 550)
    assert v["shuocheng", d.IRRIGATION_COEFFICIENT][0] == pytest.approx(0.7)
    assert v["huairen", d.IRRIGATION_COEFFICIENT][1]["sources_skipped"] == ["HW1"]


def _counts(session, store, quantity, ids):
    return hourly_counts(session, store, quantity=quantity, device_ids=ids, start_ms=T0 - 8 * H,
                         end_ms=T0 + DAY + 16 * H)  # D1 and D2, whole CST days


def test_refresh_adds_hours_then_finalises_days(env):
    sessions, store = env
    ids = {"vwc_pct": sorted(did for did, p in PLACES.items() if p[4] == "vwc_pct"),
           "air_temp_c": ["barn-b1", "gh-g1", "gh-g2"]}
    # 05:00Z = 13:00 CST; 10 minutes to settle: hours 00-12 of D1 are cached
    first = refresh_hourly_counts(sessions, store, now_ms=T0 + 5 * H, lookback_days=0)
    with sessions() as s:
        assert cached_days(s, first_day=D1, last_day=D2) == {
            (D1, q): 12 for q in set(counted_quantities().values())}
        for q, devices in ids.items():
            cached, reads = _counts(s, store, q, devices)
            from_store, _ = _counts(None, store, q, devices)
            assert reads >= 1 and cached.tolist() == from_store.tolist()  # the rest from the store
    assert first.rows_written == 4 and first.hours_read == 4 * 12
    # two days later (08:00 CST on 06-03): D1 completed from 12:00 on, D2 whole, 06-03 to
    # 07:00; none is final yet
    second = refresh_hourly_counts(sessions, store, now_ms=NOW, lookback_days=2)
    assert second.hours_read == 4 * (12 + 24 + 7)
    with sessions() as s:
        rows = {(r.day, r.quantity): r for r in s.scalars(select(HourlyCountDay))}
        assert rows[D1, "vwc_pct"].hours == rows[D2, "vwc_pct"].hours == 24
        assert not rows[D1, "vwc_pct"].final
        for q, devices in ids.items():
            cached, reads = _counts(s, store, q, devices)
            assert reads == 0 and cached.tolist() == _counts(None, store, q, devices)[0].tolist()
        assert int(cached.sum()) == 288  # gh-g1's reports; gh-g2 is silent
    # a late reading for an hour already cached is not seen until the day is final
    store.write([Reading("gh-g2", "air_temp_c", 20.0, T0 + 3 * H, 0, 0, "greenhouse_climate", "G2",
                         "s3", "shuocheng")])
    with sessions() as s:
        assert int(_counts(s, store, "air_temp_c", ids["air_temp_c"])[0].sum()) == 288
    third = refresh_hourly_counts(sessions, store, now_ms=T0 + 4 * DAY, lookback_days=4)
    assert third.rows_written > 0
    with sessions() as s:
        rows = {(r.day, r.quantity): r for r in s.scalars(select(HourlyCountDay))}
        assert rows[D1, "air_temp_c"].final and rows[D2, "air_temp_c"].final
        assert int(_counts(s, store, "air_temp_c", ids["air_temp_c"])[0].sum()) == 289
    # final days are left alone; nothing new an instant later
    assert refresh_hourly_counts(sessions, store, now_ms=T0 + 4 * DAY + 1,
                                 lookback_days=4).rows_written == 0
    rebuilt = refresh_hourly_counts(sessions, store, now_ms=T0 + 4 * DAY + 1, lookback_days=4,
                                    rebuild=True)
    assert rebuilt.rows_written == 4 * 5  # 06-01 .. 06-05 (today, in part)


def test_devices_registered_after_their_days_were_cached_are_read_from_the_store(env):
    sessions, store = env
    refresh_hourly_counts(sessions, store, now_ms=NOW)
    before = _evaluate(env)
    assert before.fleet.store_queries == 0
    with sessions() as s, s.begin():  # a probe registered now, with readings of D1 (a backfill)
        _device(s, "sm-late", "soil_moisture", "F2")
    store.write([Reading("sm-late", "vwc_pct", 20.0, T0 + i * 900_000 + 60_000, i, 0,
                         "soil_moisture", "F2", "s1", "shuocheng") for i in range(96)])
    after = _evaluate(env)
    assert after.fleet.store_queries > 0
    late = after.fleet.devices["sm-late"]
    assert (late.expected, late.received, late.active) == (96, 96, True)
    with sessions() as s:
        view = load_registry_view(s)
    per_site = measure_per_site(store=store, view=view, period=PERIOD, now_ms=NOW, config=HOURLY)
    assert after.fleet.devices == per_site.devices


def test_a_day_extended_after_a_registration_keeps_the_new_device_whole(env):
    sessions, store = env
    refresh_hourly_counts(sessions, store, now_ms=T0 + 5 * H, lookback_days=0)  # D1 to 12:00 CST
    with sessions() as s, s.begin():
        _device(s, "sm-late", "soil_moisture", "F2")
    store.write([Reading("sm-late", "vwc_pct", 20.0, T0 - 8 * H + i * H, i, 0, "soil_moisture",
                         "F2", "s1", "shuocheng") for i in range(24)])  # each hour of D1
    refresh_hourly_counts(sessions, store, now_ms=NOW, lookback_days=2)  # D1 extended
    with sessions() as s:
        row = s.get(HourlyCountDay, (D1, "vwc_pct"))
        assert row is not None and row.hours == 24 and "sm-late" in row.device_ids.split()
        cached, reads = _counts(s, store, "vwc_pct", ["sm-late", "sm-f1"])
    assert reads == 0 and cached[0, :24].tolist() == [1] * 24


def test_a_partial_cache_gives_the_same_figures(env):
    sessions, store = env
    full = _evaluate(env)
    refresh_hourly_counts(sessions, store, now_ms=T0 + 5 * H, lookback_days=0)  # D1 to 12:00 CST
    partial = _evaluate(env)
    assert partial.fleet.store_queries > 0 and partial.fleet.devices == full.fleet.devices
    assert [(v.scope, v.key, v.value) for v in partial.values] == \
        [(v.scope, v.key, v.value) for v in full.values]


def test_cached_meter_totals_equal_meter_totals(env):
    sessions, store = env
    # a meter whose 1,000 m³ register wraps inside a day: 990 -> 995 -> 5 -> 10 = 20 m³;
    # a day's summary cannot tell a wrap from a reset, so this meter is read reading by reading
    store.write([Reading("fm-x", "volume_m3", v, T0 + i * H, i, 0, "flow_meter", "W1", "s1",
                         "shuocheng") for i, v in enumerate((990.0, 995.0, 5.0, 10.0))])
    # and one not in the registry (so in no cached row): read from the store, summarised
    store.write([Reading("fm-y", "volume_m3", v, T0 + i * H + 30 * 60_000, i, 0, "flow_meter", "F2",
                         "s1", "shuocheng") for i, v in enumerate((100.0, 130.0, 120.0, 170.0))])
    meters = [FlowMeterSpec("fm-w1", "source", "W1", "W1", "shuocheng"),
              FlowMeterSpec("fm-f1", "field", "F1", "W1", "shuocheng"),
              FlowMeterSpec("fm-x", "source", "W1", "W1", "shuocheng", rollover_m3=1000.0),
              FlowMeterSpec("fm-y", "field", "F2", "W1", "shuocheng")]
    expected = meter_totals(store=store, meters=meters, first_day=D1, last_day=D2)
    # 144 readings: 143 steps of 10 and 7 m³; fm-y: +30, a reset (0), +50
    assert [t.volume_m3 for t in expected] == pytest.approx([1430.0, 1001.0, 20.0, 80.0])
    refresh_hourly_counts(sessions, store, now_ms=NOW)
    for session in (None, sessions()):
        reads: list[int] = []
        got = CachedMeterTotals(session, reads)(store=store, meters=meters, first_day=D1,
                                                last_day=D2)
        assert [t.meter for t in got] == meters
        assert [t.volume_m3 for t in got] == pytest.approx([t.volume_m3 for t in expected])
        assert reads and reads[0] >= 1  # fm-x at least, read from the store


def test_registry_view_reads_attributes_and_times(env):
    sessions, _ = env
    with sessions() as s:
        view = load_registry_view(s)
        narrowed = load_registry_view(s, farm_ids={"s4"})
    fm = view.devices["fm-f1"]
    assert (fm.role, fm.source_site_id, fm.rollover_m3, fm.farm_id, fm.county_id) == (
        "field", "W1", None, "s1", "shuocheng")
    assert view.devices["sm-new"].created_ms == int(datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)
    assert view.devices["sm-old"].revoked_ms == int(datetime(2025, 5, 1, tzinfo=UTC).timestamp() * 1000)
    assert view.devices["sm-f1"].revoked_ms is None and view.devices["sm-f1"].role is None
    assert view.sites["F1"].high_standard and not view.sites["F2"].high_standard
    assert set(narrowed.devices) == {"sm-new", "sm-old"} and set(narrowed.sites) == {"F4"}
    assert np.array_equal(np.array([view.devices[k].created_ms for k in ("sm-f1", "gh-g1")]),
                          np.full(2, int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)))


def test_refresh_job_registration():
    scheduler = BackgroundScheduler(timezone="UTC")
    register_hourly_counts_job(scheduler, sessions=None, store=None)  # type: ignore[arg-type]
    register_hourly_counts_job(scheduler, sessions=None, store=None)  # type: ignore[arg-type]
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {HOURLY_COUNTS_JOB_ID}  # re-registering replaces
    assert jobs[HOURLY_COUNTS_JOB_ID].trigger.interval.total_seconds() == 600


def test_refresh_job_brings_the_cache_up_to_now(env):
    sessions, store = env
    report = hourly_counts_job(sessions, store)
    today = datetime.now(UTC).date()
    with sessions() as s:
        days = cached_days(s, first_day=today - timedelta(days=45), last_day=today + timedelta(days=1))
    assert report.rows_written == len(days) >= 4 * 40  # 40 days back, one row per quantity
    assert hourly_counts_job(sessions, store).rows_written <= 4 * 2  # then only today's hours


@pytest.mark.parametrize("seed", range(3))
def test_cached_meter_totals_on_random_meters_and_caches(env, seed):
    sessions, store = env
    rng = np.random.default_rng(seed)
    ids = [f"fm-r{i}" for i in range(12)]
    with sessions() as s, s.begin():
        for did in ids:
            _device(s, did, "flow_meter", "F2", attributes={"role": "field", "source_site_id": "W1"})
    for i, did in enumerate(ids):
        if i == 0:
            continue  # one meter never reports
        ts, values = meter_readings(rng, T0 - 6 * DAY, 13)
        if i == 1:
            ts, values = ts[ts < T0 - 4 * DAY], values[ts < T0 - 4 * DAY]  # silent from before
        store.write([Reading(did, "volume_m3", float(v), int(t), 0, 0, "flow_meter", "F2", "s1",
                             "shuocheng") for t, v in zip(ts, values, strict=True)])
    meters = [FlowMeterSpec(did, "field", "F2", "W1", "shuocheng") for did in ids]
    periods = [(D1, D1), (D1, D2), (date(2025, 5, 29), date(2025, 6, 4))]
    for now in (T0 + 5 * H, T0 + 2 * DAY, T0 + 9 * DAY):
        refresh_hourly_counts(sessions, store, now_ms=now, lookback_days=12)
        with sessions() as s:
            for first, last in periods:
                expected = meter_totals(store=store, meters=meters, first_day=first, last_day=last)
                reads: list[int] = []
                got = CachedMeterTotals(s, reads, now)(store=store, meters=meters,
                                                       first_day=first, last_day=last)
                assert [t.volume_m3 for t in got] == pytest.approx(
                    [t.volume_m3 for t in expected], rel=1e-12, abs=1e-9), (now, first, last)


def test_until_cached_measures_up_to_the_cache_and_reads_nothing_after(env, tmp_path):
    sessions, store = env
    refresh_hourly_counts(sessions, store, now_ms=T0 + 5 * H, lookback_days=0)  # to 04:00Z
    frontier = T0 + 4 * H
    config = IndicatorConfig(active_threshold_pct=80.0, max_windows_per_device=4,  # 4 x 1 h
                             until_cached=True)
    ev = _evaluate(env, config=config)
    assert ev.fleet.period.end_ms == frontier and ev.fleet.store_queries == 0
    with sessions() as s:
        view = load_registry_view(s)
    # what the exact computation gives at that instant (4 hours, hourly windows)
    exact = measure_per_site(store=store, view=view, period=PERIOD, now_ms=frontier,
                             config=IndicatorConfig(max_windows_per_device=4))
    assert ev.fleet.devices == exact.devices
    assert ev.fleet.devices["sm-f1"].expected == 16
    # the meters as a store holding only the readings before the cache's end would give them
    before = SqliteTelemetryStore(tmp_path / "before.db")
    before.write([r for r in readings() if r.ts_ms < frontier])
    meters = [FlowMeterSpec("fm-w1", "source", "W1", "W1", "shuocheng"),
              FlowMeterSpec("fm-f1", "field", "F1", "W1", "shuocheng")]
    reads: list[int] = []
    with sessions() as s:
        got = CachedMeterTotals(s, reads, NOW, until_ms=frontier)(
            store=store, meters=meters, first_day=D1, last_day=D1)
    expected = meter_totals(store=before, meters=meters, first_day=D1, last_day=D1)
    before.close()
    assert [t.volume_m3 for t in got] == pytest.approx([t.volume_m3 for t in expected])
    assert [t.volume_m3 for t in got] == pytest.approx([230.0, 161.0])  # 24 readings: 23 steps
    # without a cache reaching into the period, the option changes nothing
    assert IndicatorConfig().until_cached is False
