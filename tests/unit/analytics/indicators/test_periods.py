"""A device counts for the hours it reported: backfilled July data of devices registered in
December, a December run, a device registered late, one registered after the period."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics.indicators import definitions as d
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.measure import EXCLUDED_NOT_INSTALLED
from analytics.indicators.periods import month_period
from analytics.indicators.reference import DenominatorKey
from analytics.indicators.service import evaluate
from analytics.jurisdictions.documents import DenominatorDoc
from analytics.jurisdictions.store import record_denominator
from devices.fleet import retire_site

from ._fleet_support import add_field, add_probe, ms, open_db, probe_readings

JULY = month_period(2026, 7)
DECEMBER = month_period(2026, 12)
NOW = ms(2026, 12, 31, 12)  # after the last December reading
CONFIG = IndicatorConfig(active_threshold_pct=80.0)
REGISTERED = ms(2026, 12, 10)  # the demo registers its fleet when it starts


@pytest.fixture
def env(tmp_path, metadata_url):
    sessions, store = open_db(tmp_path, metadata_url)
    with sessions() as s, s.begin():
        add_field(s, "shuocheng", "f1", "F1", 100)
        add_field(s, "shuocheng", "f1", "F2", 300)
        add_field(s, "huairen", "f2", "F3", 50)
        add_field(s, "pinglu", "f3", "F6", 50)
        add_probe(s, "partial", "F6", REGISTERED)     # backfilled 14 days of July only
        add_probe(s, "backfilled", "F1", REGISTERED)   # July backfilled, December from Dec 1
        add_probe(s, "late", "F2", REGISTERED)         # reports from registration on
        add_probe(s, "future", "F3", ms(2027, 1, 5))   # registered after both periods, silent
    store.write(probe_readings("backfilled", "F1", "f1", "shuocheng", JULY.start_ms, JULY.end_ms))
    store.write(probe_readings("backfilled", "F1", "f1", "shuocheng", DECEMBER.start_ms, NOW))
    store.write(probe_readings("partial", "F6", "f3", "pinglu", ms(2026, 7, 10),
                               ms(2026, 7, 24)))
    store.write(probe_readings("late", "F2", "f1", "shuocheng", REGISTERED, NOW))
    yield sessions, store
    store.close()


def _run(env, period):
    sessions, store = env
    with sessions() as s:
        return evaluate(s, store, period=period, now_ms=NOW, config=CONFIG)


def test_july_backfill_counts_in_july(env):
    ev = _run(env, JULY)
    c = ev.fleet.devices["backfilled"]
    # 31 days × 96 reports, all received, although the device was registered in December
    assert (c.expected, c.received, c.active) == (31 * 96, 31 * 96, True)
    # the late device sent nothing for July and was registered after it: left out, not silent
    assert "late" not in ev.fleet.devices and ev.fleet.excluded["late"] == EXCLUDED_NOT_INSTALLED
    assert ev.fleet.excluded["future"] == EXCLUDED_NOT_INSTALLED
    values = {(v.scope, v.key): v for v in ev.values}
    # Shuocheng's registered fields: F1 100 亩 probed of 400 亩 -> 25 % (登记覆盖率)
    field = values["shuocheng", d.COVERAGE_FIELD]
    assert field.value == pytest.approx(25.0) and field.basis == "registry"
    # registered in December, 14 days of July data (a drought scenario's history): expected
    # over those 14 days only, so it covers its field in July
    p = ev.fleet.devices["partial"]
    assert (p.expected, p.received, p.active) == (14 * 96, 14 * 96, True)
    assert values["pinglu", d.COVERAGE_FIELD].value == pytest.approx(100.0)
    # the city: 150 亩 of the official 575.6万亩
    city = values["city", d.COVERAGE_FIELD]
    assert city.value == pytest.approx(100 * 150 / 5_756_000) and city.basis == "sensed"


def test_december_run_and_a_late_registration(env):
    ev = _run(env, DECEMBER)
    # December (CST) measured until NOW (Dec 31 12:00 UTC = 20:00 CST): 30 days + 20 hours
    expected_all = 30 * 96 + 20 * 4
    assert NOW - DECEMBER.start_ms == expected_all * 900_000
    b = ev.fleet.devices["backfilled"]
    assert (b.expected, b.received) == (expected_all, expected_all)
    # registered Dec 10 and silent before: expected only from its registration on (21.5 days)
    late = ev.fleet.devices["late"]
    assert late.expected == late.received == (NOW - REGISTERED) // 900_000 == 21 * 96 + 48
    assert late.active
    assert ev.fleet.excluded["future"] == EXCLUDED_NOT_INSTALLED


def test_a_retired_site_leaves_the_registered_denominator_after_its_retirement(env):
    # ops13's case: Huairen has F3 (50 亩, its probe registered in 2027), a probed field F4
    # (50 亩) and F5 (50 亩, no probe) retired on Aug 1: July still counts F5 (50 of 150 亩),
    # December does not (50 of 100 亩)
    sessions, store = env
    with sessions() as s, s.begin():
        add_field(s, "huairen", "f2", "F4", 50)
        add_field(s, "huairen", "f2", "F5", 50)
        add_probe(s, "hf4", "F4", ms(2026, 1, 1))
    with sessions() as s, s.begin():
        retire_site(s, "F5", at=datetime(2026, 8, 1, tzinfo=UTC))
    for period in (JULY, DECEMBER):
        store.write(probe_readings("hf4", "F4", "f2", "huairen", period.start_ms,
                                   min(period.end_ms, NOW)))
    july = {(v.scope, v.key): v for v in _run(env, JULY).values}
    december = {(v.scope, v.key): v for v in _run(env, DECEMBER).values}
    assert july["huairen", d.COVERAGE_FIELD].value == pytest.approx(100 * 50 / 150)
    assert december["huairen", d.COVERAGE_FIELD].value == pytest.approx(50.0)


def test_an_official_figure_below_the_registry_is_not_used(env):
    # Shuocheng registers 400 亩 of fields; an official figure of 300 亩 is out of date:
    # coverage over it would pass 100 %, so the registered 400 亩 is used, as 登记覆盖率
    sessions, _ = env
    with sessions() as s, s.begin():
        record_denominator(s, "shuozhou", DenominatorDoc(
            "shuocheng", DenominatorKey.FARMLAND_MU, 300.0, 2020, "old yearbook", ""),
            entered_by="test", valid_from=date(2020, 1, 1))
    values = {(v.scope, v.key): v for v in _run(env, JULY).values}
    field = values["shuocheng", d.COVERAGE_FIELD]
    assert field.value == pytest.approx(25.0) and field.basis == "registry"
    assert "exceeds the official 300" in field.evidence["denominator_source"]
