"""The indicator computation on a hand-built registry (see ``handbuilt``): every expected
figure is worked out in the comments from the registry and the reported windows."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.indicators import definitions as d
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.measure import EXCLUDED_GATEWAY, EXCLUDED_REVOKED
from analytics.indicators.periods import range_period
from analytics.indicators.progress import Status, line_fraction
from analytics.indicators.reference import DenominatorKey, Denominators, SourcedValue
from analytics.indicators.rollup import Level, rollup
from analytics.indicators.service import evaluate
from tests.unit.analytics.indicators.handbuilt import DAY, NO_OFFICIAL, T0, WEIGHTS

PERIOD = range_period(T0, T0 + DAY)
NOW = T0 + 2 * DAY
CONFIG = IndicatorConfig(active_threshold_pct=80.0)


def _evaluate(env, denominators=NO_OFFICIAL, config=CONFIG):
    sessions, store = env
    with sessions() as s:
        return evaluate(s, store, period=PERIOD, now_ms=NOW, config=config, weights=WEIGHTS,
                        denominators=denominators)


def _values(ev):
    return {(v.scope, v.key): v for v in ev.values}


def test_device_completeness(env):
    ev = _evaluate(env)
    dev = ev.fleet.devices
    # the gateway has no readings of its own; sm-old was revoked before the period
    assert ev.fleet.excluded == {"gw-b1": EXCLUDED_GATEWAY, "sm-old": EXCLUDED_REVOKED}
    assert (dev["sm-f1"].expected, dev["sm-f1"].received, dev["sm-f1"].active) == (96, 96, True)
    # 72 of 96 = 75 % < 80 %: inactive; the silent last 24 windows of 900 s = 21,600 s
    assert dev["sm-f2"].completeness_pct == pytest.approx(75.0)
    assert not dev["sm-f2"].active and dev["sm-f2"].longest_gap_s == 24 * 900
    # 84 of 96 = 87.5 %; windows 40..51 silent = 12 × 900 s = 10,800 s
    assert dev["sm-f3"].completeness_pct == pytest.approx(87.5) and dev["sm-f3"].active
    assert dev["sm-f3"].longest_gap_s == 12 * 900 and dev["sm-f3"].gap_resolution_s == 900
    # installed at 12:00Z: only the 48 windows after that are expected, all received
    assert (dev["sm-new"].expected, dev["sm-new"].received) == (48, 48)
    # silent all day: 0 %, gap = the whole day
    assert dev["gh-g2"].completeness_pct == 0.0 and dev["gh-g2"].longest_gap_s == 86_400
    # one COUNT query per (site, quantity, interval): F1 soil + F1 flow, F2, F3, F4, G1, G2,
    # B1 barn climate + B1 collars, W1, HF1 soil + HF1 flow, HW1 = 13 (for 16 devices)
    assert ev.fleet.store_queries == 13


def test_rollups(env):
    ev = _evaluate(env)
    county = {r.key: r for r in rollup(ev.view, ev.fleet, Level.COUNTY)}
    sc = county["shuocheng"]
    # 12 measured devices in Shuocheng (gw-b1 and sm-old left out); expected reports:
    # soil 3 × 96 + 48 = 336, greenhouse 2 × 288 = 576, barn 288, collars 3 × 96 = 288,
    # flow 2 × 144 = 288 -> 1,776; received: soil 96 + 72 + 84 + 48 = 300, greenhouse 288,
    # barn 0, collars 192, flow 288 -> 1,068
    assert (sc.n_devices, sc.expected, sc.received) == (12, 1776, 1068)
    assert sc.completeness_pct == pytest.approx(100 * 1068 / 1776)
    # active: sm-f1, sm-f3, sm-new, gh-g1, col-1, col-2, fm-w1, fm-f1
    assert sc.n_active == 8 and sc.n_farms == 4
    assert county["yingxian"].n_devices == 0 and county["yingxian"].completeness_pct is None
    site = {r.key: r for r in rollup(ev.view, ev.fleet, Level.SITE)}
    # B1: barn-b1 288 + 3 collars × 96 = 576 expected, 192 received
    assert (site["B1"].expected, site["B1"].received, site["B1"].n_active) == (576, 192, 2)
    town = {r.key: r for r in rollup(ev.view, ev.fleet, Level.TOWNSHIP)}
    assert town["shuocheng/T1"].n_farms == 2 and town["farm:s4"].n_farms == 1


def test_sector_coverage_and_indicators(env):
    ev = _evaluate(env)
    v = _values(ev)
    # Shuocheng farmland (registered) = F1 100 + F2 300 + F3 100 + F4 50 = 550 亩; fields with an
    # active probe: F1, F3, F4 = 250 亩 -> 45.45 %
    assert v["shuocheng", d.COVERAGE_FIELD].value == pytest.approx(100 * 250 / 550)
    # greenhouses 2 + 3 = 5 亩, G1 (2 亩) active -> 40 %
    assert v["shuocheng", d.COVERAGE_FACILITY].value == pytest.approx(40.0)
    # B1 50 head, its climate sensor silent, 2 active collars -> 2/50 = 4 % (any and individual)
    assert v["shuocheng", d.COVERAGE_LIVESTOCK].value == pytest.approx(4.0)
    assert v["shuocheng", d.COVERAGE_LIVESTOCK_BARN].value == 0.0
    assert v["shuocheng", d.COVERAGE_LIVESTOCK_INDIVIDUAL].value == pytest.approx(4.0)
    # metered irrigation: F1 (active field meter) 100 亩 of 550 -> 18.18 %; 0.01 万亩
    assert v["shuocheng", d.COVERAGE_METERED].value == pytest.approx(100 * 100 / 550)
    # 高效节水灌溉面积: F1 is metered but declares no high-efficiency method -> 0 (test_water)
    assert v["shuocheng", d.WATER_SAVING_AREA].value == 0.0
    # digitisation = 0.5 × 45.45 + 0.2 × 40 + 0.3 × 4 (weights sum to 1)
    expected_sc = 0.5 * (100 * 250 / 550) + 0.2 * 40 + 0.3 * 4
    assert v["shuocheng", d.DIGITISATION].value == pytest.approx(expected_sc)
    # service units: T1 (s1, s2), T2 (s3), farm:s4 -> 3; active: T1, farm:s4 (sm-new) -> 2/3
    assert v["shuocheng", d.SERVICE_COVERAGE].value == pytest.approx(200 / 3)
    # η: W1 group (fm-w1 +10 m³, fm-f1 +7 m³ per report, same instants) = 7/10
    assert v["shuocheng", d.IRRIGATION_COEFFICIENT].value == pytest.approx(0.7)
    # high-standard F1 (100 亩) has active devices -> 0.01 万亩; facility G1 2 亩 = 0.0002 万亩
    assert v["shuocheng", d.HIGH_STANDARD_AREA].value == pytest.approx(0.01)
    assert v["shuocheng", d.FACILITY_AREA].value == pytest.approx(0.0002)

    # Huairen: only fields (HF1 200 亩, probed) -> field coverage 100 %; no greenhouse or barn
    # registered, so digitisation renormalises over field crops alone = 100 %
    assert v["huairen", d.COVERAGE_FACILITY].value is None
    assert v["huairen", d.DIGITISATION].value == pytest.approx(100.0)
    # fm-hf1 is silent, so the HW1 group is left out and η cannot be computed
    assert v["huairen", d.IRRIGATION_COEFFICIENT].value is None
    assert v["huairen", d.IRRIGATION_COEFFICIENT].evidence["sources_skipped"] == ["HW1"]
    assert v["yingxian", d.DIGITISATION].value is None

    # city: fields (250 + 200) / (550 + 200) = 60 %, facility 40 %, livestock 4 %
    assert v["city", d.COVERAGE_FIELD].value == pytest.approx(60.0)
    assert v["city", d.DIGITISATION].value == pytest.approx(0.5 * 60 + 0.2 * 40 + 0.3 * 4)
    # service units (2 + 1) / (3 + 1)
    assert v["city", d.SERVICE_COVERAGE].value == pytest.approx(75.0)
    assert v["city", d.IRRIGATION_COEFFICIENT].value == pytest.approx(0.7)


OFFICIAL = Denominators("test", {  # equal to what is registered in Shuocheng; 200 亩 in Huairen
    "shuocheng": {DenominatorKey.FARMLAND_MU: SourcedValue(550.0, "test yearbook"),
                  DenominatorKey.FACILITY_MU: SourcedValue(5.0, "test yearbook"),
                  DenominatorKey.LIVESTOCK_HEAD: SourcedValue(50.0, "test yearbook")},
    "huairen": {DenominatorKey.FARMLAND_MU: SourcedValue(200.0, "test yearbook")}}, {})


def test_registry_coverage_never_counts_toward_the_target(env):
    # no official county figure: the county values are coverage of the registered sites
    # (登记覆盖率), without target or progress, never 已达标, however high
    v = _values(_evaluate(env))
    for county in ("shuocheng", "huairen"):
        dig = v[county, d.DIGITISATION]
        assert dig.basis == "registry" and dig.progress.status is Status.REGISTRY_COVERAGE
        assert dig.progress.target is None and dig.progress.progress_pct is None
        assert dig.evidence["label_zh"] == "登记覆盖率"
    assert v["huairen", d.DIGITISATION].value == pytest.approx(100.0)


def test_progress_against_the_packaged_targets(env):
    ev = _evaluate(env, denominators=OFFICIAL)
    v = _values(ev)
    # the period ends 2025-06-02 08:00 CST -> CST date 2025-06-02
    frac = (date(2025, 6, 2) - date(2020, 12, 31)).days / (date(2025, 12, 31) - date(2020, 12, 31)).days
    assert line_fraction(on=date(2025, 6, 2), baseline_year=2020, target_year=2025) == pytest.approx(frac)
    dig = v["shuocheng", d.DIGITISATION].progress
    # no published baseline: the line starts at 0 -> expected 50 × frac ≈ 44.2 %
    assert dig.baseline_assumed and dig.expected == pytest.approx(50 * frac)
    assert dig.status is Status.BEHIND and dig.progress_pct == pytest.approx(dig.value / 50 * 100)
    assert v["huairen", d.DIGITISATION].progress.status is Status.ACHIEVED
    eta = v["shuocheng", d.IRRIGATION_COEFFICIENT].progress
    assert eta.expected == pytest.approx(0.541 + (0.562 - 0.541) * frac)
    assert eta.status is Status.ACHIEVED  # 0.7 ≥ 0.562
    # 104 万亩 is a city target: counties show no target, the city does
    assert v["shuocheng", d.WATER_SAVING_AREA].progress.status is Status.NO_TARGET
    assert v["city", d.WATER_SAVING_AREA].progress.target == 104
    assert v["city", d.WATER_SAVING_AREA].progress.status is Status.BEHIND
    assert "fertiliser_use_efficiency_pct" in ev.not_computed


def test_official_denominator_replaces_the_registered_area(env):
    official = Denominators("test", {"huairen": {
        DenominatorKey.FARMLAND_MU: SourcedValue(1000.0, "test yearbook 2024")}}, {})
    v = _values(_evaluate(env, denominators=official))
    # Huairen: 200 亩 probed of 1,000 亩 official farmland -> 20 %
    field = v["huairen", d.COVERAGE_FIELD]
    assert field.value == pytest.approx(20.0)
    assert field.evidence["denominator_source"] == "test yearbook 2024"
    # the city adds the counties' denominators: (250 + 200) / (550 + 1000)
    assert v["city", d.COVERAGE_FIELD].value == pytest.approx(100 * 450 / 1550)


def test_threshold_decides_activity(env):
    # at 70 %, sm-f2 (75 %) becomes active: Shuocheng field coverage (250 + 300) / 550 = 100 %
    v = _values(_evaluate(env, config=IndicatorConfig(active_threshold_pct=70.0)))
    assert v["shuocheng", d.COVERAGE_FIELD].value == pytest.approx(100.0)
