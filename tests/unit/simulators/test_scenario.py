"""The summer-drought demo scenario: advice, depletion alerts that irrigation clears, THI."""

from __future__ import annotations

from datetime import date

from analytics.alerts.store import AlertRepository
from farmtel.runtime import build_alert_service, open_metadata
from simulators.fleet import ensure_fleet
from simulators.scenario import run_summer_drought
from storage.sqlite import SqliteTelemetryStore
from tests.helpers import settings_for


def test_summer_drought(tmp_path):
    settings = settings_for(tmp_path)
    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, 25, seed=5)
    store = SqliteTelemetryStore(tmp_path / "t.db")
    alerts, close = build_alert_service(settings, meta, store, publish_mqtt=False)
    alerts.start()
    try:
        report = run_summer_drought(meta, store, alerts, devices=25, seed=5, days=12,
                                    start=date(2026, 7, 10))
    finally:
        alerts.stop()
        close()
        store.close()
    assert report.advice_days == 12 and report.records > 10_000
    irrigated = {site for _, site, _ in report.irrigations}
    assert irrigated, "the drought never called for irrigation"

    repo = AlertRepository(meta.sessions)
    depletion = repo.list(state=None, limit=1000)
    by_rule: dict[str, list] = {}
    for a in depletion:
        by_rule.setdefault(a.rule_id, []).append(a)
    dry = by_rule["field.depletion_raw"]
    # depletion alerts opened in the drought; those that cleared, cleared because the field
    # was irrigated (it does not rain in the dry spell), and they cleared by themselves
    resolved = [a for a in dry if a.state == "resolved"]
    assert resolved
    assert {a.site_id for a in resolved} <= irrigated
    assert all(a.resolved_by and a.resolved_by != "admin" for a in resolved), \
        [a.resolved_by for a in resolved]
    # hot afternoons in the barns: THI alerts that escalated beyond "info" (audit trail)
    escalations = [e.note for a in by_rule["barn.thi"] for e in repo.events(a.id)
                   if e.note and e.note.startswith("severity")]
    assert any(n.endswith("-> warning") or n.endswith("-> critical") for n in escalations), \
        escalations
