"""What the pages show, read from the registry, the alerts tables and the store, within the
caller's scope (agronomists see their farms; admin and bureau every farm; the bureau is only
ever given county aggregates by the pages that use these helpers)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.alerts import apply_overrides, default_rules
from analytics.alerts.service import SiteRuleOverride
from analytics.alerts.store import OPEN_KEY, Alert, AlertEvent
from api.deps import ApiServices, Principal
from api.routes.devices import list_devices
from api.schemas import DeviceOut
from api.scope import farm_clause, visible_farm_ids
from api.web.i18n import Translator
from devices.registry import County, Device, Farm, Site

SEVERITIES = ("critical", "warning", "info")
STATES = ("open", "acknowledged", "resolved")
ACTIVE = "active"  # open or acknowledged
SEVERITY_ICONS = {"critical": "◆", "warning": "▲", "info": "●"}
"""Severity shapes: meaning never rests on colour alone."""


@dataclass
class CountyRow:
    """One county on the overview."""

    id: str
    name: str
    plan_group: str
    devices: int = 0
    online: int = 0
    alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))

    @property
    def online_pct(self) -> float | None:
        """Online share [%]; None without devices."""
        return None if self.devices == 0 else 100.0 * self.online / self.devices


@dataclass(frozen=True, slots=True)
class AlertFilters:
    """The inbox filters (empty = any)."""

    county: str = ""
    farm: str = ""
    site: str = ""
    severity: str = ""
    state: str = ACTIVE

    @classmethod
    def parse(cls, params: dict[str, str]) -> AlertFilters:
        """Filters from query parameters; unknown severities and states are dropped."""
        severity = params.get("severity", "")
        state = params.get("state", ACTIVE)
        return cls(county=params.get("county", "")[:32], farm=params.get("farm", "")[:64],
                   site=params.get("site", "")[:64],
                   severity=severity if severity in SEVERITIES else "",
                   state=state if state in (*STATES, ACTIVE) else "")


def visible_counties(session: Session, principal: Principal) -> list[County]:
    """Counties with a farm the caller sees (every county for admin and bureau)."""
    q = select(County).order_by(County.id)
    clause = farm_clause(principal)
    if clause is not None:
        q = q.where(County.id.in_(select(Farm.county_id).where(clause)))
    return list(session.scalars(q))


def visible_farms(session: Session, principal: Principal, county: str = "") -> list[Farm]:
    """Farms the caller sees, optionally of one county."""
    q = select(Farm).order_by(Farm.id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if county:
        q = q.where(Farm.county_id == county)
    return list(session.scalars(q))


def visible_sites(session: Session, principal: Principal, *, county: str = "", farm: str = "",
                  kind: str = "") -> list[tuple[Site, Farm]]:
    """Sites (with their farm) the caller sees, filtered."""
    q = select(Site, Farm).join(Farm, Site.farm_id == Farm.id).order_by(Farm.id, Site.id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if county:
        q = q.where(Farm.county_id == county)
    if farm:
        q = q.where(Farm.id == farm)
    if kind:
        q = q.where(Site.kind == kind)
    return [(s, f) for s, f in session.execute(q)]


def site_if_visible(session: Session, principal: Principal, site_id: str) -> tuple[Site, Farm] | None:
    """The site and its farm if the caller may see it."""
    q = select(Site, Farm).join(Farm, Site.farm_id == Farm.id).where(Site.id == site_id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    row = session.execute(q).first()
    return None if row is None else (row[0], row[1])


def device_if_visible(session: Session, principal: Principal,
                      device_id: str) -> tuple[Device, Site, Farm] | None:
    """The device with its site and farm if the caller may see it."""
    q = (select(Device, Site, Farm).join(Site, Device.site_id == Site.id)
         .join(Farm, Site.farm_id == Farm.id).where(Device.id == device_id))
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    row = session.execute(q).first()
    return None if row is None else (row[0], row[1], row[2])


def device_statuses(session: Session, services: ApiServices,
                    principal: Principal) -> list[DeviceOut]:
    """Every device the caller sees, with online state, last seen and battery (as the API)."""
    return list_devices(principal, session, services)


def county_overview(session: Session, services: ApiServices,
                    principal: Principal, t: Translator) -> list[CountyRow]:
    """Device counts, online devices and unresolved alerts by severity, per visible county."""
    rows = {c.id: CountyRow(c.id, t.pick(c.name_zh, c.name_en), c.plan_group)
            for c in visible_counties(session, principal)}
    for d in device_statuses(session, services, principal):
        row = rows.get(d.county_id)
        if row is None or d.revoked:
            continue
        row.devices += 1
        row.online += d.online
    for county, severity, n in session.execute(
            _scoped(select(Alert.county_id, Alert.severity, func.count())
                    .where(Alert.open_key == OPEN_KEY), session, principal)
            .group_by(Alert.county_id, Alert.severity)):
        if county in rows and severity in SEVERITIES:
            rows[county].alerts[severity] = int(n)
    return list(rows.values())


def alert_counts(session: Session, principal: Principal) -> dict[str, dict[str, int]]:
    """Unresolved alerts per county and severity, within scope (for live updates)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SEVERITIES, 0))
    q = _scoped(select(Alert.county_id, Alert.severity, func.count())
                .where(Alert.open_key == OPEN_KEY), session, principal)
    for county, severity, n in session.execute(q.group_by(Alert.county_id, Alert.severity)):
        if severity in SEVERITIES:
            out[county][severity] = int(n)
    return dict(out)


def _scoped(q: Any, session: Session, principal: Principal) -> Any:
    farms = visible_farm_ids(session, principal)
    return q if farms is None else q.where(Alert.farm_id.in_(sorted(farms)))


def list_alerts(session: Session, principal: Principal, filters: AlertFilters,
                limit: int) -> list[Alert]:
    """Alerts in scope matching ``filters``, newest first."""
    q = _scoped(select(Alert), session, principal)
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


def alert_if_visible(session: Session, principal: Principal, alert_id: int) -> Alert | None:
    """One alert if it exists and is in the caller's scope."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    farms = visible_farm_ids(session, principal)
    return alert if farms is None or alert.farm_id in farms else None


def alert_events(session: Session, alert_id: int) -> list[AlertEvent]:
    """An alert's audit trail, oldest first."""
    return list(session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                                .order_by(AlertEvent.id)))


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
    q = _scoped(select(Alert).where(Alert.id.in_(ids)), session, principal)
    alerts = list(session.scalars(q.order_by(Alert.id.desc()).limit(limit)))
    return alerts, newest


def names(session: Session, model: type[Site] | type[Farm], ids: Iterable[str]) -> dict[str, str]:
    """Display names of sites or farms by id."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {i: n for i, n in session.execute(select(model.id, model.name).where(model.id.in_(wanted)))}


def county_names(session: Session, t: Translator) -> dict[str, str]:
    """County display names in the page language."""
    return {c.id: t.pick(c.name_zh, c.name_en) for c in session.scalars(select(County))}


def open_alerts_by_site(session: Session, site_ids: Sequence[str]) -> dict[str, int]:
    """Unresolved alerts per site."""
    if not site_ids:
        return {}
    q = (select(Alert.site_id, func.count()).where(Alert.open_key == OPEN_KEY,
                                                   Alert.site_id.in_(list(site_ids)))
         .group_by(Alert.site_id))
    return {s: int(n) for s, n in session.execute(q)}


def device_counts(session: Session, site_ids: Sequence[str]) -> dict[str, int]:
    """Live devices per site."""
    if not site_ids:
        return {}
    q = (select(Device.site_id, func.count()).where(Device.site_id.in_(list(site_ids)),
                                                    Device.revoked_at.is_(None))
         .group_by(Device.site_id))
    return {s: int(n) for s, n in session.execute(q)}


def site_devices(session: Session, site_id: str) -> list[Device]:
    """The live (not revoked) devices of a site."""
    return list(session.scalars(select(Device).where(Device.site_id == site_id,
                                                     Device.revoked_at.is_(None))
                                .order_by(Device.id)))


def rule_param(session: Session, site_id: str, rule_id: str, name: str) -> Any:
    """A parameter of a site's effective alert rule (defaults with the site's overrides)."""
    rules = default_rules()
    row = session.get(SiteRuleOverride, site_id)
    if row is not None:
        try:
            rules = apply_overrides(rules, row.overrides)
        except (ValueError, TypeError):
            rules = default_rules()
    for rule in rules:
        if rule.id == rule_id:
            return getattr(rule, name, None)
    return None
