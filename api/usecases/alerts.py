"""Alerts: the inbox, one alert with its audit trail, acknowledge and resolve, live changes,
counts, and each site's effective rules. Every read is narrowed to the caller's farms."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.alerts import apply_overrides, default_rules
from analytics.alerts.rules import Rule
from analytics.alerts.service import SiteRuleOverride
from analytics.alerts.store import OPEN_KEY, Alert, AlertEvent, AlertRepository
from analytics.alerts.transitions import TransitionKind
from api.auth import Principal
from api.services import ApiServices
from api.usecases.scope import scoped_alerts, visible_alert, visible_site
from storage.errors import InvalidInput

SEVERITIES: Final = ("critical", "warning", "info")
STATES: Final = ("open", "acknowledged", "resolved")
ACTIVE: Final = "active"
"""The state filter meaning open or acknowledged."""


@dataclass(frozen=True, slots=True)
class AlertFilters:
    """What the inbox asks for (empty = any)."""

    county: str = ""
    farm: str = ""
    site: str = ""
    severity: str = ""
    state: str = ACTIVE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> AlertFilters:
        """Filters from query parameters; unknown severities and states are dropped."""
        severity = params.get("severity", "")
        state = params.get("state", ACTIVE)
        return cls(county=params.get("county", "")[:32], farm=params.get("farm", "")[:64],
                   site=params.get("site", "")[:64],
                   severity=severity if severity in SEVERITIES else "",
                   state=state if state in (*STATES, ACTIVE) else "")


@dataclass(frozen=True, slots=True)
class AlertWithEvents:
    """One alert and its audit trail, oldest event first."""

    alert: Alert
    events: list[AlertEvent]


@dataclass(frozen=True, slots=True)
class AlertCount:
    """Alerts of one county, severity and state."""

    county_id: str
    severity: str
    state: str
    count: int


def list_alerts(session: Session, principal: Principal, filters: AlertFilters,
                limit: int) -> list[Alert]:
    """Alerts in scope matching ``filters``, newest first, at most ``limit``."""
    q = scoped_alerts(select(Alert), session, principal)
    if filters.county:
        q = q.where(Alert.county_id == filters.county)
    if filters.farm:
        q = q.where(Alert.farm_id == filters.farm)
    if filters.site:
        q = q.where(Alert.site_id == filters.site)
    if filters.severity:
        q = q.where(Alert.severity == filters.severity)
    if filters.state == ACTIVE:
        q = q.where(Alert.open_key == OPEN_KEY)
    elif filters.state:
        q = q.where(Alert.state == filters.state)
    q = q.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
    return list(session.scalars(q))


def alert_events(session: Session, alert_id: int) -> list[AlertEvent]:
    """An alert's audit trail, oldest first."""
    return list(session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                                .order_by(AlertEvent.id)))


def get_alert(session: Session, principal: Principal, alert_id: int) -> AlertWithEvents:
    """One alert in scope with its audit trail (``NotFound`` otherwise)."""
    alert = visible_alert(session, principal, alert_id)
    return AlertWithEvents(alert, alert_events(session, alert.id))


def change_alert(session: Session, services: ApiServices, principal: Principal, alert_id: int,
                 note: str | None, *, resolve: bool) -> AlertWithEvents:
    """Acknowledge (open → acknowledged) or resolve by hand an alert in scope, by the caller,
    with an optional note; tells the alert engine. ``NotFound`` out of scope, ``Conflict``
    (``InvalidTransition``) from a state that does not allow it."""
    visible_alert(session, principal, alert_id)
    session.rollback()  # end this session's read; the repository writes in its own
    repo = AlertRepository(services.sessions)
    alert = (repo.resolve if resolve else repo.acknowledge)(alert_id, principal.name, note)
    if resolve:
        services.alerts.resolved_by_hand(alert.rule_id, alert.subject_id)
    kind = TransitionKind.RESOLVED if resolve else TransitionKind.ACKNOWLEDGED
    services.alerts.announce(alert.to_transition(kind, actor=principal.name, note=note))
    return AlertWithEvents(alert, alert_events(session, alert.id))


def alert_summary(session: Session) -> list[AlertCount]:
    """Alert counts by county, severity and state (no farm-level detail)."""
    rows = session.execute(select(Alert.county_id, Alert.severity, Alert.state, func.count())
                           .group_by(Alert.county_id, Alert.severity, Alert.state))
    return [AlertCount(c, s, st, n) for c, s, st, n in rows]


def unresolved_counts(session: Session, principal: Principal) -> dict[str, dict[str, int]]:
    """Unresolved alerts in scope by county and severity."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SEVERITIES, 0))
    q = scoped_alerts(select(Alert.county_id, Alert.severity, func.count())
                      .where(Alert.open_key == OPEN_KEY), session, principal)
    for county, severity, n in session.execute(q.group_by(Alert.county_id, Alert.severity)):
        if severity in SEVERITIES:
            out[county][severity] = int(n)
    return dict(out)


def unresolved_by_site(session: Session, site_ids: Sequence[str]) -> dict[str, int]:
    """Unresolved alerts per site (of sites the caller was shown)."""
    if not site_ids:
        return {}
    q = (select(Alert.site_id, func.count()).where(Alert.open_key == OPEN_KEY,
                                                   Alert.site_id.in_(list(site_ids)))
         .group_by(Alert.site_id))
    return {s: int(n) for s, n in session.execute(q)}


def last_event_id(session: Session) -> int:
    """The newest audit event id (every alert change writes one)."""
    return int(session.scalar(select(func.max(AlertEvent.id))) or 0)


def changed_alerts(session: Session, principal: Principal, after_event_id: int,
                   limit: int = 50) -> tuple[list[Alert], int]:
    """Alerts in scope changed since ``after_event_id`` (newest first) and the newest event id."""
    newest = last_event_id(session)
    if newest <= after_event_id:
        return [], newest
    ids = select(AlertEvent.alert_id).where(AlertEvent.id > after_event_id)
    q = scoped_alerts(select(Alert).where(Alert.id.in_(ids)), session, principal)
    return list(session.scalars(q.order_by(Alert.id.desc()).limit(limit))), newest


def _overrides(session: Session, site_id: str) -> dict[str, Any] | None:
    row = session.get(SiteRuleOverride, site_id)
    return None if row is None else dict(row.overrides)


def site_rules(session: Session, principal: Principal,
               site_id: str | None) -> tuple[Rule, ...]:
    """The default rules, or a visible site's effective rules (its overrides applied)."""
    rules = default_rules()
    if site_id is None:
        return rules
    visible_site(session, principal, site_id)
    overrides = _overrides(session, site_id)
    return rules if overrides is None else apply_overrides(rules, overrides)


def rule_param(session: Session, site_id: str, rule_id: str, name: str) -> Any:
    """A parameter of a site's effective rule (defaults where its overrides no longer fit)."""
    rules = default_rules()
    overrides = _overrides(session, site_id)
    if overrides is not None:
        try:
            rules = apply_overrides(rules, overrides)
        except (ValueError, TypeError):
            rules = default_rules()
    return next((getattr(r, name, None) for r in rules if r.id == rule_id), None)


def set_site_rules(session: Session, services: ApiServices, principal: Principal, site_id: str,
                   overrides: dict[str, dict[str, Any]]) -> tuple[Rule, ...]:
    """Override default rule parameters of a visible site (``InvalidInput`` on anything
    unknown; empty removes the overrides) and tell the engine; the effective rules."""
    visible_site(session, principal, site_id)
    try:
        rules = apply_overrides(default_rules(), overrides)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(str(exc)) from exc
    row = session.get(SiteRuleOverride, site_id)
    if not overrides:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(SiteRuleOverride(site_id=site_id, overrides=overrides,
                                     updated_by=principal.name))
    else:
        row.overrides, row.updated_by = overrides, principal.name
    session.commit()
    services.alerts.set_site_overrides(site_id, overrides)
    return rules
