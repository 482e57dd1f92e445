"""Alerts: inbox with filters, acknowledge and resolve with an audit trail; rules and overrides."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from analytics.alerts.rules import Rule
from analytics.alerts.store import Alert
from api.deps import AnyRole, DbSession, FieldStaff, RowId, Services
from api.usecases import alerts as uc

router = APIRouter(tags=["alerts"])

AlertId = RowId


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


def _detail(found: uc.AlertWithEvents) -> AlertDetail:
    events = [EventOut.model_validate(e, from_attributes=True) for e in found.events]
    return AlertDetail(**AlertOut.model_validate(found.alert, from_attributes=True).model_dump(),
                       events=events)


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    who: FieldStaff,
    session: DbSession,
    county_id: Annotated[str | None, Query(max_length=32)] = None,
    farm_id: Annotated[str | None, Query(max_length=64)] = None,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
    state: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """Alerts, newest first, filtered by county, farm, site, severity and state (an
    agronomist sees only the farms of the token's scope)."""
    filters = uc.AlertFilters(county=county_id or "", farm=farm_id or "", site=site_id or "",
                              severity=severity or "", state=state or "")
    return uc.list_alerts(session, who, filters, limit)


@router.get("/alerts/summary", response_model=list[SummaryRow])
def alert_summary(_: AnyRole, session: DbSession) -> list[uc.AlertCount]:
    """Alert counts by county, severity and state (no farm-level detail: open to the bureau)."""
    return uc.alert_summary(session)


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def get_alert(alert_id: AlertId, who: FieldStaff, session: DbSession) -> AlertDetail:
    """One alert with its audit trail."""
    return _detail(uc.get_alert(session, who, alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertDetail)
def acknowledge(alert_id: AlertId, body: NoteIn, who: FieldStaff, session: DbSession,
                services: Services) -> AlertDetail:
    """open → acknowledged, by the caller, with an optional note (409 from other states)."""
    return _detail(uc.change_alert(session, services, who, alert_id, body.note, resolve=False))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertDetail)
def resolve(alert_id: AlertId, body: NoteIn, who: FieldStaff, session: DbSession,
            services: Services) -> AlertDetail:
    """open/acknowledged → resolved by hand, with an optional note (409 if resolved)."""
    return _detail(uc.change_alert(session, services, who, alert_id, body.note, resolve=True))


def _rule_out(rule: Rule) -> RuleOut:
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
    return [_rule_out(r) for r in uc.site_rules(session, who, site_id)]


@router.put("/sites/{site_id}/alert-rules", response_model=list[RuleOut])
def set_site_rules(site_id: str, body: OverridesIn, who: FieldStaff, session: DbSession,
                   services: Services) -> list[RuleOut]:
    """Override default rule parameters for one site (validated; 422 on anything unknown)."""
    return [_rule_out(r) for r in uc.set_site_rules(session, services, who, site_id,
                                                    body.overrides)]
