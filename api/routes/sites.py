"""Counties, farms and sites: listing, registering, correcting and retiring them."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import Admin, AnyRole, DbSession, FieldStaff, Services
from api.schemas import (
    CountyOut,
    FarmIn,
    FarmOut,
    FarmPatch,
    RetireIn,
    SiteIn,
    SiteOut,
    SitePatch,
)
from api.usecases import registry as uc
from devices.registry import County, Farm, Site

router = APIRouter(tags=["registry"])


@router.get("/counties", response_model=list[CountyOut])
def list_counties(_: AnyRole, session: DbSession) -> list[County]:
    """The counties of the city."""
    return uc.counties(session)


@router.get("/farms", response_model=list[FarmOut])
def list_farms(principal: AnyRole, session: DbSession, county_id: str | None = None,
               retired: bool | None = None) -> list[Farm]:
    """Farms, optionally of one county (an agronomist sees those of its scope); ``retired``
    true lists only retired ones, false only those in service."""
    return uc.visible_farms(session, principal, county_id, retired=retired)


@router.post("/farms", response_model=FarmOut, status_code=status.HTTP_201_CREATED)
def create_farm(body: FarmIn, _: Admin, session: DbSession, services: Services) -> Farm:
    """Register a farm."""
    return uc.add_farm(session, services, body.model_dump())


def _site_out(r: uc.SiteRow) -> SiteOut:
    return SiteOut(
        id=r.site.id, farm_id=r.site.farm_id, kind=r.site.kind, name=r.site.name,
        area_mu=r.site.area_mu, head_count=r.site.head_count, crop=r.site.crop,
        species=r.site.species, lat_deg=r.site.lat_deg, lon_deg=r.site.lon_deg,
        elevation_m=r.site.elevation_m, irrigation_method=r.site.irrigation_method,
        farm_name=r.farm_name, county_id=r.county_id,
        county_name_zh=r.county_name_zh, device_count=r.device_count,
        planting_date=r.site.planting_date, attributes=r.site.attributes or {},
        retired_at=r.site.retired_at,
    )


@router.get("/sites", response_model=list[SiteOut])
def list_sites(
    principal: AnyRole, session: DbSession, county_id: str | None = None,
    farm_id: str | None = None, kind: str | None = None, retired: bool | None = None,
) -> list[SiteOut]:
    """Sites with their farm and county (an agronomist sees those of its scope); ``retired``
    true lists only retired ones, false only those in service."""
    return [_site_out(r) for r in uc.site_rows(session, principal, county=county_id,
                                               farm=farm_id, kind=kind, retired=retired)]


@router.post("/sites", response_model=SiteIn, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteIn, _: Admin, session: DbSession, services: Services) -> Site:
    """Register a field, greenhouse, barn or water source."""
    return uc.add_site(session, services, body.model_dump())


@router.patch("/farms/{farm_id}", response_model=FarmOut)
def edit_farm(farm_id: str, body: FarmPatch, principal: Admin, session: DbSession,
              services: Services) -> Farm:
    """Correct a farm's name or township (only the fields sent change)."""
    return uc.edit_farm(session, services, principal, farm_id, body.model_dump(exclude_unset=True))


@router.post("/farms/{farm_id}/retire", response_model=FarmOut)
def retire_farm(farm_id: str, principal: Admin, session: DbSession, services: Services,
                body: RetireIn | None = None) -> Farm:
    """Retire a farm, its sites and their devices from ``at`` (default now): the devices may
    no longer connect and stop counting as expected. Idempotent; history stays."""
    return uc.retire_farm(session, services, principal, farm_id, body.at if body else None)


@router.patch("/sites/{site_id}", response_model=SiteOut)
def edit_site(site_id: str, body: SitePatch, principal: FieldStaff, session: DbSession,
              services: Services) -> SiteOut:
    """Correct a site (an agronomist: of its scope); only the fields sent change."""
    return _site_out(uc.edit_site(session, services, principal, site_id,
                                  body.model_dump(exclude_unset=True)))


@router.post("/sites/{site_id}/retire", response_model=SiteOut)
def retire_site(site_id: str, principal: FieldStaff, session: DbSession, services: Services,
                body: RetireIn | None = None) -> SiteOut:
    """Retire a site and its devices from ``at`` (default now). Idempotent; history stays."""
    return _site_out(uc.retire_site(session, services, principal, site_id,
                                    body.at if body else None))
