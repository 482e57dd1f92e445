"""Alerts inbox (filters), one alert with its audit trail, acknowledge and resolve with a note."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import RedirectResponse, Response

from analytics.alerts.store import AlertNotFound, AlertRepository, InvalidTransition
from analytics.alerts.transitions import TransitionKind
from api.deps import DbSession, Services
from api.web import data
from api.web.render import render, translator
from api.web.session import CheckedForm, FieldStaffUser, base_path
from devices.registry import Device, Farm, Site

router = APIRouter()

INBOX_LIMIT = 200
NOTE_MAX = 2000
AlertId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/alerts")
def inbox(request: Request, principal: FieldStaffUser, session: DbSession) -> Response:
    """Alerts filtered by county, farm, site, severity and state (default: unresolved)."""
    t = translator(request)
    filters = data.AlertFilters.parse(dict(request.query_params))
    alerts = data.list_alerts(session, principal, filters, INBOX_LIMIT)
    farms = data.visible_farms(session, principal, filters.county)
    sites = data.visible_sites(session, principal, county=filters.county, farm=filters.farm)
    return render(request, "alerts.html", {
        "alerts": alerts, "filters": filters, "limit": INBOX_LIMIT,
        "county_options": [(c.id, t.pick(c.name_zh, c.name_en))
                           for c in data.visible_counties(session, principal)],
        "farm_options": [(f.id, f.name) for f in farms],
        "site_options": [(s.id, f"{s.name}{t('p.open')}{s.id}{t('p.close')}") for s, _ in sites],
        "severity_options": [(s, t(f"severity.{s}")) for s in data.SEVERITIES],
        "state_options": [(data.ACTIVE, t("state.active")),
                          *[(s, t(f"state.{s}")) for s in data.STATES]],
        "site_names": data.names(session, Site, (a.site_id for a in alerts)),
        "farm_names": data.names(session, Farm, (a.farm_id for a in alerts)),
        "county_names": data.county_names(session, t),
    }, principal=principal, active="/alerts")


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: AlertId, principal: FieldStaffUser,
               session: DbSession, done: str = "") -> Response:
    """One alert, its audit trail and the acknowledge/resolve forms."""
    t = translator(request)
    alert = data.alert_if_visible(session, principal, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alert")
    device = session.get(Device, alert.device_id) if alert.device_id else None
    return render(request, "alert.html", {
        "alert": alert, "events": data.alert_events(session, alert.id),
        "site_name": data.names(session, Site, [alert.site_id]).get(alert.site_id, ""),
        "farm_name": data.names(session, Farm, [alert.farm_id]).get(alert.farm_id, ""),
        "county_name": data.county_names(session, t).get(alert.county_id, alert.county_id),
        "is_collar": device is not None and device.type == "livestock_collar",
        "done": done if done in ("acknowledged", "resolved") else "",
    }, principal=principal, active="/alerts")


def _change(request: Request, alert_id: int, principal: FieldStaffUser, session: DbSession,
            services: Services, form: dict[str, str], *, resolve: bool) -> Response:
    if data.alert_if_visible(session, principal, alert_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alert")
    note = form.get("note", "").strip()[:NOTE_MAX] or None
    repo = AlertRepository(services.sessions)
    try:
        alert = (repo.resolve if resolve else repo.acknowledge)(alert_id, principal.name, note)
    except AlertNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if resolve:
        services.alerts.resolved_by_hand(alert.rule_id, alert.subject_id)
    kind = TransitionKind.RESOLVED if resolve else TransitionKind.ACKNOWLEDGED
    services.alerts.announce(alert.to_transition(kind, actor=principal.name, note=note))
    done = "resolved" if resolve else "acknowledged"
    return RedirectResponse(f"{base_path(request)}/alerts/{alert_id}?done={done}",
                            status.HTTP_303_SEE_OTHER)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(request: Request, alert_id: AlertId, principal: FieldStaffUser,
                session: DbSession, services: Services, form: CheckedForm) -> Response:
    """open → acknowledged, by the signed-in user, with an optional note."""
    return _change(request, alert_id, principal, session, services, form, resolve=False)


@router.post("/alerts/{alert_id}/resolve")
def resolve(request: Request, alert_id: AlertId, principal: FieldStaffUser,
            session: DbSession, services: Services, form: CheckedForm) -> Response:
    """open/acknowledged → resolved by hand, with an optional note."""
    return _change(request, alert_id, principal, session, services, form, resolve=True)
