"""Fields and stations within the caller's scope: irrigation advice, the daily water balance,
harvests, water productivity, station ET0, and 灌溉水有效利用系数 by the head–tail method (the
computation of the indicators, :func:`analytics.indicators.water.source_figures`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.indicators.periods import range_period
from analytics.indicators.registry_view import load_registry_view
from analytics.indicators.water import SourceFigures, source_figures
from analytics.water import water_use_efficiency
from analytics.water.efficiency import WaterUseEfficiency
from analytics.water.headtail import HeadTail
from analytics.water.records import (
    FieldAdvice,
    FieldDay,
    HarvestRecord,
    StationDay,
    load_field_days,
)
from api.auth import Principal
from api.usecases.scope import farm_clause, visible_device, visible_farm_ids, visible_site
from devices.registry import Farm, Site
from storage.clock import cst_midnight_ms, cst_today
from storage.errors import InvalidInput, NotFound
from storage.telemetry import TelemetryStore

MAX_DAYS: Final = 800


@dataclass(frozen=True, slots=True)
class FieldSummary:
    """A field with its newest irrigation advice."""

    site: Site
    advice: FieldAdvice | None


@dataclass(frozen=True, slots=True)
class SeasonWue:
    """Water productivity of a field's season."""

    site_id: str
    season_year: int
    yield_kg_ha: float
    days: int
    wue: WaterUseEfficiency


@dataclass(frozen=True, slots=True)
class Coefficients:
    """灌溉水有效利用系数 (head–tail) of a range of CST days: per water source and per county."""

    first_day: date
    last_day: date
    sources: SourceFigures
    by_county: dict[str, HeadTail]


def _field(session: Session, principal: Principal, site_id: str) -> Site:
    """The field, or ``NotFound`` when it does not exist, is not a field or is out of scope."""
    site, _ = visible_site(session, principal, site_id)
    if site.kind != "field":
        raise NotFound("unknown field")
    return site


def day_range(start: date | None, end: date | None, default_days: int) -> tuple[date, date]:
    """``[start, end]`` with defaults (end: today in CST) and checks (``InvalidInput``)."""
    end = end or cst_today()
    start = start or end - timedelta(days=default_days)
    if start > end or (end - start).days > MAX_DAYS:
        raise InvalidInput(f"need start <= end and at most {MAX_DAYS} days")
    return start, end


def _latest_advice(session: Session, site_id: str) -> FieldAdvice | None:
    return session.scalar(select(FieldAdvice).where(FieldAdvice.site_id == site_id)
                          .order_by(FieldAdvice.day.desc()).limit(1))


def fields(session: Session, principal: Principal, farm_id: str | None = None) -> list[FieldSummary]:
    """Fields in scope (optionally of one farm) with their newest advice, by id."""
    q = (select(Site).join(Farm, Site.farm_id == Farm.id).where(Site.kind == "field")
         .order_by(Site.id))
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if farm_id is not None:
        q = q.where(Site.farm_id == farm_id)
    return [FieldSummary(s, _latest_advice(session, s.id)) for s in session.scalars(q)]


def advice(session: Session, principal: Principal, site_id: str) -> FieldAdvice:
    """A field's newest irrigation advice (``NotFound`` before the first)."""
    _field(session, principal, site_id)
    row = _latest_advice(session, site_id)
    if row is None:
        raise NotFound("no advice computed yet")
    return row


def water_balance(session: Session, principal: Principal, site_id: str,
                  start: date | None, end: date | None) -> list[FieldDay]:
    """A field's daily FAO-56 root-zone balance (default: the last 30 days)."""
    _field(session, principal, site_id)
    first, last = day_range(start, end, 30)
    return list(session.scalars(select(FieldDay).where(
        FieldDay.site_id == site_id, FieldDay.day >= first, FieldDay.day <= last)
        .order_by(FieldDay.day)))


def add_harvest(session: Session, principal: Principal, site_id: str, *, season_year: int,
                crop: str, yield_kg_ha: float, harvested_on: date) -> HarvestRecord:
    """Record a harvest of a field, by the caller."""
    _field(session, principal, site_id)
    row = HarvestRecord(site_id=site_id, entered_by=principal.name, season_year=season_year,
                        crop=crop, yield_kg_ha=yield_kg_ha, harvested_on=harvested_on)
    session.add(row)
    session.commit()
    return row


def harvests(session: Session, principal: Principal, site_id: str) -> list[HarvestRecord]:
    """A field's harvests, newest first."""
    _field(session, principal, site_id)
    return list(session.scalars(select(HarvestRecord).where(HarvestRecord.site_id == site_id)
                                .order_by(HarvestRecord.harvested_on.desc())))


def season_wue(session: Session, principal: Principal, site_id: str,
               season_year: int) -> SeasonWue:
    """Yield per m³ of ETc and per m³ of irrigation + rain, summing the daily balance from the
    planting date (or 1 January) to the season's harvest."""
    site = _field(session, principal, site_id)
    harvest = session.scalar(select(HarvestRecord).where(
        HarvestRecord.site_id == site_id, HarvestRecord.season_year == season_year)
        .order_by(HarvestRecord.id.desc()).limit(1))
    if harvest is None:
        raise NotFound("no harvest recorded for that season")
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
    return SeasonWue(site_id, season_year, harvest.yield_kg_ha, int(sums[0]), wue)


def station_days(session: Session, principal: Principal, device_id: str,
                 start: date | None, end: date | None) -> list[StationDay]:
    """A visible weather station's daily weather and ET0 (default: the last 30 days)."""
    device, _, _ = visible_device(session, principal, device_id)
    if device.type != "weather_station":
        raise NotFound("unknown weather station")
    first, last = day_range(start, end, 30)
    return list(session.scalars(select(StationDay).where(
        StationDay.device_id == device_id, StationDay.day >= first, StationDay.day <= last)
        .order_by(StationDay.day)))


def coefficients(session: Session, store: TelemetryStore, principal: Principal,
                 start: date | None, end: date | None) -> Coefficients:
    """灌溉水有效利用系数 η per water source and per county over CST days ``start..end``
    (default: the last 30), from the flow meters and stored field balances of the caller's
    farms: the indicators' head–tail computation (gross = source meters, inlet = field
    meters, net = water the fields' FAO-56 balance or probes kept in the root zone). A meter
    with no ``volume_m3`` reading in the range is silent and named in its source's reasons."""
    first, last = day_range(start, end, 30)
    view = load_registry_view(session, farm_ids=visible_farm_ids(session, principal))
    period = range_period(cst_midnight_ms(first), cst_midnight_ms(last + timedelta(days=1)))
    meters = sorted({d.device_id for d in view.devices.values()
                     if d.device_type == "flow_meter" and d.entry is None})
    span_s = (period.end_ms - period.start_ms) // 1000  # windows of the range: ≤ 2 per meter
    reported = {dev for dev, _, _ in store.window_counts(
        "volume_m3", period.start_ms, period.end_ms, every_s=span_s,
        device_ids=meters)} if meters else set()
    sources = source_figures(store=store, view=view, period=period, active=reported,
                             field_days=partial(load_field_days, session))
    counties = sorted(set(sources.county_of.values()))
    return Coefficients(first, last, sources,
                        {c: sources.pooled(c, {c}) for c in counties})
