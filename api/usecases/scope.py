"""Who sees which farms: the agronomist's token scope, and the one visibility rule.

An agronomist's token carries ``{"counties": [...], "farms": [...]}``: the farms it may see are
the farms of those counties plus those farms. A scope naming nothing grants nothing (fail
closed). Admin and bureau tokens are not narrowed by farm (None = every farm); what each role
may do at all is the routes' ``require`` checks. Out-of-scope objects are ``NotFound`` (404),
as if they did not exist, so a scoped caller learns nothing about them: that rule lives here
and nowhere else.

Use cases use ``farm_clause`` to narrow a query that joins ``Farm``, ``visible_farm_ids`` when
they need the set, and the ``visible_*`` helpers for single objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from analytics.alerts.store import Alert
from api.auth import Principal, Role
from devices.registry import County, Device, Farm, Site
from storage.errors import InvalidInput, NotFound

SCOPE_KEYS = ("counties", "farms")


@dataclass(frozen=True, slots=True)
class Scope:
    """Counties and farms a token is restricted to."""

    counties: frozenset[str]
    farms: frozenset[str]


def parse_scope(raw: Mapping[str, Any] | None) -> Scope:
    """A ``Scope`` from token JSON; ``InvalidInput`` for unknown keys or non-string lists."""
    raw = raw or {}
    unknown = set(raw) - set(SCOPE_KEYS)
    if unknown:
        raise InvalidInput(f"unknown scope keys: {sorted(unknown)}")
    parts: dict[str, frozenset[str]] = {}
    for key in SCOPE_KEYS:
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidInput(f"scope {key} must be a list of ids")
        parts[key] = frozenset(values)
    return Scope(parts["counties"], parts["farms"])


def validate_scope(session: Session, role: Role, raw: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The scope to store for a new token of ``role``; ``InvalidInput`` when it does not fit.

    Agronomists need at least one existing county or farm; admin and bureau tokens take none.
    """
    scope = parse_scope(raw)
    if role is not Role.AGRONOMIST:
        if scope.counties or scope.farms:
            raise InvalidInput(f"a {role.value} token is not scoped")
        return {}
    if not scope.counties and not scope.farms:
        raise InvalidInput("an agronomist token needs counties or farms in its scope")
    known_counties = set(session.scalars(select(County.id).where(County.id.in_(scope.counties))))
    known_farms = set(session.scalars(select(Farm.id).where(Farm.id.in_(scope.farms))))
    missing = sorted((scope.counties - known_counties) | (scope.farms - known_farms))
    if missing:
        raise InvalidInput(f"unknown counties or farms: {missing}")
    return {"counties": sorted(scope.counties), "farms": sorted(scope.farms)}


def is_scoped(principal: Principal) -> bool:
    """True when the caller sees only some farms (agronomists)."""
    return principal.role is Role.AGRONOMIST


def farm_clause(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause on ``Farm`` limiting a query to visible farms; None = no limit."""
    if not is_scoped(principal):
        return None
    try:
        scope = parse_scope(principal.scope)
    except ValueError:
        return false()
    conditions = []
    if scope.counties:
        conditions.append(Farm.county_id.in_(sorted(scope.counties)))
    if scope.farms:
        conditions.append(Farm.id.in_(sorted(scope.farms)))
    return or_(*conditions) if conditions else false()


def visible_farm_ids(session: Session, principal: Principal) -> set[str] | None:
    """Ids of the farms the caller may see; None = all farms."""
    clause = farm_clause(principal)
    if clause is None:
        return None
    return set(session.scalars(select(Farm.id).where(clause)))


def _visible(session: Session, principal: Principal, q: Any, what: str) -> Any:
    """The first row of ``q`` (which joins ``Farm``) within scope; ``NotFound`` otherwise."""
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    row = session.execute(q).first()
    if row is None:
        raise NotFound(f"unknown {what}")
    return row


def visible_farm(session: Session, principal: Principal, farm_id: str) -> Farm:
    """The farm if it exists and the caller may see it; ``NotFound`` otherwise."""
    farm: Farm = _visible(session, principal, select(Farm).where(Farm.id == farm_id), "farm")[0]
    return farm


def visible_site(session: Session, principal: Principal, site_id: str) -> tuple[Site, Farm]:
    """The site and its farm if the caller may see them; ``NotFound`` otherwise."""
    q = select(Site, Farm).join(Farm, Site.farm_id == Farm.id).where(Site.id == site_id)
    site, farm = _visible(session, principal, q, "site")
    return site, farm


def visible_device(session: Session, principal: Principal,
                   device_id: str) -> tuple[Device, Site, Farm]:
    """The device with its site and farm if the caller may see them; ``NotFound`` otherwise."""
    q = (select(Device, Site, Farm).join(Site, Device.site_id == Site.id)
         .join(Farm, Site.farm_id == Farm.id).where(Device.id == device_id))
    device, site, farm = _visible(session, principal, q, "device")
    return device, site, farm


def visible_county(session: Session, principal: Principal, county_id: str) -> County:
    """The county if it exists and (for a scoped caller) holds a visible farm."""
    county = session.get(County, county_id)
    clause = farm_clause(principal)
    if county is None or (clause is not None and session.scalar(
            select(Farm.id).where(Farm.county_id == county_id, clause).limit(1)) is None):
        raise NotFound("unknown county")
    return county


def visible_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    """The alert if it exists and lies on a farm the caller sees; ``NotFound`` otherwise."""
    alert = session.get(Alert, alert_id)
    farms = visible_farm_ids(session, principal)
    if alert is None or (farms is not None and alert.farm_id not in farms):
        raise NotFound(f"no alert {alert_id}")
    return alert


def scoped_alerts(q: Any, session: Session, principal: Principal) -> Any:
    """``q`` (over ``Alert``) narrowed to the farms the caller sees."""
    farms = visible_farm_ids(session, principal)
    return q if farms is None else q.where(Alert.farm_id.in_(sorted(farms)))
