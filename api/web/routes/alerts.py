"""Alerts inbox (filters), one alert with its audit trail, acknowledge and resolve with a note."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from analytics.alerts.transitions import SYSTEM_NOTES
from api.deps import DbSession, FieldStaff, RowId, Services
from api.usecases import alerts as uc
from api.usecases.registry import names, visible_counties, visible_farms, visible_sites
from api.web.labels import county_names
from api.web.render import render, translator
from api.web.session import CheckedForm, base_path
from devices.registry import Device, Farm, Site

router = APIRouter()

INBOX_LIMIT = 200
NOTE_MAX = 2000
AlertId = RowId


@router.get("/alerts")
def inbox(request: Request, principal: FieldStaff, session: DbSession) -> Response:
    """Alerts filtered by county, farm, site, severity and state (default: unresolved)."""
    t = translator(request)
    filters = uc.AlertFilters.parse(dict(request.query_params))
    alerts = uc.list_alerts(session, principal, filters, INBOX_LIMIT)
    county = filters.county or None
    farms = visible_farms(session, principal, county)
    sites = visible_sites(session, principal, county=county, farm=filters.farm or None)
    return render(request, "alerts.html", {
        "alerts": alerts, "filters": filters, "limit": INBOX_LIMIT,
        "county_options": [(c.id, t.pick(c.name_zh, c.name_en))
                           for c in visible_counties(session, principal)],
        "farm_options": [(f.id, f.name) for f in farms],
        "site_options": [(s.id, f"{s.name}{t('p.open')}{s.id}{t('p.close')}") for s, _ in sites],
        "severity_options": [(s, t(f"severity.{s}")) for s in uc.SEVERITIES],
        "state_options": [(uc.ACTIVE, t("state.active")),
                          *[(s, t(f"state.{s}")) for s in uc.STATES]],
        "site_names": names(session, Site, (a.site_id for a in alerts)),
        "farm_names": names(session, Farm, (a.farm_id for a in alerts)),
        "county_names": county_names(session, t),
    }, principal=principal, active="/alerts")


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: AlertId, principal: FieldStaff,
               session: DbSession, done: str = "") -> Response:
    """One alert, its audit trail and the acknowledge/resolve forms."""
    t = translator(request)
    found = uc.get_alert(session, principal, alert_id)
    alert = found.alert
    device = session.get(Device, alert.device_id) if alert.device_id else None
    return render(request, "alert.html", {
        "alert": alert, "events": found.events,
        "site_name": names(session, Site, [alert.site_id]).get(alert.site_id, ""),
        "farm_name": names(session, Farm, [alert.farm_id]).get(alert.farm_id, ""),
        "county_name": county_names(session, t).get(alert.county_id, alert.county_id),
        "is_collar": device is not None and device.type == "livestock_collar",
        "system_notes": SYSTEM_NOTES,
        "done": done if done in ("acknowledged", "resolved") else "",
    }, principal=principal, active="/alerts")


def _change(request: Request, alert_id: int, principal: FieldStaff, session: DbSession,
            services: Services, form: dict[str, str], *, resolve: bool) -> Response:
    note = form.get("note", "").strip()[:NOTE_MAX] or None
    uc.change_alert(session, services, principal, alert_id, note, resolve=resolve)
    done = "resolved" if resolve else "acknowledged"
    return RedirectResponse(f"{base_path(request)}/alerts/{alert_id}?done={done}",
                            status.HTTP_303_SEE_OTHER)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(request: Request, alert_id: AlertId, principal: FieldStaff,
                session: DbSession, services: Services, form: CheckedForm) -> Response:
    """open → acknowledged, by the signed-in user, with an optional note."""
    return _change(request, alert_id, principal, session, services, form, resolve=False)


@router.post("/alerts/{alert_id}/resolve")
def resolve(request: Request, alert_id: AlertId, principal: FieldStaff,
            session: DbSession, services: Services, form: CheckedForm) -> Response:
    """open/acknowledged → resolved by hand, with an optional note."""
    return _change(request, alert_id, principal, session, services, form, resolve=True)
