"""A demo farm for page tests: the summer-drought scenario backfilled into SQLite (history,
advice, alerts), a live tail of the last two hours, monthly indicator snapshots, and one token
per role. Shared by the unit page tests and the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.periods import range_period
from analytics.indicators.snapshots import take_monthly_snapshot, take_snapshot
from api.auth import Role, issue_token, principal_for_token
from api.sessions import SessionPolicy, open_session
from devices.directory import load_devices
from devices.registry import Device
from farmtel.runtime import Metadata, build_alert_service, open_metadata
from simulators.fleet import ensure_fleet, load_fleet
from simulators.runner import FleetRunner
from simulators.scenario import run_summer_drought
from simulators.sink import StoreSink
from storage.clock import DAY_MS, HOUR_MS, cst_midnight_ms, now_ms
from storage.sqlite import SqliteTelemetryStore
from tests.helpers import ADMIN_TOKEN, settings_for


@dataclass
class WebStack:
    meta: Metadata
    store: SqliteTelemetryStore
    tokens: dict[str, str]
    drought_start: date

    def close(self) -> None:
        self.store.close()


def drought_start(today: date | None = None) -> date:
    """10 July of the latest July that is over."""
    today = today or datetime.now(UTC).date()
    year = today.year if today >= date(today.year, 8, 1) else today.year - 1
    return date(year, 7, 10)


def build_stack(tmp_path: Path, *, devices: int = 50, days: int = 7, seed: int = 7) -> WebStack:
    settings = settings_for(tmp_path)
    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, devices, seed=seed)
    start = drought_start()
    with meta.sessions() as s, s.begin():  # installed before the season, not at test time
        s.execute(update(Device).values(created_at=datetime(start.year, 4, 1, tzinfo=UTC)))
    store = SqliteTelemetryStore(tmp_path / "telemetry.db")
    alerts, close_alerts = build_alert_service(settings, meta, store, publish_mqtt=False)
    alerts.start()
    try:
        run_summer_drought(meta, store, alerts, devices=devices, seed=seed, days=days, start=start)
        with meta.sessions() as s:
            infos = load_devices(s)
        sink = StoreSink(store, infos, on_written=alerts.submit_readings)
        now = now_ms()
        runner = FleetRunner(load_fleet(meta.sessions, devices), sink, seed=seed,
                             start_ms=now - 2 * HOUR_MS, first_report_within_s=0.001)
        t = now - 2 * HOUR_MS
        while t < now:
            t = min(now, t + 300_000)
            runner.step(t)
        sink.flush()
        alerts.wait_idle(60)
    finally:
        alerts.stop()
        close_alerts()
    config = IndicatorConfig()
    after_july = int(datetime(start.year, 8, 2, tzinfo=UTC).timestamp() * 1000)
    take_monthly_snapshot(meta.sessions, store, now_ms=after_july, config=config)
    take_monthly_snapshot(meta.sessions, store, now_ms=now_ms(), config=config)
    with meta.sessions() as s:  # the bureau's own snapshot of the drought days
        first = cst_midnight_ms(start)
        take_snapshot(s, store, period=range_period(first, first + days * DAY_MS),
                      now_ms=now_ms(), config=config, created_by="市农业农村局")
    with meta.sessions() as s, s.begin():
        agronomist = issue_token(s, name="王农技", role=Role.AGRONOMIST,
                                 scope={"counties": ["shuocheng"]})
        bureau = issue_token(s, name="市农业农村局", role=Role.BUREAU)
    return WebStack(meta, store, {"admin": ADMIN_TOKEN, "agronomist": agronomist,
                                  "bureau": bureau}, start)


def page_session(meta: Metadata, token: str) -> str:
    """A page session opened for ``token`` as signing in does; its id is the cookie's value."""
    with meta.sessions() as s, s.begin():
        principal = principal_for_token(s, token)
        assert principal is not None, "not a live token"
        return open_session(s, token_id=principal.token_id, policy=SessionPolicy())


def sign_in(client: Any, token: str) -> None:
    """Sign in through the form (a TestClient keeps the session cookie)."""
    r = client.post("/web/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)
