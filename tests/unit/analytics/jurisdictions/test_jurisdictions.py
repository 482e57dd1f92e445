"""Jurisdictions as data: a second one (Lingyuan, county-level city, units = townships)
loads from its data file and computes its indicators; denominators and reported values are
versioned, never overwritten; every indicator of the plan appears in every scope."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from analytics.indicators import definitions as d
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.immutable import ImmutableRowError
from analytics.indicators.periods import month_period
from analytics.indicators.progress import Status
from analytics.indicators.reference import DenominatorKey
from analytics.indicators.service import evaluate
from analytics.jurisdictions.documents import DenominatorDoc, packaged_json, parse_jurisdiction
from analytics.jurisdictions.store import (
    denominator_history,
    denominators_at,
    jurisdictions,
    record_denominator,
    record_reported,
)
from tests.unit.analytics.indicators._fleet_support import (
    add_field,
    add_probe,
    ms,
    open_db,
    probe_readings,
)

PERIOD = month_period(2026, 7)
NOW = ms(2026, 8, 2)
CONFIG = IndicatorConfig(active_threshold_pct=80.0)
LINGYUAN = "jurisdiction_lingyuan.json"


@pytest.fixture
def env(tmp_path, metadata_url):
    sessions, store = open_db(tmp_path, metadata_url, extra=[LINGYUAN])
    with sessions() as s, s.begin():
        add_field(s, "ly-songzhangzi", "ly1", "LF1", 120)
        add_field(s, "ly-daoerdeng", "ly2", "LF2", 80)
        add_field(s, "shuocheng", "sz1", "SF1", 500)
        for dev, site in (("ly-p1", "LF1"), ("ly-p2", "LF2"), ("sz-p1", "SF1")):
            add_probe(s, dev, site, ms(2026, 1, 1))
    store.write(probe_readings("ly-p1", "LF1", "ly1", "ly-songzhangzi", PERIOD.start_ms,
                               PERIOD.end_ms))
    store.write(probe_readings("sz-p1", "SF1", "sz1", "shuocheng", PERIOD.start_ms, PERIOD.end_ms))
    yield sessions, store
    store.close()


def _values(env, jurisdiction=None):
    sessions, store = env
    with sessions() as s:
        ev = evaluate(s, store, period=PERIOD, now_ms=NOW, config=CONFIG,
                      jurisdiction_id=jurisdiction)
    return ev, {(v.scope, v.key): v for v in ev.values}


def test_a_second_jurisdiction_loads_from_data_and_computes(env):
    sessions, _ = env
    with sessions() as s:
        found = {j.row.id: j for j in jurisdictions(s)}
    assert set(found) == {"shuozhou", "lingyuan"}
    assert found["lingyuan"].unit_ids[:2] == ("ly-siguanyingzi", "ly-daoerdeng")
    ev, v = _values(env, "lingyuan")
    assert ev.jurisdiction_name_zh == "凌源市" and ev.targets.version == "lingyuan-2021"
    assert set(ev.view.counties) == set(found["lingyuan"].unit_ids)  # no Shuozhou county
    assert "sz-p1" not in ev.fleet.devices and ev.fleet.devices["ly-p1"].active
    # the city figure over Lingyuan's official farmland (86万亩): 120 亩 probed
    field = v["city", d.COVERAGE_FIELD]
    assert field.value == pytest.approx(100 * 120 / 860_000) and field.basis == "sensed"
    assert "86万亩" in field.evidence["denominator_source"]
    # a township without an official figure: coverage of its registered fields
    assert v["ly-songzhangzi", d.COVERAGE_FIELD].value == pytest.approx(100.0)
    assert v["ly-songzhangzi", d.COVERAGE_FIELD].progress.status is Status.REGISTRY_COVERAGE
    assert v["ly-daoerdeng", d.COVERAGE_FIELD].value == pytest.approx(0.0)
    # every target of Lingyuan's plan appears for the city, with a value or a reason
    for t in ev.targets.targets:
        row = v["city", t.key]
        assert row.value is not None or row.reason, t.key
    assert v["city", "power_reliability_pct"].basis == "reported"
    assert "no value entered for 2026" in (v["city", "power_reliability_pct"].reason or "")
    # and the packaged jurisdiction sees only its own counties
    ev_sz, _ = _values(env)
    assert ev_sz.jurisdiction_id == "shuozhou" and "ly-p1" not in ev_sz.fleet.devices


def test_every_plan_indicator_appears_with_groups(env):
    ev, v = _values(env)
    scopes = {v.scope for v in ev.values}
    assert {"group:先行示范", "group:整体推进", "group:重点帮扶", "city"} <= scopes
    for scope in scopes:
        for t in ev.targets.targets:
            row = v[scope, t.key]
            assert row.value is not None or row.reason, (scope, t.key)
    assert len(ev.targets.targets) >= 31  # 26 table rows and the text targets
    # 先行示范 = Shuocheng + Huairen: 500 亩 probed of 500 registered (no official county figure)
    group = v["group:先行示范", d.COVERAGE_FIELD]
    assert group.value == pytest.approx(100.0) and group.progress.status is Status.REGISTRY_COVERAGE
    dig = v["city", d.DIGITISATION]
    assert dig.basis == "sensed" and dig.value < 0.01 and dig.progress.status is Status.BEHIND
    sources = {c["sector"]: c["weight_source"] for c in dig.evidence["components"]}
    assert all(sources.values())


def test_reported_values_and_denominators_are_versioned(env):
    sessions, _ = env
    doc = DenominatorDoc("shuocheng", DenominatorKey.FARMLAND_MU, 1_000.0, 2024, "统计年鉴 2025",
                         "p. 12")
    with sessions() as s, s.begin():
        first = record_denominator(s, "shuozhou", doc, entered_by="admin-a",
                                   valid_from=date(2024, 1, 1))
        record_denominator(s, "shuozhou", DenominatorDoc(
            "shuocheng", DenominatorKey.FARMLAND_MU, 2_000.0, 2025, "统计年鉴 2026", "p. 14"),
            entered_by="admin-b", valid_from=date(2026, 7, 15))
        record_reported(s, "shuozhou", scope="city", key="fertiliser_use_efficiency_pct",
                        year=2026, value=41.0, unit="%", document="农业农村局 2026 年报",
                        section="表 3", entered_by="admin-a")
    with sessions() as s:
        assert [r.value for r in denominator_history(s, "shuozhou", "shuocheng")] == [2000, 1000]
        older = denominators_at(s, "shuozhou", date(2026, 7, 1)).official(
            "shuocheng", DenominatorKey.FARMLAND_MU)
        assert older is not None and older.value == 1_000.0
        row = s.get(type(first), first.id)
        row.value = 5.0
        with pytest.raises(ImmutableRowError):
            s.flush()
    _, v = _values(env)  # July ends on 2026-07-31: the 2,000 亩 version is valid from 07-15
    field = v["shuocheng", d.COVERAGE_FIELD]
    assert field.value == pytest.approx(100 * 500 / 2_000) and field.basis == "sensed"
    assert field.evidence["denominator_source"] == "统计年鉴 2026, p. 14 (2025); entered by admin-b"
    fert = v["city", "fertiliser_use_efficiency_pct"]
    assert (fert.value, fert.basis, fert.progress.target) == (41.0, "reported", 43.0)
    assert "农业农村局 2026 年报" in fert.evidence["source"]


def test_bad_jurisdiction_documents_are_refused():
    good = packaged_json(LINGYUAN)
    parse_jurisdiction(good)
    broken: dict[str, Any]
    for broken in ({"id": "Bad Id"}, {"units": []},
                   {"denominators": [{"scope": "nowhere", "key": "farmland_mu", "value": 1,
                                      "year": 2020, "document": "x"}]},
                   {"denominators": [{"scope": "city", "key": "farmland_mu", "value": 1,
                                      "year": 2020, "document": ""}]}):
        with pytest.raises(ValueError):
            parse_jurisdiction({**good, **broken})
