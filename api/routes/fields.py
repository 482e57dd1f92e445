"""Fields and stations: water balance, irrigation advice, harvests, WUE, ET0, 灌溉水有效利用系数."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from analytics.water import IrrigationCoefficient
from analytics.water.records import FieldAdvice, FieldDay, HarvestRecord, StationDay
from api.deps import DbSession, FieldStaff, Services
from api.usecases import fields as uc

router = APIRouter(tags=["fields"])


class AdviceOut(BaseModel):
    site_id: str
    day: date
    irrigate: bool
    net_depth_mm: float
    volume_m3: float
    depletion_mm: float
    taw_mm: float
    raw_mm: float
    etc_mm_day: float
    why: str
    why_zh: str


class FieldOut(BaseModel):
    site_id: str
    name: str
    farm_id: str
    area_mu: float | None
    crop: str | None
    planting_date: date | None
    advice: AdviceOut | None


class FieldDayOut(BaseModel):
    day: date
    station_id: str
    et0_mm: float
    et0_method: str
    kc: float
    etc_mm: float
    etc_adj_mm: float
    rain_mm: float | None
    effective_rain_mm: float
    irrigation_mm: float
    irrigation_m3: float
    deep_percolation_mm: float
    depletion_mm: float
    observed_depletion_mm: float | None
    taw_mm: float
    raw_mm: float
    root_depth_m: float


class HarvestIn(BaseModel):
    season_year: int = Field(ge=2000, le=2100)
    crop: str = Field(min_length=1, max_length=64)
    yield_kg_ha: float = Field(gt=0, le=200_000)
    harvested_on: date


class HarvestOut(HarvestIn):
    id: int
    site_id: str
    entered_by: str


class WueOut(BaseModel):
    site_id: str
    season_year: int
    yield_kg_ha: float
    days: int
    etc_mm: float
    irrigation_mm: float
    effective_rain_mm: float
    wp_etc_kg_m3: float | None = Field(description="yield per m³ of crop ET")
    wp_supplied_kg_m3: float | None = Field(description="yield per m³ of irrigation + rain")


class StationDayOut(BaseModel):
    day: date
    et0_mm: float | None
    method: str
    t_max_c: float | None
    t_min_c: float | None
    rh_max_pct: float | None
    rh_min_pct: float | None
    wind_2m_m_s: float | None
    solar_mj_m2_day: float | None
    rain_mm: float | None


class CoefficientOut(BaseModel):
    key: str
    net_field_m3: float
    gross_withdrawn_m3: float
    coefficient: float | None
    field_meters: list[str]
    source_meters: list[str]
    issue: str | None


class CoefficientsOut(BaseModel):
    first_day: date
    last_day: date
    by_source: list[CoefficientOut]
    by_county: list[CoefficientOut]
    unassigned_field_m3: float


def _advice(row: FieldAdvice | None) -> AdviceOut | None:
    return None if row is None else AdviceOut.model_validate(row, from_attributes=True)


@router.get("/fields", response_model=list[FieldOut])
def list_fields(who: FieldStaff, session: DbSession,
                farm_id: str | None = None) -> list[FieldOut]:
    """Fields with their newest irrigation advice (an agronomist's scope only)."""
    return [FieldOut(site_id=f.site.id, name=f.site.name, farm_id=f.site.farm_id,
                     area_mu=f.site.area_mu, crop=f.site.crop,
                     planting_date=f.site.planting_date, advice=_advice(f.advice))
            for f in uc.fields(session, who, farm_id)]


@router.get("/fields/{site_id}/advice", response_model=AdviceOut)
def field_advice(site_id: str, who: FieldStaff, session: DbSession) -> FieldAdvice:
    """The newest irrigation advice: irrigate or not, net depth, volume and why."""
    return uc.advice(session, who, site_id)


@router.get("/fields/{site_id}/water-balance", response_model=list[FieldDayOut])
def water_balance(site_id: str, who: FieldStaff, session: DbSession, start: date | None = None,
                  end: date | None = None) -> list[FieldDay]:
    """Daily FAO-56 root-zone balance (default: the last 30 days) [mm]."""
    return uc.water_balance(session, who, site_id, start, end)


@router.post("/fields/{site_id}/harvests", response_model=HarvestOut,
             status_code=status.HTTP_201_CREATED)
def add_harvest(site_id: str, body: HarvestIn, who: FieldStaff,
                session: DbSession) -> HarvestRecord:
    """Record a harvest (the yield behind water productivity)."""
    return uc.add_harvest(session, who, site_id, **body.model_dump())


@router.get("/fields/{site_id}/harvests", response_model=list[HarvestOut])
def list_harvests(site_id: str, who: FieldStaff, session: DbSession) -> list[HarvestRecord]:
    """Harvests of a field, newest first."""
    return uc.harvests(session, who, site_id)


@router.get("/fields/{site_id}/wue", response_model=WueOut)
def field_wue(site_id: str, who: FieldStaff, session: DbSession,
              season_year: Annotated[int, Query(ge=2000, le=2100)]) -> WueOut:
    """Water productivity of a season: yield per m³ of ETc and per m³ of irrigation + rain.

    Sums the daily balance from the planting date (or 1 January) to the harvest date.
    """
    got = uc.season_wue(session, who, site_id, season_year)
    wue = got.wue
    return WueOut(site_id=got.site_id, season_year=got.season_year, yield_kg_ha=got.yield_kg_ha,
                  days=got.days, etc_mm=wue.etc_mm, irrigation_mm=wue.irrigation_mm,
                  effective_rain_mm=wue.effective_rain_mm, wp_etc_kg_m3=wue.wp_etc_kg_m3,
                  wp_supplied_kg_m3=wue.wp_supplied_kg_m3)


@router.get("/stations/{device_id}/et0", response_model=list[StationDayOut])
def station_et0(device_id: str, who: FieldStaff, session: DbSession, start: date | None = None,
                end: date | None = None) -> list[StationDay]:
    """Daily weather and ET0 of a station (default: the last 30 days)."""
    return uc.station_days(session, who, device_id, start, end)


def _coefficients(by_key: Mapping[str, IrrigationCoefficient]) -> list[CoefficientOut]:
    return [CoefficientOut(key=c.key, net_field_m3=c.net_field_m3,
                           gross_withdrawn_m3=c.gross_withdrawn_m3, coefficient=c.coefficient,
                           field_meters=list(c.field_meters),
                           source_meters=list(c.source_meters), issue=c.issue)
            for c in by_key.values()]


@router.get("/water/irrigation-coefficient", response_model=CoefficientsOut)
def irrigation_coefficient(who: FieldStaff, session: DbSession, services: Services,
                           start: date | None = None, end: date | None = None) -> CoefficientsOut:
    """灌溉水有效利用系数 (head-tail method) per water source and county from flow meters
    (an agronomist's: from the meters of the scope's farms)."""
    got = uc.coefficients(session, services.store, who, start, end)
    return CoefficientsOut(first_day=got.first_day, last_day=got.last_day,
                           by_source=_coefficients(got.report.by_source),
                           by_county=_coefficients(got.report.by_county),
                           unassigned_field_m3=got.report.unassigned_field_m3)
