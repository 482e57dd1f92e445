"""Fields and stations: water balance, irrigation advice, harvests, WUE, ET0, 灌溉水有效利用系数."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from analytics.water import FlowMeterSpec, irrigation_coefficients, meter_totals, water_use_efficiency
from analytics.water.records import FieldAdvice, FieldDay, HarvestRecord, StationDay
from api.deps import DbSession, FieldStaff, Principal, Services
from api.scope import ensure_device_visible, ensure_site_visible, farm_clause, visible_farm_ids
from devices.registry import Device, Farm, Site

router = APIRouter(tags=["fields"])

MAX_DAYS = 800


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


def _field(session: DbSession, who: Principal, site_id: str) -> Site:
    """The field, or 404 when it does not exist, is not a field or is out of scope."""
    ensure_site_visible(session, who, site_id)
    site = session.get(Site, site_id)
    if site is None or site.kind != "field":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown field")
    return site


def _range(start: date | None, end: date | None, default_days: int) -> tuple[date, date]:
    end = end or date.today()
    start = start or end - timedelta(days=default_days)
    if start > end or (end - start).days > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"need start <= end and at most {MAX_DAYS} days")
    return start, end


def _latest_advice(session: DbSession, site_id: str) -> AdviceOut | None:
    row = session.scalar(select(FieldAdvice).where(FieldAdvice.site_id == site_id)
                         .order_by(FieldAdvice.day.desc()).limit(1))
    return None if row is None else AdviceOut.model_validate(row, from_attributes=True)


@router.get("/fields", response_model=list[FieldOut])
def list_fields(who: FieldStaff, session: DbSession,
                farm_id: str | None = None) -> list[FieldOut]:
    """Fields with their newest irrigation advice (an agronomist's scope only)."""
    q = (select(Site).join(Farm, Site.farm_id == Farm.id).where(Site.kind == "field")
         .order_by(Site.id))
    clause = farm_clause(who)
    if clause is not None:
        q = q.where(clause)
    if farm_id is not None:
        q = q.where(Site.farm_id == farm_id)
    return [FieldOut(site_id=s.id, name=s.name, farm_id=s.farm_id, area_mu=s.area_mu,
                     crop=s.crop, planting_date=s.planting_date,
                     advice=_latest_advice(session, s.id)) for s in session.scalars(q)]


@router.get("/fields/{site_id}/advice", response_model=AdviceOut)
def field_advice(site_id: str, who: FieldStaff, session: DbSession) -> AdviceOut:
    """The newest irrigation advice: irrigate or not, net depth, volume and why."""
    _field(session, who, site_id)
    advice = _latest_advice(session, site_id)
    if advice is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no advice computed yet")
    return advice


@router.get("/fields/{site_id}/water-balance", response_model=list[FieldDayOut])
def water_balance(site_id: str, who: FieldStaff, session: DbSession, start: date | None = None,
                  end: date | None = None) -> list[FieldDay]:
    """Daily FAO-56 root-zone balance (default: the last 30 days) [mm]."""
    _field(session, who, site_id)
    first, last = _range(start, end, 30)
    return list(session.scalars(select(FieldDay).where(
        FieldDay.site_id == site_id, FieldDay.day >= first, FieldDay.day <= last)
        .order_by(FieldDay.day)))


@router.post("/fields/{site_id}/harvests", response_model=HarvestOut,
             status_code=status.HTTP_201_CREATED)
def add_harvest(site_id: str, body: HarvestIn, who: FieldStaff,
                session: DbSession) -> HarvestRecord:
    """Record a harvest (the yield behind water productivity)."""
    _field(session, who, site_id)
    row = HarvestRecord(site_id=site_id, entered_by=who.name, **body.model_dump())
    session.add(row)
    session.commit()
    return row


@router.get("/fields/{site_id}/harvests", response_model=list[HarvestOut])
def list_harvests(site_id: str, who: FieldStaff, session: DbSession) -> list[HarvestRecord]:
    """Harvests of a field, newest first."""
    _field(session, who, site_id)
    return list(session.scalars(select(HarvestRecord).where(HarvestRecord.site_id == site_id)
                                .order_by(HarvestRecord.harvested_on.desc())))


@router.get("/fields/{site_id}/wue", response_model=WueOut)
def field_wue(site_id: str, who: FieldStaff, session: DbSession,
              season_year: Annotated[int, Query(ge=2000, le=2100)]) -> WueOut:
    """Water productivity of a season: yield per m³ of ETc and per m³ of irrigation + rain.

    Sums the daily balance from the planting date (or 1 January) to the harvest date.
    """
    site = _field(session, who, site_id)
    harvest = session.scalar(select(HarvestRecord).where(
        HarvestRecord.site_id == site_id, HarvestRecord.season_year == season_year)
        .order_by(HarvestRecord.id.desc()).limit(1))
    if harvest is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no harvest recorded for that season")
    first = site.planting_date if site.planting_date and site.planting_date.year == season_year \
        else date(season_year, 1, 1)
    sums = session.execute(select(
        func.count(), func.coalesce(func.sum(FieldDay.etc_adj_mm), 0.0),
        func.coalesce(func.sum(FieldDay.irrigation_mm), 0.0),
        func.coalesce(func.sum(FieldDay.effective_rain_mm), 0.0),
    ).where(FieldDay.site_id == site_id, FieldDay.day >= first,
            FieldDay.day <= harvest.harvested_on)).one()
    wue = water_use_efficiency(yield_kg_ha=harvest.yield_kg_ha, etc_mm=float(sums[1]),
                               irrigation_mm=float(sums[2]), effective_rain_mm=float(sums[3]))
    return WueOut(site_id=site_id, season_year=season_year, yield_kg_ha=harvest.yield_kg_ha,
                  days=int(sums[0]), etc_mm=wue.etc_mm, irrigation_mm=wue.irrigation_mm,
                  effective_rain_mm=wue.effective_rain_mm, wp_etc_kg_m3=wue.wp_etc_kg_m3,
                  wp_supplied_kg_m3=wue.wp_supplied_kg_m3)


@router.get("/stations/{device_id}/et0", response_model=list[StationDayOut])
def station_et0(device_id: str, who: FieldStaff, session: DbSession, start: date | None = None,
                end: date | None = None) -> list[StationDay]:
    """Daily weather and ET0 of a station (default: the last 30 days)."""
    ensure_device_visible(session, who, device_id)
    device = session.get(Device, device_id)
    if device is None or device.type != "weather_station":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown weather station")
    first, last = _range(start, end, 30)
    return list(session.scalars(select(StationDay).where(
        StationDay.device_id == device_id, StationDay.day >= first, StationDay.day <= last)
        .order_by(StationDay.day)))


@router.get("/water/irrigation-coefficient", response_model=CoefficientsOut)
def irrigation_coefficient(who: FieldStaff, session: DbSession, services: Services,
                           start: date | None = None, end: date | None = None) -> CoefficientsOut:
    """灌溉水有效利用系数 (head-tail method) per water source and county from flow meters
    (an agronomist's: from the meters of the scope's farms)."""
    first, last = _range(start, end, 30)
    devices = session.scalars(select(Device).where(Device.type == "flow_meter",
                                                   Device.revoked_at.is_(None))).all()
    farms = visible_farm_ids(session, who)
    if farms is not None:
        devices = [d for d in devices if d.site.farm_id in farms]
    meters = [FlowMeterSpec.from_device(d) for d in devices]
    report = irrigation_coefficients(totals=meter_totals(store=services.store, meters=meters,
                                                         first_day=first, last_day=last))

    def out(c: Any) -> CoefficientOut:
        return CoefficientOut(key=c.key, net_field_m3=c.net_field_m3,
                              gross_withdrawn_m3=c.gross_withdrawn_m3,
                              coefficient=c.coefficient, field_meters=list(c.field_meters),
                              source_meters=list(c.source_meters), issue=c.issue)

    return CoefficientsOut(first_day=first, last_day=last,
                           by_source=[out(c) for c in report.by_source.values()],
                           by_county=[out(c) for c in report.by_county.values()],
                           unassigned_field_m3=report.unassigned_field_m3)
