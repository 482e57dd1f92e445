"""Counties, farms and sites."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import func, select

from api.deps import Admin, AnyRole, DbSession, Services
from api.schemas import CountyOut, FarmIn, FarmOut, SiteIn, SiteOut
from api.scope import farm_clause
from devices.registry import County, Device, Farm, Site, bump_version

router = APIRouter(tags=["registry"])


@router.get("/counties", response_model=list[CountyOut])
def list_counties(_: AnyRole, session: DbSession) -> list[County]:
    """The counties of the city."""
    return list(session.scalars(select(County).order_by(County.id)))


@router.get("/farms", response_model=list[FarmOut])
def list_farms(principal: AnyRole, session: DbSession, county_id: str | None = None) -> list[Farm]:
    """Farms, optionally of one county (an agronomist sees those of its scope)."""
    q = select(Farm).order_by(Farm.id)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if county_id is not None:
        q = q.where(Farm.county_id == county_id)
    return list(session.scalars(q))


@router.post("/farms", response_model=FarmOut, status_code=status.HTTP_201_CREATED)
def create_farm(body: FarmIn, _: Admin, session: DbSession, services: Services) -> Farm:
    """Register a farm."""
    if session.get(County, body.county_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown county")
    if session.get(Farm, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "farm exists")
    farm = Farm(**body.model_dump())
    session.add(farm)
    bump_version(session)
    session.commit()
    services.on_registry_change()
    return farm


@router.get("/sites", response_model=list[SiteOut])
def list_sites(
    principal: AnyRole, session: DbSession, county_id: str | None = None,
    farm_id: str | None = None, kind: str | None = None,
) -> list[SiteOut]:
    """Sites with their farm and county (an agronomist sees those of its scope)."""
    counts = (select(Device.site_id, func.count().label("n")).group_by(Device.site_id)
              .subquery())
    q = (
        select(Site, Farm.name, County.id, County.name_zh, func.coalesce(counts.c.n, 0))
        .join(Farm, Site.farm_id == Farm.id)
        .join(County, Farm.county_id == County.id)
        .outerjoin(counts, counts.c.site_id == Site.id)
        .order_by(Site.id)
    )
    if county_id is not None:
        q = q.where(County.id == county_id)
    if farm_id is not None:
        q = q.where(Farm.id == farm_id)
    if kind is not None:
        q = q.where(Site.kind == kind)
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    return [
        SiteOut(
            id=s.id, farm_id=s.farm_id, kind=s.kind, name=s.name, area_mu=s.area_mu,
            head_count=s.head_count, crop=s.crop, species=s.species, lat_deg=s.lat_deg,
            lon_deg=s.lon_deg, elevation_m=s.elevation_m, farm_name=farm_name,
            county_id=cid, county_name_zh=czh, device_count=n,
        )
        for s, farm_name, cid, czh, n in session.execute(q)
    ]


@router.post("/sites", response_model=SiteIn, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteIn, _: Admin, session: DbSession, services: Services) -> Site:
    """Register a field, greenhouse, barn or water source."""
    if session.get(Farm, body.farm_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown farm")
    if session.get(Site, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "site exists")
    site = Site(**body.model_dump())
    session.add(site)
    bump_version(session)
    session.commit()
    services.on_registry_change()
    return site
