"""Alerts: inbox with filters, acknowledge and resolve with an audit trail; rules and overrides."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from analytics.alerts import apply_overrides, default_rules
from analytics.alerts.service import SiteRuleOverride
from analytics.alerts.store import Alert, AlertNotFound, AlertRepository, InvalidTransition
from analytics.alerts.transitions import TransitionKind
from api.deps import AnyRole, DbSession, FieldStaff, Principal, Services
from api.scope import ensure_site_visible, visible_farm_ids

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class AlertOut(BaseModel):
    id: int
    rule_id: str
    subject_type: str
    subject_id: str
    device_id: str
    site_id: str
    farm_id: str
    county_id: str
    severity: str
    state: str
    title_zh: str
    title_en: str
    value: float | None
    threshold: float | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


class EventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    actor: str
    note: str | None


class AlertDetail(AlertOut):
    events: list[EventOut]


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class SummaryRow(BaseModel):
    county_id: str
    severity: str
    state: str
    count: int


class RuleOut(BaseModel):
    id: str
    kind: str
    severity: str
    source: str
    title_zh: str
    title_en: str
    params: dict[str, Any]


class OverridesIn(BaseModel):
    overrides: dict[str, dict[str, Any]] = Field(
        description="{rule_id: {param: value}}; an empty object removes the site's overrides")


def _repo(services: Services) -> AlertRepository:
    return AlertRepository(services.sessions)


def _detail(repo: AlertRepository, alert: Alert) -> AlertDetail:
    events = [EventOut.model_validate(e, from_attributes=True) for e in repo.events(alert.id)]
    return AlertDetail(**AlertOut.model_validate(alert, from_attributes=True).model_dump(),
                       events=events)


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    who: FieldStaff,
    session: DbSession,
    services: Services,
    county_id: Annotated[str | None, Query(max_length=32)] = None,
    farm_id: Annotated[str | None, Query(max_length=64)] = None,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
    state: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """Alerts, newest first, filtered by county, farm, site, severity and state (an
    agronomist sees only the farms of the token's scope)."""
    return _repo(services).list(county=county_id, farm=farm_id, site=site_id,
                                severity=severity, state=state,
                                farms=visible_farm_ids(session, who), limit=limit)


@router.get("/alerts/summary", response_model=list[SummaryRow])
def alert_summary(_: AnyRole, session: DbSession) -> list[SummaryRow]:
    """Alert counts by county, severity and state (no farm-level detail: open to the bureau)."""
    rows = session.execute(select(Alert.county_id, Alert.severity, Alert.state, func.count())
                           .group_by(Alert.county_id, Alert.severity, Alert.state))
    return [SummaryRow(county_id=c, severity=s, state=st, count=n) for c, s, st, n in rows]


def _visible_alert(repo: AlertRepository, session: DbSession, who: Principal,
                   alert_id: int) -> Alert:
    """The alert, or 404 when it does not exist or lies outside the caller's scope."""
    try:
        alert = repo.get(alert_id)
    except AlertNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    farms = visible_farm_ids(session, who)
    if farms is not None and alert.farm_id not in farms:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return alert


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def get_alert(alert_id: AlertId, who: FieldStaff, session: DbSession,
              services: Services) -> AlertDetail:
    """One alert with its audit trail."""
    repo = _repo(services)
    return _detail(repo, _visible_alert(repo, session, who, alert_id))


def _change(services: Services, session: DbSession, who: Principal, alert_id: int,
            note: str | None, resolve: bool) -> AlertDetail:
    repo = _repo(services)
    _visible_alert(repo, session, who, alert_id)
    actor = who.name
    try:
        alert = (repo.resolve if resolve else repo.acknowledge)(alert_id, actor, note)
    except AlertNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if resolve:
        services.alerts.resolved_by_hand(alert.rule_id, alert.subject_id)
    kind = TransitionKind.RESOLVED if resolve else TransitionKind.ACKNOWLEDGED
    services.alerts.announce(alert.to_transition(kind, actor=actor, note=note))
    return _detail(repo, alert)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertDetail)
def acknowledge(alert_id: AlertId, body: NoteIn, who: FieldStaff, session: DbSession,
                services: Services) -> AlertDetail:
    """open → acknowledged, by the caller, with an optional note (409 from other states)."""
    return _change(services, session, who, alert_id, body.note, resolve=False)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertDetail)
def resolve(alert_id: AlertId, body: NoteIn, who: FieldStaff, session: DbSession,
            services: Services) -> AlertDetail:
    """open/acknowledged → resolved by hand, with an optional note (409 if resolved)."""
    return _change(services, session, who, alert_id, body.note, resolve=True)


def _rule_out(rule: Any) -> RuleOut:
    params = {}
    for f in dataclasses.fields(rule):
        if f.name in ("id", "source", "title_zh", "title_en", "severity"):
            continue
        value = getattr(rule, f.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = [v.value if isinstance(v, Enum) else v for v in value]
        params[f.name] = value
    return RuleOut(id=rule.id, kind=type(rule).__name__, severity=rule.severity.value,
                   source=rule.source, title_zh=rule.title_zh, title_en=rule.title_en,
                   params=params)


@router.get("/alert-rules", response_model=list[RuleOut])
def list_rules(who: FieldStaff, session: DbSession,
               site_id: Annotated[str | None, Query(max_length=64)] = None) -> list[RuleOut]:
    """The default rules with their sources, or a site's effective rules (overrides applied)."""
    rules = default_rules()
    if site_id is not None:
        ensure_site_visible(session, who, site_id)
        row = session.get(SiteRuleOverride, site_id)
        if row is not None:
            rules = apply_overrides(rules, row.overrides)
    return [_rule_out(r) for r in rules]


@router.put("/sites/{site_id}/alert-rules", response_model=list[RuleOut])
def set_site_rules(site_id: str, body: OverridesIn, who: FieldStaff, session: DbSession,
                   services: Services) -> list[RuleOut]:
    """Override default rule parameters for one site (validated; 422 on anything unknown)."""
    ensure_site_visible(session, who, site_id)
    try:
        rules = apply_overrides(default_rules(), body.overrides)
    except (ValueError, TypeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    row = session.get(SiteRuleOverride, site_id)
    if not body.overrides:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(SiteRuleOverride(site_id=site_id, overrides=body.overrides,
                                     updated_by=who.name))
    else:
        row.overrides, row.updated_by = body.overrides, who.name
    session.commit()
    services.alerts.set_site_overrides(site_id, body.overrides)
    return [_rule_out(r) for r in rules]

