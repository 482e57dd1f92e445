"""The overview: counties with devices, online share and unresolved alerts; the newest alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from analytics.alerts.store import Alert
from api.auth import Principal, Role
from api.deps import AnyRole, DbSession, Services
from api.usecases.alerts import SEVERITIES, AlertFilters, last_event_id, list_alerts
from api.usecases.overview import CountyRow, county_overview
from api.usecases.registry import names
from api.web.i18n import Translator
from api.web.labels import SEVERITY_ICONS, county_names
from api.web.render import fmt_cst, render, translator
from api.web.session import base_path
from devices.registry import Site

router = APIRouter()

LIVE_ITEMS = 15


def alert_items(session: Session, alerts: Sequence[Alert], t: Translator,
                base: str) -> list[dict[str, Any]]:
    """Alerts as the overview's live list shows them (also sent by the event stream)."""
    sites = names(session, Site, (a.site_id for a in alerts))
    counties = county_names(session, t)
    return [{
        "id": a.id, "url": f"{base}/alerts/{a.id}", "severity": a.severity,
        "severity_label": t(f"severity.{a.severity}"),
        "icon": SEVERITY_ICONS.get(a.severity, "●"), "state": a.state,
        "state_label": t(f"state.{a.state}"), "title": t.pick(a.title_zh, a.title_en),
        "where": " · ".join(x for x in (counties.get(a.county_id, a.county_id),
                                        sites.get(a.site_id, a.site_id)) if x),
        "opened": fmt_cst(a.opened_at),
    } for a in alerts]


def field_staff(principal: Principal) -> bool:
    """Whether the user may see individual alerts (not the bureau)."""
    return principal.role in (Role.ADMIN, Role.AGRONOMIST)


@router.get("/")
def overview(request: Request, principal: AnyRole, session: DbSession,
             services: Services) -> Response:
    """Counties and the live list of the newest alerts."""
    t = translator(request)
    rows = county_overview(session, services.store, principal)
    total = CountyRow("", t("overview.total"), t("overview.total"), "")
    for r in rows:
        total.add(r)
    items: list[dict[str, Any]] = []
    if field_staff(principal):
        alerts = list_alerts(session, principal, AlertFilters(state=""), LIVE_ITEMS)
        items = alert_items(session, alerts, t, base_path(request))
    return render(request, "overview.html", {
        "rows": rows, "total": total, "items": items, "live_items": field_staff(principal),
        "last_event": last_event_id(session), "severities": SEVERITIES,
        "scoped": principal.role is Role.AGRONOMIST,
        "bureau": principal.role is Role.BUREAU,
    }, principal=principal, active="/")
