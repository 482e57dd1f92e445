"""The alert repository on SQLite: uniqueness, lifecycle, audit trail, restore after restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from analytics.alerts import AlertEngine, Transition, TransitionKind, default_rules
from analytics.alerts.rules import Severity, SubjectType
from analytics.alerts.store import (
    OPEN_KEY,
    Alert,
    AlertNotFound,
    AlertRepository,
    AlertState,
    InvalidTransition,
)
from devices.directory import DeviceInfo
from farmtel.migrate import upgrade_schema
from storage.metadata import make_engine, make_session_factory
from storage.telemetry import Reading
from tests.unit.analytics.alerts.helpers import MIN, T0, feed, kinds, reading

OPENED, CHANGED, RESOLVED = (TransitionKind.OPENED, TransitionKind.SEVERITY_CHANGED,
                             TransitionKind.RESOLVED)


@pytest.fixture
def sessions(metadata_url: str) -> Iterator[sessionmaker[Any]]:
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def repo(sessions: sessionmaker[Any]) -> AlertRepository:
    return AlertRepository(sessions)


def transition(kind: TransitionKind = OPENED, *, rule_id: str = "barn.nh3_high",
               subject_id: str = "dev-1", severity: Severity = Severity.WARNING,
               ts_ms: int = T0, county: str = "shuocheng", farm: str = "farm-1",
               site: str = "site-1") -> Transition:
    return Transition(kind=kind, rule_id=rule_id, subject_type=SubjectType.DEVICE,
                      subject_id=subject_id, severity=severity, ts_ms=ts_ms, value=30.0,
                      threshold=25.0, title_zh="氨气高", title_en="NH3 high",
                      device_id=subject_id, site_id=site, farm_id=farm, county_id=county)


def test_open_then_auto_resolve(repo: AlertRepository) -> None:
    applied = repo.apply([transition()])
    assert len(applied) == 1 and applied[0].alert_id is not None
    assert applied[0].alert_id is not None
    alert = repo.get(applied[0].alert_id)
    assert (alert.state, alert.severity, alert.open_key) == ("open", "warning", OPEN_KEY)
    assert alert.opened_at.replace(tzinfo=None).isoformat() == "2026-05-01T00:00:00"
    repo.apply([transition(CHANGED, severity=Severity.CRITICAL, ts_ms=T0 + MIN)])
    repo.apply([transition(RESOLVED, ts_ms=T0 + 30 * MIN)])
    alert = repo.get(alert.id)
    assert (alert.state, alert.severity, alert.resolved_by) == ("resolved", "critical", "system")
    assert alert.open_key is None
    events = [(e.from_state, e.to_state, e.actor) for e in repo.events(alert.id)]
    assert events == [(None, "open", "system"), ("open", "open", "system"),
                      ("open", "resolved", "system")]
    assert repo.events(alert.id)[1].note == "severity warning -> critical"


def test_one_open_alert_per_rule_and_subject(repo: AlertRepository,
                                             sessions: sessionmaker[Any]) -> None:
    first = repo.apply([transition()])
    assert repo.apply([transition(ts_ms=T0 + MIN)]) == []  # duplicate OPENED: skipped
    assert len(repo.list()) == 1
    # the unique index refuses a second open row even when code is bypassed
    with sessions() as s, pytest.raises(IntegrityError):
        s.add(Alert(rule_id="barn.nh3_high", subject_type="device", subject_id="dev-1",
                    severity="warning", state="open", title_zh="x", title_en="x",
                    opened_at=repo.get(first[0].alert_id or 0).opened_at, open_key=OPEN_KEY))
        s.commit()
    # many resolved alerts may coexist with one open alert of the same (rule, subject)
    repo.apply([transition(RESOLVED, ts_ms=T0 + 2 * MIN)])
    repo.apply([transition(ts_ms=T0 + 3 * MIN)])
    repo.apply([transition(RESOLVED, ts_ms=T0 + 4 * MIN)])
    repo.apply([transition(ts_ms=T0 + 5 * MIN)])
    states = sorted(a.state for a in repo.list())
    assert states == ["open", "resolved", "resolved"]


def test_acknowledge_then_resolve_by_hand_with_audit_trail(repo: AlertRepository) -> None:
    (t,) = repo.apply([transition()])
    assert t.alert_id is not None
    acked = repo.acknowledge(t.alert_id, "agronomist.li", "fans switched on")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "agronomist.li"
    assert acked.acknowledged_at is not None and acked.note == "fans switched on"
    done = repo.resolve(t.alert_id, "agronomist.li", "NH3 back to 12 ppm")
    assert done.state == "resolved" and done.resolved_by == "agronomist.li"
    trail = [(e.from_state, e.to_state, e.actor, e.note) for e in repo.events(t.alert_id)]
    assert trail == [
        (None, "open", "system", None),
        ("open", "acknowledged", "agronomist.li", "fans switched on"),
        ("acknowledged", "resolved", "agronomist.li", "NH3 back to 12 ppm"),
    ]
    # the engine's later RESOLVED for the same episode is a no-op
    assert repo.apply([transition(RESOLVED, ts_ms=T0 + 60 * MIN)]) == []
    # a notification of the manual action
    note = done.to_transition(TransitionKind.RESOLVED, actor="agronomist.li")
    assert note.alert_id == t.alert_id and note.to_dict()["actor"] == "agronomist.li"


def test_engine_resolves_an_acknowledged_alert(repo: AlertRepository) -> None:
    (t,) = repo.apply([transition()])
    assert t.alert_id is not None
    repo.acknowledge(t.alert_id, "li")
    (r,) = repo.apply([transition(RESOLVED, ts_ms=T0 + 20 * MIN)])
    assert r.alert_id == t.alert_id
    trail = [(e.from_state, e.to_state) for e in repo.events(t.alert_id)]
    assert trail[-1] == ("acknowledged", "resolved")


def test_invalid_transitions(repo: AlertRepository) -> None:
    (t,) = repo.apply([transition()])
    assert t.alert_id is not None
    repo.acknowledge(t.alert_id, "li")
    with pytest.raises(InvalidTransition, match="only an open alert"):
        repo.acknowledge(t.alert_id, "wang")
    repo.resolve(t.alert_id, "li")
    with pytest.raises(InvalidTransition, match="already resolved"):
        repo.resolve(t.alert_id, "li")
    with pytest.raises(InvalidTransition):
        repo.acknowledge(t.alert_id, "li")
    with pytest.raises(AlertNotFound):
        repo.acknowledge(999, "li")
    with pytest.raises(AlertNotFound):
        repo.events(999)
    with pytest.raises(ValueError, match="actor"):
        repo.resolve(t.alert_id, " ")
    assert len(repo.events(t.alert_id)) == 3  # failed attempts leave no trace


def test_list_filters(repo: AlertRepository) -> None:
    repo.apply([
        transition(subject_id="a", county="shuocheng", farm="f1", site="s1"),
        transition(subject_id="b", county="shuocheng", farm="f1", site="s2",
                   severity=Severity.CRITICAL, ts_ms=T0 + MIN),
        transition(subject_id="c", county="yingxian", farm="f2", site="s3", ts_ms=T0 + 2 * MIN),
    ])
    repo.apply([transition(RESOLVED, subject_id="c", ts_ms=T0 + 3 * MIN)])
    subjects = [a.subject_id for a in repo.list()]
    assert subjects == ["c", "b", "a"]  # newest first
    assert [a.subject_id for a in repo.list(county="shuocheng")] == ["b", "a"]
    assert [a.subject_id for a in repo.list(farm="f2")] == ["c"]
    assert [a.subject_id for a in repo.list(site="s1")] == ["a"]
    assert [a.subject_id for a in repo.list(severity="critical")] == ["b"]
    assert [a.subject_id for a in repo.list(state=AlertState.RESOLVED)] == ["c"]
    assert [a.subject_id for a in repo.list(state=["open", "acknowledged"])] == ["b", "a"]
    assert [a.subject_id for a in repo.list(limit=1)] == ["c"]
    assert repo.list(county="shuocheng")[0].to_dict()["opened_at"].startswith("2026-05-01T00:01")
    with pytest.raises(ValueError):
        repo.list(state="bogus")


def test_restart_restores_without_double_firing(repo: AlertRepository) -> None:
    devices = {"sm-9": DeviceInfo("sm-9", "soil_moisture", "site-1", "farm-1", "shuocheng",
                                  None, False)}
    engine = AlertEngine(default_rules(), devices=devices)

    def nh3(v: float, i: int) -> Reading:
        return reading("nh3_ppm", v, T0 + i * 5 * MIN)

    def thi_record(t: float, rh: float, i: int) -> list[Reading]:
        return [reading("air_temp_c", t, T0 + i * 5 * MIN),
                reading("rh_pct", rh, T0 + i * 5 * MIN)]

    live = feed(engine, [nh3(30, i) for i in range(4)])
    for i in range(7):
        live += feed(engine, thi_record(30, 70, i))  # THI 81.4: moderate → warning
    live += engine.tick(T0 + 31 * MIN, {"sm-9": T0 - 30 * MIN})
    assert sorted(t.rule_id for t in live) == ["barn.nh3_high", "barn.thi", "device.no_data"]
    assert len(repo.apply(live)) == 3

    # a new process: same rules, state restored from the database
    engine2 = AlertEngine(default_rules(), devices=devices)
    engine2.restore(repo.active_alerts())
    assert sorted(a[0] for a in engine2.active()) == sorted(t.rule_id for t in live)
    again = feed(engine2, [nh3(31, i) for i in range(4, 8)])
    for i in range(7, 10):
        again += feed(engine2, thi_record(30, 70, i))
    again += engine2.tick(T0 + 46 * MIN, {"sm-9": T0 - 30 * MIN})
    assert again == []  # nothing fires twice
    # and the restored alerts resolve normally
    out = feed(engine2, [nh3(10, i) for i in range(10, 14)])
    out += engine2.observe(reading("vwc_pct", 22, T0 + 71 * MIN, device_id="sm-9",
                                   device_type="soil_moisture"))
    for i in range(10, 14):
        out += feed(engine2, thi_record(18, 50, i))
    assert sorted((t.rule_id, t.kind) for t in out) == [
        ("barn.nh3_high", RESOLVED), ("barn.thi", RESOLVED), ("device.no_data", RESOLVED)]
    applied = repo.apply(out)
    assert len(applied) == 3
    assert repo.active_alerts() == []
    assert all(a.state == "resolved" for a in repo.list())


def test_restore_keeps_the_severity_band(repo: AlertRepository) -> None:
    engine = AlertEngine(default_rules())
    out: list[Transition] = []
    for i in range(8):
        out += feed(engine, [reading("air_temp_c", 35, T0 + i * 5 * MIN),
                             reading("rh_pct", 75, T0 + i * 5 * MIN)])
    assert [(t.kind, t.severity) for t in out] == [(OPENED, Severity.CRITICAL)]
    repo.apply(out)
    engine2 = AlertEngine(default_rules())
    engine2.restore(repo.active_alerts())
    # THI 87.7 is inside the severe band's hysteresis (clear at 87): no change after restart
    assert feed(engine2, [reading("air_temp_c", 33, T0 + 50 * MIN),
                          reading("rh_pct", 80, T0 + 50 * MIN)]) == []
    out = feed(engine2, [reading("air_temp_c", 30, T0 + 55 * MIN),
                         reading("rh_pct", 70, T0 + 55 * MIN)])
    assert [(t.kind, t.severity) for t in out] == [(CHANGED, Severity.WARNING)]
    (applied,) = repo.apply(out)
    assert repo.get(applied.alert_id or 0).severity == "warning"


def test_restore_with_history_refills_windows(repo: AlertRepository) -> None:
    def rh(v: float, k: int) -> Reading:
        return reading("rh_pct", v, T0 + k * 5 * MIN, device_type="greenhouse_climate")

    def humid_hours(ts: list[Transition]) -> list[TransitionKind]:
        return kinds(t for t in ts if t.rule_id == "gh.humidity_hours")

    humid = [rh(95, k) for k in range(100)]
    assert humid_hours(feed(AlertEngine(default_rules()), humid)) == [OPENED]
    repo.apply([t for t in feed(AlertEngine(default_rules()), humid)
                if t.rule_id == "gh.humidity_hours"])
    # the process was down while the greenhouse dried out for 27 h
    dry = [rh(60, k) for k in range(100, 100 + 12 * 27)]
    after = [rh(60, k) for k in range(424, 428)]
    # with the history replayed, the restarted engine knows the 24 h window is dry
    engine = AlertEngine(default_rules())
    engine.restore(repo.active_alerts(), history=humid + dry)
    assert ("gh.humidity_hours", "dev-1", Severity.WARNING) in engine.active()
    assert humid_hours(feed(engine, after)) == [RESOLVED]
    # without it the engine cannot confirm the clear, and keeps the alert open (no false clear)
    blind = AlertEngine(default_rules())
    blind.restore(repo.active_alerts())
    assert humid_hours(feed(blind, after)) == []
    assert ("gh.humidity_hours", "dev-1", Severity.WARNING) in blind.active()
