"""Season-bound rules across the year: frost and depletion only while a crop stands in the field,
greenhouses all year, July alerts resolved in December; greenhouse over-temperature."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from analytics.alerts import AlertEngine, TransitionKind, default_rules, water_balance_readings
from analytics.alerts.notify import FanoutNotifier
from analytics.alerts.rules import Severity, SubjectType
from analytics.alerts.seasons import OUT_OF_SEASON_NOTE, SeasonCalendar, SiteSeason, season_of
from analytics.alerts.service import AlertService
from analytics.alerts.store import AlertRepository
from analytics.alerts.transitions import ActiveAlert
from devices.fleet import edit_site
from devices.provisioning import create_farm, create_site
from devices.registry import Farm, Site, seed_counties
from farmtel.migrate import upgrade_schema
from storage.clock import cst_midnight_ms
from storage.metadata import make_engine, make_session_factory
from storage.telemetry import Reading
from tests.unit.analytics.alerts.helpers import DAY, HOUR, MIN, feed, kinds, reading

OPENED, RESOLVED = TransitionKind.OPENED, TransitionKind.RESOLVED
MAIZE = season_of("field", "maize", date(2026, 5, 1))  # FAO-56 Table 11 grain maize: 30+40+50+30 = 150 days
GREENHOUSE = season_of("greenhouse", "tomato", date(2026, 2, 1))


def utc_ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def test_a_field_holds_its_crop_from_planting_to_the_end_of_the_season() -> None:
    assert MAIZE.window is not None
    assert (MAIZE.window.first, MAIZE.window.end) == (date(2026, 5, 1), date(2026, 9, 28))
    first_ms, end_ms = MAIZE.window.bounds_ms
    assert first_ms == cst_midnight_ms(date(2026, 5, 1)) == utc_ms(2026, 4, 30, 16)
    assert not MAIZE.crop_in_field(first_ms - 1)  # 23:59:59.999 CST the day before planting
    assert MAIZE.crop_in_field(first_ms)
    assert MAIZE.crop_in_field(utc_ms(2026, 7, 15))
    assert MAIZE.crop_in_field(end_ms - 1) and not MAIZE.crop_in_field(end_ms)
    assert not MAIZE.crop_in_field(utc_ms(2026, 12, 7))


@pytest.mark.parametrize(("season", "in_december"), [
    (season_of("field", None, date(2026, 5, 1)), False),  # bare field: no crop to protect
    (season_of("field", "maize", None), False),  # crop without a planting date: not sown
    (season_of("field", "apple", date(2020, 4, 1)), True),  # no FAO-56 season: perennial
    (GREENHOUSE, True),
    (season_of("barn", None, None), True),
])
def test_sites_without_an_annual_crop_window(season: SiteSeason, in_december: bool) -> None:
    assert season.crop_in_field(utc_ms(2026, 12, 7, 20)) is in_december


def frost_night(start_ms: int, site_id: str) -> list[Reading]:
    """A weather station cooling 1.5 °C/h from 8 °C at 21:00 CST, every 10 min for 10 h."""
    return [reading("air_temp_c", 8.0 - 1.5 * k / 6, start_ms + k * 10 * MIN,
                    device_type="weather_station", site_id=site_id, device_id=f"ws-{site_id}")
            for k in range(60)]


def test_no_frost_alert_on_a_harvested_field_in_december_but_in_season_and_greenhouses() -> None:
    engine = AlertEngine(default_rules(), seasons={"maize-field": MAIZE, "gh-1": GREENHOUSE})
    december_night = cst_midnight_ms(date(2026, 12, 7)) + 21 * HOUR
    assert feed(engine, frost_night(december_night, "maize-field")) == []  # -13.7 °C never opens
    out = feed(engine, frost_night(december_night, "gh-1"))
    assert [t.rule_id for t in out if t.kind is OPENED] == ["field.frost_risk"]
    may_night = cst_midnight_ms(date(2026, 5, 20)) + 21 * HOUR
    engine = AlertEngine(default_rules(), seasons={"maize-field": MAIZE})
    out = feed(engine, frost_night(may_night, "maize-field"))
    assert [(t.rule_id, t.kind) for t in out][:1] == [("field.frost_risk", OPENED)]


def test_a_frost_alert_open_at_harvest_resolves_with_the_first_reading_after_it() -> None:
    engine = AlertEngine(default_rules(), seasons={"maize-field": MAIZE})
    assert MAIZE.window is not None
    last_night = MAIZE.window.bounds_ms[1] - DAY + 21 * HOUR  # 21:00 CST of the last day
    out = feed(engine, frost_night(last_night, "maize-field")[:24])  # until 01:00 of harvest
    assert kinds(out) == [OPENED, RESOLVED]
    resolved = out[-1]
    assert resolved.note == OUT_OF_SEASON_NOTE and resolved.ts_ms >= MAIZE.window.bounds_ms[1]


def depletion(site_id: str, ts_ms: int, dr: float) -> list[Reading]:
    return list(water_balance_readings(site_id=site_id, farm_id="farm-1", county="huairen",
                                       ts_ms=ts_ms, depletion_mm=dr, raw_mm=30.0))


def test_a_july_depletion_alert_restored_in_december_is_resolved_by_the_next_tick() -> None:
    """The service restarts in December with July's open alert in the database: its field's
    season ended, no water-balance reading will ever clear it, the clock does."""
    july = utc_ms(2026, 7, 24, 15)
    engine = AlertEngine(default_rules(), seasons={"f1": MAIZE})
    engine.restore([ActiveAlert(rule_id="field.depletion_raw", subject_type=SubjectType.SITE,
                                subject_id="f1", severity=Severity.WARNING, opened_ms=july,
                                value=34.0, device_id="", site_id="f1", farm_id="farm-1",
                                county_id="huairen")])
    assert engine.tick(utc_ms(2026, 9, 1), {}) == []  # still in season: stays open
    out = engine.tick(utc_ms(2026, 12, 7, 2), {})
    assert [(t.kind, t.rule_id, t.subject_id, t.note) for t in out] == [
        (RESOLVED, "field.depletion_raw", "f1", OUT_OF_SEASON_NOTE)]
    assert engine.active() == [] and engine.tick(utc_ms(2026, 12, 8), {}) == []
    # a December water balance (the job ran on a bare field) does not reopen it
    assert feed(engine, depletion("f1", utc_ms(2026, 12, 8, 16), 60.0)) == []


def test_in_season_depletion_still_opens_and_a_new_calendar_applies_without_restart() -> None:
    engine = AlertEngine(default_rules(), seasons={"f1": season_of("field", None, None)})
    assert feed(engine, depletion("f1", utc_ms(2027, 5, 20, 16), 40.0)) == []  # bare
    engine.set_seasons({"f1": season_of("field", "maize", date(2027, 5, 1))})  # sown
    out = feed(engine, depletion("f1", utc_ms(2027, 5, 21, 16), 40.0))
    assert kinds(out) == [OPENED] and out[0].note is None


def greenhouse(t_c: float, ts_ms: int) -> Reading:
    return reading("air_temp_c", t_c, ts_ms, device_type="greenhouse_climate", site_id="gh-1")


def test_greenhouse_over_temperature_holds_30_min_then_clears_below_32_c() -> None:
    engine = AlertEngine(default_rules())
    t0 = utc_ms(2026, 7, 10, 5)  # 13:00 CST
    plan = [33.0, 35.5, 37.0, 38.5, 40.0, 39.0, 36.0, 33.0, 32.5, 31.5, 31.0, 30.0, 29.5]

    def opened_or_resolved() -> list[tuple[int, TransitionKind, float | None]]:
        out = []
        for i, t_c in enumerate(plan):
            for tr in feed(engine, [greenhouse(t_c, t0 + i * 10 * MIN)]):
                if tr.rule_id == "gh.air_temp_high":
                    out.append((i, tr.kind, tr.value))
        return out

    got = opened_or_resolved()
    # ≥ 35 °C from i=1; held 30 min at i=4 (40 °C); 33-32.5 °C keep it (clear < 32 °C);
    # 31.5 °C at i=9 starts the clear, resolved after the default 10 min hold at i=10
    assert got == [(4, OPENED, 40.0), (10, RESOLVED, 31.0)]
    rule = next(r for r in default_rules() if r.id == "gh.air_temp_high")
    assert "FAO" in rule.source and "35" in rule.source


@pytest.fixture
def sessions(metadata_url: str) -> Iterator[sessionmaker[Any]]:
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        seed_counties(s)
        create_farm(s, Farm(id="farm-1", name="一号农场", county_id="huairen"))
        create_site(s, Site(id="f1", farm_id="farm-1", kind="field", name="1号地块",
                            area_mu=30.0, crop="maize", planting_date=date(2026, 5, 1)))
        s.commit()
    yield factory
    engine.dispose()


def test_the_service_resolves_a_stale_alert_and_follows_registry_edits(
        sessions: sessionmaker[Any]) -> None:
    """December on real metadata (SQLite and PostgreSQL): July's open depletion alert is
    resolved with its reason in the audit trail; re-sowing the field brings the rule back."""
    repo = AlertRepository(sessions)
    engine = AlertEngine(default_rules())
    july = utc_ms(2026, 7, 24, 15)
    opened = engine.observe_many(depletion("f1", july, 40.0))
    [alert] = repo.apply(opened)
    assert alert.alert_id is not None
    service = AlertService(AlertEngine(default_rules()), repo, FanoutNotifier([]),
                           seasons=SeasonCalendar(sessions).changed)
    service.start()
    try:
        service.tick(utc_ms(2026, 12, 7, 2))
        assert service.wait_idle()
        stored = repo.get(alert.alert_id)
        assert stored.state == "resolved"
        assert [(e.to_state, e.actor, e.note) for e in repo.events(alert.alert_id)][-1] == (
            "resolved", "system", OUT_OF_SEASON_NOTE)
        with sessions() as s:  # a late crop sown on 1 December (a registry edit)
            edit_site(s, "f1", {"planting_date": date(2026, 12, 1)})
            s.commit()
        service.tick(utc_ms(2026, 12, 7, 3))
        service.water_balance([("f1", "farm-1", "huairen", utc_ms(2026, 12, 7, 16), 40.0, 30.0)])
        assert service.wait_idle()
        [reopened] = [a for a in repo.list() if a.state == "open"]
        assert reopened.rule_id == "field.depletion_raw" and reopened.id != alert.alert_id
    finally:
        service.stop()


def humid(ts_ms: int) -> list[Reading]:
    """A closed greenhouse: 14 °C and 97 % RH, VPD 0.05 kPa."""
    return [reading(q, v, ts_ms, device_type="greenhouse_climate", site_id="gh-1")
            for q, v in (("air_temp_c", 14.0), ("rh_pct", 97.0))]


@pytest.mark.parametrize(("start_cst_h", "opens"), [(20, False), (2, False), (16, False), (11, True)])
def test_low_vpd_is_judged_in_daylight_only(start_cst_h: int, opens: bool) -> None:
    engine = AlertEngine(default_rules())
    start = cst_midnight_ms(date(2026, 12, 7)) + start_cst_h * HOUR
    out = [t for k in range(12)  # two hours, every 10 min
           for t in feed(engine, humid(start + k * 10 * MIN)) if t.rule_id == "gh.vpd_low"]
    assert kinds(out) == ([OPENED] if opens else [])


def test_a_site_override_can_judge_low_vpd_all_day() -> None:
    engine = AlertEngine(default_rules(), site_overrides={"gh-1": {"gh.vpd_low": {"local_hours": None}}})
    start = cst_midnight_ms(date(2026, 12, 7)) + 20 * HOUR
    out = [t for k in range(13) for t in feed(engine, humid(start + k * 10 * MIN))
           if t.rule_id == "gh.vpd_low"]
    assert kinds(out) == [OPENED]
