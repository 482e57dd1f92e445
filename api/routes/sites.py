"""Counties, farms and sites."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import Admin, AnyRole, DbSession, Services
from api.schemas import CountyOut, FarmIn, FarmOut, SiteIn, SiteOut
from api.usecases import registry as uc
from devices.registry import County, Farm, Site

router = APIRouter(tags=["registry"])


@router.get("/counties", response_model=list[CountyOut])
def list_counties(_: AnyRole, session: DbSession) -> list[County]:
    """The counties of the city."""
    return uc.counties(session)


@router.get("/farms", response_model=list[FarmOut])
def list_farms(principal: AnyRole, session: DbSession, county_id: str | None = None) -> list[Farm]:
    """Farms, optionally of one county (an agronomist sees those of its scope)."""
    return uc.visible_farms(session, principal, county_id)


@router.post("/farms", response_model=FarmOut, status_code=status.HTTP_201_CREATED)
def create_farm(body: FarmIn, _: Admin, session: DbSession, services: Services) -> Farm:
    """Register a farm."""
    return uc.add_farm(session, services, body.model_dump())


@router.get("/sites", response_model=list[SiteOut])
def list_sites(
    principal: AnyRole, session: DbSession, county_id: str | None = None,
    farm_id: str | None = None, kind: str | None = None,
) -> list[SiteOut]:
    """Sites with their farm and county (an agronomist sees those of its scope)."""
    return [
        SiteOut(
            id=r.site.id, farm_id=r.site.farm_id, kind=r.site.kind, name=r.site.name,
            area_mu=r.site.area_mu, head_count=r.site.head_count, crop=r.site.crop,
            species=r.site.species, lat_deg=r.site.lat_deg, lon_deg=r.site.lon_deg,
            elevation_m=r.site.elevation_m, farm_name=r.farm_name, county_id=r.county_id,
            county_name_zh=r.county_name_zh, device_count=r.device_count,
        )
        for r in uc.site_rows(session, principal, county=county_id, farm=farm_id, kind=kind)
    ]


@router.post("/sites", response_model=SiteIn, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteIn, _: Admin, session: DbSession, services: Services) -> Site:
    """Register a field, greenhouse, barn or water source."""
    return uc.add_site(session, services, body.model_dump())
