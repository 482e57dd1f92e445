"""No-data rules: open after 3 × the report interval, clear on the next reading."""

from __future__ import annotations

from analytics.alerts import AlertEngine, TransitionKind, default_rules
from analytics.alerts.rules import Severity
from devices.directory import DeviceInfo
from tests.unit.analytics.alerts.helpers import MIN, T0, kinds, reading

OPENED, RESOLVED = TransitionKind.OPENED, TransitionKind.RESOLVED


def info(device_id: str, device_type: str = "soil_moisture", *, revoked: bool = False
         ) -> DeviceInfo:
    return DeviceInfo(device_id, device_type, "site-1", "farm-1", "shuocheng", None, revoked)


def engine_with(*devices: DeviceInfo) -> AlertEngine:
    return AlertEngine(default_rules(), devices={d.device_id: d for d in devices})


def test_opens_after_three_intervals_and_clears_on_next_reading() -> None:
    engine = engine_with(info("sm-1"))  # soil_moisture reports every 900 s: limit 45 min
    seen = {"sm-1": T0}
    assert engine.tick(T0 + 45 * MIN - 1, seen) == []
    out = engine.tick(T0 + 45 * MIN, seen)
    assert kinds(out) == [OPENED]
    t = out[0]
    assert (t.rule_id, t.subject_id, t.severity) == ("device.no_data", "sm-1", Severity.WARNING)
    assert t.value == 45 and t.threshold == 45 and t.ts_ms == T0 + 45 * MIN
    assert t.title_zh == "设备 sm-1 已 45 分钟无数据"
    # no duplicate while the device stays silent
    assert engine.tick(T0 + 60 * MIN, seen) == []
    assert engine.tick(T0 + 600 * MIN, seen) == []
    # the next reading clears it at once (no hold), whatever its quantity
    out = engine.observe(reading("ec_ds_m", 0.4, T0 + 610 * MIN, device_id="sm-1",
                                 device_type="soil_moisture"))
    assert kinds(out) == [RESOLVED]
    assert out[0].ts_ms == T0 + 610 * MIN
    # the stale map of the caller does not reopen it: the engine knows the newer reading
    assert engine.tick(T0 + 620 * MIN, seen) == []
    # a new silence opens a new alert
    assert kinds(engine.tick(T0 + 655 * MIN, seen)) == [OPENED]


def test_interval_comes_from_the_device_type() -> None:
    engine = engine_with(info("gh-1", "greenhouse_climate"), info("aws-1", "weather_station"))
    seen = {"gh-1": T0, "aws-1": T0}
    out = engine.tick(T0 + 15 * MIN, seen)  # 3 × 300 s for the greenhouse node
    assert [t.subject_id for t in out] == ["gh-1"]
    out = engine.tick(T0 + 30 * MIN, seen)  # 3 × 600 s for the weather station
    assert [t.subject_id for t in out] == ["aws-1"]


def test_clears_from_tick_when_last_seen_moves_on() -> None:
    engine = engine_with(info("sm-1"))
    assert kinds(engine.tick(T0 + 50 * MIN, {"sm-1": T0})) == [OPENED]
    # another process ingested a reading: the caller's map shows it
    out = engine.tick(T0 + 52 * MIN, {"sm-1": T0 + 51 * MIN})
    assert kinds(out) == [RESOLVED]


def test_unknown_revoked_and_never_seen_devices_are_skipped() -> None:
    engine = engine_with(info("sm-1", revoked=True), info("sm-2"))
    assert engine.tick(T0 + 600 * MIN, {"sm-1": T0, "ghost": T0}) == []


def test_devices_are_learnt_from_readings() -> None:
    engine = AlertEngine(default_rules())
    engine.observe(reading("nh3_ppm", 5, T0, device_id="barn-s1"))
    out = engine.tick(T0 + 15 * MIN, {})  # barn_climate: 3 × 300 s, from its own reading
    assert [(t.kind, t.subject_id) for t in out] == [(OPENED, "barn-s1")]
    assert engine.last_seen() == {"barn-s1": T0}


def test_late_copy_of_old_data_does_not_clear() -> None:
    engine = engine_with(info("sm-1"))
    engine.tick(T0 + 50 * MIN, {"sm-1": T0})
    old = reading("vwc_pct", 20, T0 - 15 * MIN, device_id="sm-1", device_type="soil_moisture")
    assert engine.observe(old) == []


def test_resolved_by_hand_waits_for_the_device_to_report_again() -> None:
    engine = engine_with(info("sm-1"))
    engine.tick(T0 + 50 * MIN, {"sm-1": T0})
    engine.resolved_by_hand("device.no_data", "sm-1")
    assert engine.active() == []
    assert engine.tick(T0 + 120 * MIN, {"sm-1": T0}) == []  # still silent: not reopened
    assert engine.observe(reading("vwc_pct", 20, T0 + 121 * MIN, device_id="sm-1",
                                  device_type="soil_moisture")) == []
    assert kinds(engine.tick(T0 + 170 * MIN, {})) == [OPENED]  # a new silence
