"""Pure parts: windows, periods, the trajectory, target and weight parsing, CSV, k-anonymity."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from analytics.indicators.completeness import device_completeness, window_grid
from analytics.indicators.export import values_csv
from analytics.indicators.periods import month_period, parse_month, previous_month
from analytics.indicators.privacy import k_anonymous
from analytics.indicators.progress import Status, progress
from analytics.indicators.reference import DenominatorKey, load_sector_weights, parse_sector_weights
from analytics.indicators.rollup import CompletenessRow, Level
from analytics.indicators.targets import packaged_target_set, parse_target_set
from analytics.jurisdictions.store import default_document
from storage.clock import HOUR_MS as H


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_cst_month_boundaries():
    p = parse_month("2025-06")
    # 2025-06-01 00:00 CST = 2025-05-31 16:00 UTC; 2025-07-01 00:00 CST = 2025-06-30 16:00 UTC
    assert (p.start_ms, p.end_ms) == (ms(2025, 5, 31, 16), ms(2025, 6, 30, 16))
    assert p.end_date == date(2025, 6, 30)
    # 2025-07-01 08:30 CST (00:30 UTC, when the job runs) -> the last complete month is June
    assert previous_month(ms(2025, 7, 1, 0, 30)).label == "2025-06"
    assert previous_month(ms(2025, 1, 1, 0, 30)).label == "2024-12"
    assert month_period(2024, 12).end_ms == ms(2024, 12, 31, 16)
    with pytest.raises(ValueError):
        parse_month("2025-13")


def test_month_windows_are_hourly_and_aligned():
    p = month_period(2025, 6)  # 30 days
    # 300 s: 8,640 intervals / 800 -> k ≥ 10.8; the smallest k dividing 8 h / 300 s = 96 is 12
    g = window_grid(interval_s=300, start_ms=p.start_ms, end_ms=p.end_ms, max_windows=800)
    assert (g.k, g.window_ms, g.n_windows) == (12, H, 720)
    assert g.first_ms == p.start_ms and g.end_ms == p.end_ms
    # 900 s: 2,880 / 800 -> k ≥ 3.6; divisors of 32: 4 -> 1 h windows
    g = window_grid(interval_s=900, start_ms=p.start_ms, end_ms=p.end_ms, max_windows=800)
    assert (g.k, g.window_ms) == (4, H)
    # a period off the window boundaries, 00:10-05:30 = 64 intervals of 300 s; at most 6
    # windows -> k ≥ 10.7 -> k = 12 (1 h); the grid runs from the window holding the start
    # (00:00) to the one holding the end (05:00-06:00); the parts outside the period are not
    # expected (see the next test)
    g = window_grid(interval_s=300, start_ms=10 * 60_000, end_ms=5 * H + 30 * 60_000,
                    max_windows=6)
    assert (g.k, g.first_ms, g.n_windows) == (12, 0, 6)
    # a short period keeps one interval per window (exact gaps)
    g = window_grid(interval_s=600, start_ms=0, end_ms=86_400_000, max_windows=800)
    assert (g.k, g.n_windows) == (1, 144)


def test_counts_are_capped_per_window_and_gaps_measured():
    g = window_grid(interval_s=300, start_ms=0, end_ms=12 * H, max_windows=12)  # k = 12, 1 h
    assert g.k == 12
    # hour 0: 30 reports (a resend storm) counts as 12; hours 1-4 silent; hour 5: 6 reports
    c = device_completeness(device_id="x", grid=g, counts={0: 30, 5 * H: 6},
                            life_start_ms=0, life_end_ms=6 * H, threshold_pct=80)
    # 6 windows expected × 12 = 72; received 12 + 6 = 18 -> 25 %; gap 4 h
    assert (c.expected, c.received, c.longest_gap_s) == (72, 18, 4 * 3600)
    assert c.completeness_pct == pytest.approx(25.0) and not c.active
    # nothing expected before the device existed
    c = device_completeness(device_id="x", grid=g, counts={}, life_start_ms=12 * H,
                            life_end_ms=12 * H, threshold_pct=80)
    assert c.expected == 0 and c.completeness_pct is None and not c.active


def test_windows_covered_in_part_expect_what_fits():
    g = window_grid(interval_s=300, start_ms=0, end_ms=12 * H, max_windows=12)  # 1 h windows
    m = 60_000
    # installed 00:50, revoked 05:30: window 0 covers 10 min (2 reports of 300 s), windows
    # 1-4 are whole (4 × 12), window 5 covers 30 min (6) -> 56 expected
    counts = {0: 2, **{i * H: 12 for i in range(1, 6)}}
    c = device_completeness(device_id="x", grid=g, counts=counts, life_start_ms=50 * m,
                            life_end_ms=5 * H + 30 * m, threshold_pct=80)
    # received: 2 + 48 + min(12, 6) = 56 (window 5 never counts more than it expects)
    assert (c.expected, c.received, c.longest_gap_s) == (56, 56, 0)
    # a life inside one window: 00:10-00:40 = 30 min -> 6 reports expected
    c = device_completeness(device_id="x", grid=g, counts={0: 5}, life_start_ms=10 * m,
                            life_end_ms=40 * m, threshold_pct=80)
    assert (c.expected, c.received) == (6, 5)


def test_progress_directions():
    on = date(2023, 6, 30)
    # 911 of 1,826 days from 2020-12-31 to 2025-12-31: expected 0.541 + 0.021 × 911/1826 ≈ 0.5515
    frac = 911 / 1826
    up = progress(value=0.55, baseline=0.541, target=0.562, on=on, baseline_year=2020,
                  target_year=2025)
    assert up.expected == pytest.approx(0.541 + 0.021 * frac)
    assert up.status is Status.BEHIND  # 0.550 < 0.5515
    assert up.progress_pct == pytest.approx(100 * (0.55 - 0.541) / 0.021)
    ahead = progress(value=0.552, baseline=0.541, target=0.562, on=on, baseline_year=2020,
                     target_year=2025)
    assert ahead.status is Status.ON_TRACK
    # a falling target (e.g. fertiliser per 亩) is on track below the line
    down = progress(value=8.0, baseline=10.0, target=5.0, on=date(2025, 12, 31),
                    baseline_year=2020, target_year=2025)
    assert down.expected == pytest.approx(5.0) and down.status is Status.BEHIND
    assert progress(value=None, baseline=1, target=2, on=on, baseline_year=2020,
                    target_year=2025).status is Status.NO_DATA


def test_packaged_targets_carry_the_plan_figures_and_sources():
    doc = packaged_target_set()
    t = doc.by_key()
    assert (t["irrigation_coefficient"].baseline, t["irrigation_coefficient"].target) == (0.541, 0.562)
    assert t["digitisation_level_pct"].target == 50 and t["info_service_coverage_pct"].target == 95
    assert t["water_saving_irrigation_area"].target == 104
    assert (t["facility_agriculture_area"].baseline, t["facility_agriculture_area"].target) == (1.71, 8.5)
    assert all(x.source_ref for x in doc.targets)
    assert parse_target_set(doc.to_json()) == doc


@pytest.mark.parametrize("broken", [
    {"targets": []},
    {"target_year": 2019},
    {"targets": [{"key": "a", "name_zh": "甲", "name_en": "a", "unit": "%", "scope": "world",
                  "source_ref": "x"}]},
    {"targets": [{"key": "a", "name_zh": "甲", "name_en": "a", "unit": "%", "target": "high",
                  "source_ref": "x"}]},
])
def test_bad_target_sets_are_refused(broken):
    doc = {**packaged_target_set().to_json(), **broken}
    with pytest.raises(ValueError):
        parse_target_set(doc)


def test_packaged_weights_and_denominators():
    w = load_sector_weights()
    assert sum(x.value for x in w.city.values()) == pytest.approx(1.0)
    assert all(x.source for x in w.city.values())
    city = {d.key: d for d in default_document().denominators if d.scope == "city"}
    assert city[DenominatorKey.FARMLAND_MU].value == 5_756_000
    assert city[DenominatorKey.FACILITY_MU].value == 17_100
    assert city[DenominatorKey.LIVESTOCK_HEAD].value == 180_000
    assert all(d.document and d.section for d in city.values())
    with pytest.raises(ValueError):
        parse_sector_weights({"version": "x", "weights": [
            {"sector": "livestock", "share": 0.9, "source": "s"},
            {"sector": "field_crops", "share": 0.9, "source": "s"}]})


def test_csv_has_bom_and_defuses_formulas():
    text = values_csv([{"scope": "city", "name_zh": "=HYPERLINK(1)", "value": -0.5}])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[1][rows[0].index("name_zh")] == "'=HYPERLINK(1)"
    assert rows[1][rows[0].index("value")] == "-0.5"


def test_k_anonymity_withholds_small_groups():
    def row(level, key, farms):
        return CompletenessRow(level, key, "c", farms, 1, 1, 1, 1, 1, 0, 0)

    kept = k_anonymous([row(Level.COUNTY, "c", 1), row(Level.TOWNSHIP, "t1", 3),
                        row(Level.TOWNSHIP, "t2", 2)], min_farms=3)
    assert [r.key for r in kept.rows] == ["c", "t1"] and kept.withheld == 1


def test_every_status_fits_the_snapshot_column():
    # PostgreSQL refuses a longer value (SQLite does not check): a snapshot would fail with a 500
    from sqlalchemy import String

    from analytics.indicators.progress import Status
    from analytics.indicators.snapshots import SnapshotValue

    column = SnapshotValue.__table__.c.status.type
    assert isinstance(column, String) and column.length is not None
    assert all(len(s.value) <= column.length for s in Status)
