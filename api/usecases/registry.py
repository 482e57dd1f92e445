"""The registry as the caller sees it: counties, farms and sites in scope; registering,
correcting and retiring farms and sites; display names.

Lists take ``retired``: None for everything, True for retired items only, False for those in
service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.services import ApiServices
from api.usecases.scope import farm_clause, visible_farm, visible_site
from devices import fleet, provisioning
from devices.registry import County, Device, Farm, Site, live_device


@dataclass(frozen=True, slots=True)
class SiteRow:
    """A site with its farm's name, its county and its device count."""

    site: Site
    farm_name: str
    county_id: str
    county_name_zh: str
    device_count: int


def counties(session: Session) -> list[County]:
    """The counties of the city."""
    return list(session.scalars(select(County).order_by(County.id)))


def visible_counties(session: Session, principal: Principal) -> list[County]:
    """Counties with a farm the caller sees (every county for admin and bureau)."""
    q = select(County).order_by(County.id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(County.id.in_(select(Farm.county_id).where(clause)))
    return list(session.scalars(q))


def _retired(column: Any, retired: bool | None) -> ColumnElement[bool] | None:
    """A WHERE clause on a ``retired_at`` column for the ``retired`` filter (None: no filter)."""
    if retired is None:
        return None
    clause: ColumnElement[bool] = column.is_not(None) if retired else column.is_(None)
    return clause


def visible_farms(session: Session, principal: Principal, county: str | None = None, *,
                  retired: bool | None = None) -> list[Farm]:
    """Farms the caller sees, optionally of one county, by id."""
    q = select(Farm).order_by(Farm.id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if county is not None:
        q = q.where(Farm.county_id == county)
    if (gone := _retired(Farm.retired_at, retired)) is not None:
        q = q.where(gone)
    return list(session.scalars(q))


def visible_sites(session: Session, principal: Principal, *, county: str | None = None,
                  farm: str | None = None, kind: str | None = None) -> list[tuple[Site, Farm]]:
    """Sites (with their farm) the caller sees, filtered, by farm and site id."""
    q = select(Site, Farm).join(Farm, Site.farm_id == Farm.id).order_by(Farm.id, Site.id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if county is not None:
        q = q.where(Farm.county_id == county)
    if farm is not None:
        q = q.where(Farm.id == farm)
    if kind is not None:
        q = q.where(Site.kind == kind)
    return [(s, f) for s, f in session.execute(q)]


def site_rows(session: Session, principal: Principal, *, county: str | None = None,
              farm: str | None = None, kind: str | None = None, site: str | None = None,
              retired: bool | None = None) -> list[SiteRow]:
    """Sites the caller sees with farm, county and count of devices in service, by site id."""
    counts = (select(Device.site_id, func.count().label("n")).where(Device.retired_at.is_(None))
              .group_by(Device.site_id).subquery())
    q = (select(Site, Farm.name, County.id, County.name_zh, func.coalesce(counts.c.n, 0))
         .join(Farm, Site.farm_id == Farm.id)
         .join(County, Farm.county_id == County.id)
         .outerjoin(counts, counts.c.site_id == Site.id)
         .order_by(Site.id))
    if county is not None:
        q = q.where(County.id == county)
    if farm is not None:
        q = q.where(Farm.id == farm)
    if kind is not None:
        q = q.where(Site.kind == kind)
    if site is not None:
        q = q.where(Site.id == site)
    if (gone := _retired(Site.retired_at, retired)) is not None:
        q = q.where(gone)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    return [SiteRow(s, farm_name, cid, czh, n) for s, farm_name, cid, czh, n in session.execute(q)]


def live_device_counts(session: Session, site_ids: Sequence[str]) -> dict[str, int]:
    """Live (neither revoked nor retired) devices per site."""
    if not site_ids:
        return {}
    q = (select(Device.site_id, func.count()).where(Device.site_id.in_(list(site_ids)),
                                                    live_device())
         .group_by(Device.site_id))
    return {s: int(n) for s, n in session.execute(q)}


def names(session: Session, model: type[Site] | type[Farm], ids: Iterable[str]) -> dict[str, str]:
    """Names of sites or farms by id."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    q = select(model.id, model.name).where(model.id.in_(wanted))
    return {i: n for i, n in session.execute(q)}


def add_farm(session: Session, services: ApiServices, fields: dict[str, Any]) -> Farm:
    """Register a farm (``InvalidInput`` for an unknown county, ``Conflict`` if it exists)."""
    farm = provisioning.create_farm(session, Farm(**fields))
    session.commit()
    services.on_registry_change()
    return farm


def add_site(session: Session, services: ApiServices, fields: dict[str, Any]) -> Site:
    """Register a site (``InvalidInput`` for an unknown farm, ``Conflict`` if it exists)."""
    site = provisioning.create_site(session, Site(**fields))
    session.commit()
    services.on_registry_change()
    return site


def site_row(session: Session, principal: Principal, site_id: str) -> SiteRow:
    """One site the caller sees, as :func:`site_rows` gives it (``NotFound`` otherwise)."""
    visible_site(session, principal, site_id)
    return site_rows(session, principal, site=site_id)[0]


def _committed(session: Session, services: ApiServices) -> None:
    session.commit()
    services.on_registry_change()


def edit_farm(session: Session, services: ApiServices, principal: Principal, farm_id: str,
              changes: Mapping[str, Any]) -> Farm:
    """Correct a farm's name or township (``NotFound``, ``InvalidInput``)."""
    visible_farm(session, principal, farm_id)
    farm = fleet.edit_farm(session, farm_id, changes)
    _committed(session, services)
    return farm


def retire_farm(session: Session, services: ApiServices, principal: Principal, farm_id: str,
                at: datetime | None = None) -> Farm:
    """Retire a farm with its sites and their devices from ``at`` (default now)."""
    visible_farm(session, principal, farm_id)
    farm = fleet.retire_farm(session, farm_id, at=at)
    _committed(session, services)
    return farm


def edit_site(session: Session, services: ApiServices, principal: Principal, site_id: str,
              changes: Mapping[str, Any]) -> SiteRow:
    """Correct a site the caller sees (``NotFound``, ``InvalidInput``)."""
    visible_site(session, principal, site_id)
    fleet.edit_site(session, site_id, changes)
    _committed(session, services)
    return site_row(session, principal, site_id)


def retire_site(session: Session, services: ApiServices, principal: Principal, site_id: str,
                at: datetime | None = None) -> SiteRow:
    """Retire a site the caller sees, and its devices, from ``at`` (default now)."""
    visible_site(session, principal, site_id)
    fleet.retire_site(session, site_id, at=at)
    _committed(session, services)
    return site_row(session, principal, site_id)
