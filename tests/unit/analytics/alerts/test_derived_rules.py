"""Derived and windowed rules: THI bands, VPD, frost, humidity hours, rumination, depletion,
rate of change and stuck sensors."""

from __future__ import annotations

import pytest

from analytics.alerts import AlertEngine, TransitionKind, default_rules, water_balance_readings
from analytics.alerts.derived import thi, vpd_kpa
from analytics.alerts.rules import Severity, StuckSensorRule, SubjectType
from storage.telemetry import Reading
from tests.unit.analytics.alerts.helpers import DAY, HOUR, MIN, T0, feed, kinds, reading

OPENED, CHANGED, RESOLVED = (TransitionKind.OPENED, TransitionKind.SEVERITY_CHANGED,
                             TransitionKind.RESOLVED)


def climate(t_c: float, rh: float, ts: int, device_type: str) -> list[Reading]:
    """One record of a climate node: air temperature and RH with the same timestamp."""
    return [reading("air_temp_c", t_c, ts, device_type=device_type),
            reading("rh_pct", rh, ts, device_type=device_type)]


@pytest.fixture
def engine() -> AlertEngine:
    return AlertEngine(default_rules())


def test_thi_one_alert_escalates_and_deescalates_with_hysteresis(engine: AlertEngine) -> None:
    plan = ([(20, 50)] * 2 + [(25, 60)] * 7 + [(30, 70), (35, 75), (33, 80), (30, 70),
            (27, 70), (24, 60)] + [(18, 50)] * 3)
    events = []
    for i, (t, rh) in enumerate(plan):
        for tr in feed(engine, climate(t, rh, T0 + i * 5 * MIN, "barn_climate")):
            events.append((i, tr))
    got = [(i, tr.kind, tr.severity) for i, tr in events]
    assert got == [
        (8, OPENED, Severity.INFO),  # mild (THI 72.8) held 30 min (from i=2)
        (9, CHANGED, Severity.WARNING),  # moderate 81.4
        (10, CHANGED, Severity.CRITICAL),  # severe 89.9; 87.7 at i=11 stays (clear at 87)
        (12, CHANGED, Severity.WARNING),  # 81.4
        (13, CHANGED, Severity.INFO),  # 76.9 < 79 - 2; 71.4 at i=14 stays mild (clear at 70)
        (17, RESOLVED, Severity.INFO),  # 62.6 from i=15, held 10 min
    ]
    assert all(tr.rule_id == "barn.thi" for _, tr in events)
    escalation = events[1][1]
    assert escalation.previous_severity is Severity.INFO
    assert escalation.value == pytest.approx(thi(30, 70))
    assert escalation.threshold == 79.0
    assert "THI 81" in escalation.title_en


def test_thi_pairs_inputs_of_one_record_only(engine: AlertEngine) -> None:
    # RH alone never pairs with an air temperature 5 min older (skew > 60 s)
    rs = [reading("air_temp_c", 35, T0 + i * 10 * MIN, device_type="barn_climate")
          for i in range(10)]
    rs += [reading("rh_pct", 75, T0 + 5 * MIN + i * 10 * MIN, device_type="barn_climate")
           for i in range(10)]
    rs.sort(key=lambda r: r.ts_ms)
    assert feed(engine, rs) == []


def test_vpd_low_and_high_bands(engine: AlertEngine) -> None:
    assert vpd_kpa(20, 97) < 0.45 < 0.55 < vpd_kpa(20, 70) < 1.4 < 1.6 < vpd_kpa(32, 30)
    noon = T0 + 3 * HOUR  # 11:00 CST: low VPD is judged 10:00-15:00 only
    out = []
    for i in range(13):  # humid greenhouse for 60 min
        out += feed(engine, climate(20, 97, noon + i * 5 * MIN, "greenhouse_climate"))
    assert [(t.kind, t.rule_id) for t in out] == [(OPENED, "gh.vpd_low")]
    assert out[0].ts_ms == noon + 60 * MIN
    assert out[0].value == pytest.approx(vpd_kpa(20, 97))
    assert "condensation" in out[0].title_en and "饱和差过低" in out[0].title_zh
    out = []
    for i in range(13, 30):  # back in range, then hot and dry for over an hour
        t, rh = (20, 70) if i < 16 else (32, 30)
        out += feed(engine, climate(t, rh, noon + i * 5 * MIN, "greenhouse_climate"))
    assert [(t.kind, t.rule_id) for t in out] == [(RESOLVED, "gh.vpd_low"),
                                                   (OPENED, "gh.vpd_high")]


def weather(t_c: float, ts: int) -> Reading:
    return reading("air_temp_c", t_c, ts, device_id="aws-1", device_type="weather_station")


def local(h: float) -> int:
    """Local (UTC+8) clock time ``h`` on the night of 2026-05-01/02, as UTC ms."""
    return T0 + round((h - 8.0) * HOUR)


def test_frost_forecast_from_night_cooling_then_observed_then_clear(engine: AlertEngine) -> None:
    step = 10 * MIN
    events = []
    for k in range(0, 60):  # 21:00 local, 8 °C, cooling 1.5 °C/h for 10 h
        ts = local(21.0) + k * step
        t = 8.0 - 1.5 * (ts - local(21.0)) / HOUR
        events += [(k, tr) for tr in feed(engine, [weather(t, ts)])]
    # the trend needs 1.5 h of window: at 22:30 (k=9) T=5.75, +4 h lead → -0.25 °C
    k, first = events[0]
    assert (k, first.kind, first.severity) == (9, OPENED, Severity.WARNING)
    assert first.rule_id == "field.frost_risk" and first.value == pytest.approx(-0.25)
    # once the measurement itself is at/below 0 °C it escalates to critical
    k, esc = events[1]
    assert esc.kind is CHANGED and esc.severity is Severity.CRITICAL
    assert esc.value is not None and esc.value <= 0.0
    assert len(events) == 2
    # morning (07:10 local): 0.5 °C and 1.0 °C keep it critical (clear needs T > 0 + 1 °C);
    # from 1.5 °C it is clear, resolved after the 10 min hold
    out = []
    for j in range(1, 8):
        out += [(j, tr) for tr in feed(engine, [weather(0.5 * j, local(31.0) + j * step)])]
    assert [(j, tr.kind) for j, tr in out] == [(4, RESOLVED)]
    assert out[0][1].value == pytest.approx(2.0)


def test_no_frost_alert_for_slow_cooling_or_daytime_cooling(engine: AlertEngine) -> None:
    step = 10 * MIN
    slow = [weather(8.0 - 0.3 * k * step / HOUR, local(21.0) + k * step) for k in range(50)]
    assert feed(engine, slow) == []  # 8 → 5.5 °C overnight, forecast stays > 0
    # fast cooling in the afternoon (outside the night window) is not extrapolated
    day = [weather(14.0 - 3.0 * k * step / HOUR, local(14.0) + DAY + k * step)
           for k in range(24)]
    assert feed(AlertEngine(default_rules()), day) == []


def test_humidity_hours_in_trailing_24h(engine: AlertEngine) -> None:
    step = 5 * MIN

    def rh(v: float, k: int) -> Reading:
        return reading("rh_pct", v, T0 + k * step, device_type="greenhouse_climate")

    out = feed(engine, [rh(95, k) for k in range(84)])  # 83 steps credited = 6 h 55 min
    assert [t for t in out if t.rule_id == "gh.humidity_hours"] == []
    out = [t for t in feed(engine, [rh(95, 84)]) if t.rule_id == "gh.humidity_hours"]
    assert kinds(out) == [OPENED] and out[0].value == pytest.approx(7.0)
    assert "grey mould" in out[0].title_en
    # dry afterwards: the 7 humid hours stay in the 24 h window until they age out
    dry = [rh(60, k) for k in range(85, 85 + 12 * 24)]  # 24 more hours
    out = [t for t in feed(engine, dry) if t.rule_id == "gh.humidity_hours"]
    assert kinds(out) == [RESOLVED]
    # below 5 h once 25 humid steps (2 h 5 min) have aged out of the window, + 10 min hold
    assert out[0].ts_ms == T0 + 26 * HOUR + 15 * MIN


def test_collar_rumination_drop_against_own_baseline(engine: AlertEngine) -> None:
    def rum(v: float, ts: int) -> Reading:
        return reading("rumination_min", v, ts, device_id="collar-3",
                       device_type="livestock_collar")

    start = T0 - 8 * HOUR  # local midnight
    history = [rum(500 + (h % 3), start + d * DAY + h * HOUR) for d in range(7) for h in range(24)]
    # a day-2 dip does not alarm: no 3-day baseline yet
    history[30] = rum(200, history[30].ts_ms)
    assert [t for t in feed(engine, history) if t.rule_id == "collar.rumination_drop"] == []
    day8 = start + 7 * DAY
    out = feed(engine, [rum(345, day8), rum(340, day8 + HOUR)])  # ≈ 31 % below 501
    assert kinds(out) == [OPENED]
    assert out[0].rule_id == "collar.rumination_drop"
    assert out[0].value == 345
    assert out[0].threshold is not None
    assert 345 < out[0].threshold < 352  # 0.7 × the 7-day baseline (≈ 499 min)
    assert feed(engine, [rum(380, day8 + 2 * HOUR)]) == []  # 24 % below: between
    out = feed(engine, [rum(450, day8 + 3 * HOUR), rum(460, day8 + 4 * HOUR)])
    assert kinds(out) == [RESOLVED]


def test_depletion_reaching_raw_per_site(engine: AlertEngine) -> None:
    def day(n: int, dep: float, raw: float) -> list[TransitionKind]:
        rs = water_balance_readings(site_id="field-7", farm_id="farm-2", county="yingxian",
                                    ts_ms=T0 + n * DAY, depletion_mm=dep, raw_mm=raw)
        out = feed(engine, rs)
        for t in out:
            assert t.rule_id == "field.depletion_raw"
            assert t.subject_type is SubjectType.SITE and t.subject_id == "field-7"
            assert (t.farm_id, t.county_id, t.device_id) == ("farm-2", "yingxian", "")
        return kinds(out)

    assert day(0, 20.0, 40.0) == []
    assert day(1, 41.0, 40.0) == [OPENED]
    assert day(2, 38.0, 40.0) == []  # 0.95 RAW: between CLEAR (0.9) and SET
    assert day(3, 5.0, 40.0) == [RESOLVED]  # irrigated


def test_soil_vwc_rate_of_change(engine: AlertEngine) -> None:
    def vwc(v: float, k: int) -> Reading:
        return reading("vwc_pct", v, T0 + k * 15 * MIN, device_id="sm-1",
                       device_type="soil_moisture")

    values = [30.0] * 8 + [27.0, 24.0, 21.0] + [21.0] * 8
    out = [(k, t) for k, v in enumerate(values) for t in feed(engine, [vwc(v, k)])]
    assert [(k, t.kind) for k, t in out] == [(9, OPENED), (15, RESOLVED)]
    assert out[0][1].rule_id == "soil.vwc_drop"
    assert out[0][1].value is not None and out[0][1].value >= 5.0


def test_greenhouse_cooling_alert_is_gated_by_temperature(engine: AlertEngine) -> None:
    def air(v: float, k: int, day: int = 0) -> list[Reading]:
        return [reading("air_temp_c", v, T0 + day * DAY + k * 5 * MIN,
                        device_type="greenhouse_climate")]

    def cooling(t0: float, day: int) -> list[str]:
        rs = [r for k in range(13) for r in air(t0 - 0.5 * k, k, day)]  # 6 °C/h for 1 h
        return [t.rule_id for t in feed(engine, rs) if t.rule_id == "gh.air_temp_falling"]

    assert cooling(28.0, 0) == []  # venting on a warm day: 28 → 22 °C
    assert cooling(14.0, 2) == ["gh.air_temp_falling"]  # heating failure: 14 → 8 °C


def test_stuck_sensor() -> None:
    rule = StuckSensorRule(id="t.stuck", device_types=frozenset({"soil_moisture"}),
                           quantity="soil_temp_c", reports=5, epsilon=0.05, clear_hold_s=0,
                           title_zh="卡滞", title_en="stuck {value}")
    engine = AlertEngine([rule])

    def st(v: float, k: int) -> Reading:
        return reading("soil_temp_c", v, T0 + k * 15 * MIN, device_type="soil_moisture")

    assert feed(engine, [st(v, k) for k, v in enumerate([12.0, 12.3, 12.3, 12.3, 12.3])]) == []
    out = feed(engine, [st(12.32, 5)])  # 5 values within 0.05 °C
    assert kinds(out) == [OPENED] and out[0].value == pytest.approx(0.02)
    assert feed(engine, [st(12.3, 6), st(12.31, 7)]) == []
    assert kinds(feed(engine, [st(12.6, 8)])) == [RESOLVED]  # variation is back at once


def test_default_stuck_rule_window_is_long(engine: AlertEngine) -> None:
    rs = [reading("vwc_pct", 23.1, T0 + k * 15 * MIN, device_type="soil_moisture")
          for k in range(192)]
    out = [t.rule_id for t in feed(engine, rs)]
    assert out == ["soil.vwc_stuck"]  # exactly 48 h of identical values
