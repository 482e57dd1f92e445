"""Who sees which farms: the agronomist's token scope, as reusable query helpers.

An agronomist's token carries ``{"counties": [...], "farms": [...]}``: the farms it may see are
the farms of those counties plus those farms. A scope naming nothing grants nothing (fail
closed). Admin and bureau tokens are not narrowed by farm (None = every farm); what each role
may do at all is the routers' ``require`` checks. Out-of-scope objects answer 404, as if they
did not exist, so a scoped caller learns nothing about them.

Routers use ``farm_clause`` to narrow a query that joins ``Farm``, ``visible_farm_ids`` when
they need the set, and the ``ensure_*_visible`` helpers for single objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from api.auth import Role
from api.deps import Principal
from devices.registry import County, Device, Farm, Site

SCOPE_KEYS = ("counties", "farms")


@dataclass(frozen=True, slots=True)
class Scope:
    """Counties and farms a token is restricted to."""

    counties: frozenset[str]
    farms: frozenset[str]


def parse_scope(raw: Mapping[str, Any] | None) -> Scope:
    """A ``Scope`` from token JSON; ``ValueError`` for unknown keys or non-string lists."""
    raw = raw or {}
    unknown = set(raw) - set(SCOPE_KEYS)
    if unknown:
        raise ValueError(f"unknown scope keys: {sorted(unknown)}")
    parts: dict[str, frozenset[str]] = {}
    for key in SCOPE_KEYS:
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"scope {key} must be a list of ids")
        parts[key] = frozenset(values)
    return Scope(parts["counties"], parts["farms"])


def validate_scope(session: Session, role: Role, raw: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The scope to store for a new token of ``role``; ``ValueError`` when it does not fit.

    Agronomists need at least one existing county or farm; admin and bureau tokens take none.
    """
    scope = parse_scope(raw)
    if role is not Role.AGRONOMIST:
        if scope.counties or scope.farms:
            raise ValueError(f"a {role.value} token is not scoped")
        return {}
    if not scope.counties and not scope.farms:
        raise ValueError("an agronomist token needs counties or farms in its scope")
    known_counties = set(session.scalars(select(County.id).where(County.id.in_(scope.counties))))
    known_farms = set(session.scalars(select(Farm.id).where(Farm.id.in_(scope.farms))))
    missing = sorted((scope.counties - known_counties) | (scope.farms - known_farms))
    if missing:
        raise ValueError(f"unknown counties or farms: {missing}")
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


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"unknown {what}")


def ensure_farm_visible(session: Session, principal: Principal, farm_id: str) -> None:
    """404 unless the farm exists and the caller may see it."""
    q = select(Farm.id).where(Farm.id == farm_id)
    clause = farm_clause(principal)
    if clause is not None:
        q = q.where(clause)
    if session.scalar(q) is None:
        raise _not_found("farm")


def ensure_site_visible(session: Session, principal: Principal, site_id: str) -> None:
    """404 unless the site exists and the caller may see its farm."""
    q = select(Site.id).join(Farm, Site.farm_id == Farm.id).where(Site.id == site_id)
    clause = farm_clause(principal)
    if clause is not None:
        q = q.where(clause)
    if session.scalar(q) is None:
        raise _not_found("site")


def ensure_device_visible(session: Session, principal: Principal, device_id: str) -> None:
    """404 unless the device exists and the caller may see its farm."""
    q = (select(Device.id).join(Site, Device.site_id == Site.id)
         .join(Farm, Site.farm_id == Farm.id).where(Device.id == device_id))
    clause = farm_clause(principal)
    if clause is not None:
        q = q.where(clause)
    if session.scalar(q) is None:
        raise _not_found("device")
