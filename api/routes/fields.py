"""Fields and stations: water balance, irrigation advice, harvests, WUE, ET0, 灌溉水有效利用系数."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from analytics.water.headtail import HeadTail
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


class FieldNetOut(BaseModel):
    """A field's water in the period [m³] and how its net water was found."""

    site_id: str
    field_inlet_m3: float
    net_field_m3: float
    net_method: str = Field(description="probes | balance: which net_field_m3 is")
    balance_net_m3: float
    probe_net_m3: float | None
    events: int
    events_with_probes: int


class ReasonOut(BaseModel):
    """Why η is missing or a source was left out; ``subject`` is the meter, field or source."""

    code: str
    subject: str
    en: str
    zh: str


class CoefficientOut(BaseModel):
    """η of a water source or a county (head–tail, 首尾测算分析法), both factors, the m³."""

    key: str = Field(description="water-source site id, or county id")
    county_id: str
    gross_withdrawn_m3: float = Field(description="Σ source-meter m³ (毛灌溉用水量)")
    field_inlet_m3: float = Field(description="Σ field-meter m³")
    net_field_m3: float = Field(description="m³ kept in the root zones (田间净灌溉用水量)")
    conveyance_coefficient: float | None = Field(
        description="渠系水利用系数 = field_inlet_m3 ÷ gross_withdrawn_m3")
    field_coefficient: float | None = Field(
        description="田间水利用系数 = net_field_m3 ÷ field_inlet_m3")
    coefficient: float | None = Field(
        description="灌溉水有效利用系数 η = net_field_m3 ÷ gross_withdrawn_m3 (product of both)")
    sources_used: list[str]
    sources_skipped: list[str]
    fields: list[FieldNetOut]
    reasons: list[ReasonOut] = Field(description="why coefficient is null or a source is left out")


class CoefficientsOut(BaseModel):
    first_day: date
    last_day: date
    method: str = "首尾测算分析法 (head–tail)"
    by_source: list[CoefficientOut]
    by_county: list[CoefficientOut]
    unassigned_field_meters: list[str] = Field(description="field meters naming no water source")


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


def _coefficient(h: HeadTail, county_id: str) -> CoefficientOut:
    return CoefficientOut(
        key=h.key, county_id=county_id, gross_withdrawn_m3=h.gross_m3, field_inlet_m3=h.inlet_m3,
        net_field_m3=h.net_m3, conveyance_coefficient=h.conveyance, field_coefficient=h.field,
        coefficient=h.coefficient, sources_used=list(h.sources_used),
        sources_skipped=list(h.sources_skipped),
        fields=[FieldNetOut(site_id=f.site_id, field_inlet_m3=f.inlet_m3, net_field_m3=f.net_m3,
                            net_method=f.method, balance_net_m3=f.balance_net_m3,
                            probe_net_m3=f.probe_net_m3, events=f.events,
                            events_with_probes=f.events_with_probes) for f in h.fields],
        reasons=[ReasonOut(code=r.code, subject=r.subject, en=r.en, zh=r.zh) for r in h.reasons])


@router.get("/water/irrigation-coefficient", response_model=CoefficientsOut)
def irrigation_coefficient(who: FieldStaff, session: DbSession, services: Services,
                           start: date | None = None, end: date | None = None) -> CoefficientsOut:
    """灌溉水有效利用系数 η per water source and county by the head–tail method, with 渠系 and
    田间水利用系数, the gross/inlet/net m³ and, where η is null, the coded reasons (an
    agronomist's: from the meters and fields of the scope's farms). Default: the last 30 days."""
    got = uc.coefficients(session, services.store, who, start, end)
    src = got.sources
    return CoefficientsOut(
        first_day=got.first_day, last_day=got.last_day,
        by_source=[_coefficient(h, src.county_of[k]) for k, h in src.by_source.items()],
        by_county=[_coefficient(h, k) for k, h in got.by_county.items()],
        unassigned_field_meters=list(src.unassigned_field_meters))
