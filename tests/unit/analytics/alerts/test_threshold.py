"""Threshold rules: hysteresis, minimum duration/reports, flapping hold, late readings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from analytics.alerts import AlertEngine, TransitionKind, default_rules
from analytics.alerts.rules import Direction, Severity, SubjectType, ThresholdRule
from storage.telemetry import Quality, Reading
from tests.unit.analytics.alerts.helpers import MIN, T0, feed, kinds, reading

OPENED, CHANGED, RESOLVED = (TransitionKind.OPENED, TransitionKind.SEVERITY_CHANGED,
                             TransitionKind.RESOLVED)


def nh3_rule(**kw: object) -> ThresholdRule:
    params: dict[str, object] = {
        "id": "t.nh3", "device_types": frozenset({"barn_climate"}), "quantity": "nh3_ppm",
        "direction": Direction.ABOVE, "set_value": 25.0, "clear_value": 20.0,
        "clear_hold_s": 0, "title_zh": "氨气 {value:.0f} ppm", "title_en": "NH3 {value:.0f} ppm",
    }
    params.update(kw)
    return ThresholdRule(**params)  # type: ignore[arg-type]


def nh3_series(values: Sequence[float], start: int = T0, step_ms: int = 5 * MIN
               ) -> list[Reading]:
    return [reading("nh3_ppm", v, start + i * step_ms) for i, v in enumerate(values)]


def test_hysteresis_no_flapping_between_clear_and_set() -> None:
    engine = AlertEngine([nh3_rule()])
    out = feed(engine, nh3_series([10, 26, 22, 24.9, 21, 25.5, 20.5, 26, 20.0]))
    assert kinds(out) == [OPENED]
    opened = out[0]
    assert opened.value == 26 and opened.threshold == 25
    assert opened.subject_type is SubjectType.DEVICE and opened.subject_id == "dev-1"
    assert (opened.site_id, opened.farm_id, opened.county_id) == ("site-1", "farm-1", "shuocheng")
    assert opened.title_en == "NH3 26 ppm" and opened.title_zh == "氨气 26 ppm"
    # only past the CLEAR threshold does it resolve; a new episode needs SET again
    out = feed(engine, nh3_series([19.9, 24, 21], start=T0 + 60 * MIN))
    assert kinds(out) == [RESOLVED]
    assert out[0].threshold == 20
    out = feed(engine, nh3_series([25], start=T0 + 120 * MIN))
    assert kinds(out) == [OPENED]


def test_below_direction_low_battery_default_rule() -> None:
    engine = AlertEngine(default_rules())

    def battery(v: float, i: int) -> Reading:
        return reading("battery_v", v, T0 + i * 15 * MIN, device_type="soil_moisture")

    # four consecutive low reports are needed (radio-load dips are ignored)
    out = feed(engine, [battery(v, i) for i, v in enumerate([3.45, 3.45, 3.7, 3.45, 3.44, 3.43])])
    assert out == []
    out = feed(engine, [battery(3.42, 6)])
    assert kinds(out) == [OPENED]
    assert out[0].rule_id == "device.battery_low" and out[0].severity is Severity.WARNING
    # 3.55 V is between SET (3.5) and CLEAR (3.65): stays open
    assert feed(engine, [battery(3.55, 7), battery(3.6, 8)]) == []
    # clear must hold 600 s (default clear_hold_s) by reading time: two reports 15 min apart
    assert feed(engine, [battery(3.7, 9)]) == []
    out = feed(engine, [battery(3.72, 10)])
    assert kinds(out) == [RESOLVED]


def test_minimum_duration_by_reading_timestamps() -> None:
    engine = AlertEngine([nh3_rule(min_duration_s=900)])
    # 26 ppm at 0, 5, 10 min: not yet 15 min
    assert feed(engine, nh3_series([26, 26, 26])) == []
    out = feed(engine, nh3_series([26], start=T0 + 15 * MIN))
    assert kinds(out) == [OPENED]
    assert out[0].ts_ms == T0 + 15 * MIN


def test_minimum_duration_restarts_after_a_clear() -> None:
    engine = AlertEngine([nh3_rule(min_duration_s=900)])
    # a dip below CLEAR restarts the clock: 26, 19, then 26 from +10 min
    assert feed(engine, nh3_series([26, 19, 26, 26, 26])) == []
    out = feed(engine, nh3_series([26], start=T0 + 25 * MIN))
    assert kinds(out) == [OPENED]


def test_minimum_duration_uses_timestamps_not_report_count() -> None:
    engine = AlertEngine([nh3_rule(min_duration_s=900)])
    # a backlog flushed at once still needs 15 min of reading time
    out = feed(engine, nh3_series([26] * 10, step_ms=MIN))
    assert out == []
    out = feed(engine, nh3_series([26], start=T0 + 15 * MIN))
    assert kinds(out) == [OPENED]


def test_flapping_is_held_open_for_clear_hold() -> None:
    engine = AlertEngine([nh3_rule(clear_hold_s=600)])
    series = [26, 18, 27, 18, 26, 18, 18, 18]  # every 5 min
    out = feed(engine, nh3_series(series))
    # one alert the whole time: each re-trigger within 10 min keeps the same alert open
    assert kinds(out) == [OPENED, RESOLVED]
    # resolved 10 min after the last clear started (at index 5 = 25 min): at 35 min
    assert out[1].ts_ms == T0 + 35 * MIN


def test_one_open_alert_per_rule_and_subject_and_separate_subjects() -> None:
    engine = AlertEngine([nh3_rule()])
    out = feed(engine, nh3_series([30, 31, 40, 50]))
    out += feed(engine, [reading("nh3_ppm", 30, T0 + 30 * MIN, device_id="dev-2")])
    assert kinds(out) == [OPENED, OPENED]
    assert [t.subject_id for t in out] == ["dev-1", "dev-2"]
    assert sorted(a[1] for a in engine.active()) == ["dev-1", "dev-2"]


def test_late_readings_do_not_flip_state() -> None:
    engine = AlertEngine([nh3_rule()])
    assert kinds(feed(engine, nh3_series([30], start=T0 + 60 * MIN))) == [OPENED]
    # an older (late) clear reading and a duplicate of the last one are ignored
    assert feed(engine, [reading("nh3_ppm", 5, T0 + 30 * MIN)]) == []
    assert feed(engine, [reading("nh3_ppm", 5, T0 + 60 * MIN)]) == []
    assert engine.stats["late_ignored"] == 2
    assert [a[0] for a in engine.active()] == ["t.nh3"]
    # and a late *alarm* reading after a resolve does not reopen
    assert kinds(feed(engine, nh3_series([5], start=T0 + 90 * MIN))) == [RESOLVED]
    assert feed(engine, [reading("nh3_ppm", 99, T0 + 80 * MIN)]) == []


def test_clock_suspect_readings_are_not_evaluated() -> None:
    engine = AlertEngine([nh3_rule()])
    r = reading("nh3_ppm", 99, T0 + 10**9, quality=Quality.CLOCK_SUSPECT)
    assert engine.observe(r) == []
    # the bogus far-future timestamp did not block later good readings
    assert kinds(feed(engine, nh3_series([30]))) == [OPENED]


def test_collar_fever_needs_two_consecutive_reports() -> None:
    engine = AlertEngine(default_rules())

    def temp(v: float, i: int) -> Reading:
        return reading("body_temp_c", v, T0 + i * 15 * MIN, device_id="collar-9",
                       device_type="livestock_collar")

    assert feed(engine, [temp(38.6, 0), temp(39.6, 1), temp(39.0, 2)]) == []  # one spike
    out = feed(engine, [temp(39.6, 3), temp(39.8, 4)])
    assert kinds(out) == [OPENED]
    assert out[0].rule_id == "collar.fever" and out[0].severity is Severity.CRITICAL
    assert "39.8" in out[0].title_zh and "fever" in out[0].title_en
    assert feed(engine, [temp(39.3, 5)]) == []  # between CLEAR 39.2 and SET 39.5
    out = feed(engine, [temp(38.9, 6), temp(38.8, 7)])
    assert kinds(out) == [RESOLVED]


def test_barn_nh3_default_rule() -> None:
    engine = AlertEngine(default_rules())
    series = [reading("nh3_ppm", v, T0 + i * 5 * MIN) for i, v in
              enumerate([18, 26, 27, 28, 26])]  # 26+ from 5 min: 15 min reached at 20 min
    out = feed(engine, series)
    assert kinds(out) == [OPENED]
    assert out[0].rule_id == "barn.nh3_high" and out[0].ts_ms == T0 + 20 * MIN
    later = [reading("nh3_ppm", v, T0 + (30 + i * 5) * MIN) for i, v in
             enumerate([22, 21, 19, 19, 19])]
    out = feed(engine, later)
    assert kinds(out) == [RESOLVED]  # clear (< 20 ppm) held 10 min


@pytest.mark.parametrize("kw", [
    {"clear_value": 30.0},  # ABOVE: CLEAR beyond SET
    {"min_reports": 0},
    {"set_value": float("nan")},
    {"title_en": "NH3 {ppm}"},  # unknown template field
    {"title_zh": "  "},
    {"device_types": frozenset()},
])
def test_invalid_threshold_rules(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        nh3_rule(**kw)


def test_engine_rejects_duplicate_rule_ids() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        AlertEngine([nh3_rule(), nh3_rule()])


def test_disabled_rule_is_not_evaluated() -> None:
    engine = AlertEngine([nh3_rule(enabled=False)])
    assert feed(engine, nh3_series([50, 60])) == []


def test_resolved_by_hand_does_not_reopen_until_the_condition_clears() -> None:
    engine = AlertEngine([nh3_rule()])
    assert kinds(feed(engine, nh3_series([30]))) == [OPENED]
    engine.resolved_by_hand("t.nh3", "dev-1")
    assert engine.active() == []
    # still high: the person has seen it, no new alert
    assert feed(engine, nh3_series([31, 35, 30], start=T0 + 5 * MIN)) == []
    # a new episode (clear, then high again) opens a new alert
    assert feed(engine, nh3_series([15], start=T0 + 30 * MIN)) == []
    assert kinds(feed(engine, nh3_series([28], start=T0 + 35 * MIN))) == [OPENED]
