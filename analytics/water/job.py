"""The daily field-water job: station ET0, each field's root-zone balance, irrigation advice.

For every weather station it computes daily weather and ET0 (Penman-Monteith, Hargreaves
fallback); for every field with a crop and planting date it runs the FAO-56 balance from
``max(planting date, today - lookback)`` to yesterday with the station of its farm (else of
its county), starting at field capacity on the first day that has a station ET0 (probes
nudge it towards the measured state), and writes today's advice. Results are upserted into the metadata DB
(``analytics.water.records``), so a rerun replaces a day computed from partial data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from analytics.alerts.service import AlertService
from analytics.water import (
    DailyWeather,
    FieldBalance,
    FieldSpec,
    FlowMeterSpec,
    IrrigationAdvice,
    ProbeSpec,
    StationSpec,
    field_irrigation_advice,
    field_water_balance,
    station_daily_weather,
)
from analytics.water.records import FieldAdvice, FieldDay, StationDay
from devices.placements import OPEN_END_MS, placed_on
from devices.registry import Device, Farm, Site, live_device
from storage.clock import DAY_MS, cst_midnight_ms, cst_today
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)
_PLACED_LEAD_MS = 7 * DAY_MS
"""Devices placed this long before a balance's first day count (more than the days a flow
meter's counter is read before it, ``balance.meter_daily_volume_m3``)."""


@dataclass
class FieldWaterRun:
    """What one run computed, and which fields it had to skip and why."""

    today: date
    stations: int = 0
    fields: int = 0
    advice: list[IrrigationAdvice] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _stations(session: Session) -> list[tuple[StationSpec, str]]:
    """(station, farm_id) of every live weather station."""
    rows = session.scalars(
        select(Device).where(Device.type == "weather_station", live_device())
        .options(selectinload(Device.site).selectinload(Site.farm))
    )
    out = []
    for d in rows:
        try:
            out.append((StationSpec.from_device(d), d.site.farm_id))
        except ValueError as exc:
            log.warning("station %s skipped: %s", d.id, exc)
    return out


def _station_for(site: Site, stations: list[tuple[StationSpec, str]]) -> StationSpec | None:
    same_farm = [s for s, farm in stations if farm == site.farm_id]
    if same_farm:
        return same_farm[0]
    same_county = [s for s, _ in stations if s.county == site.farm.county_id]
    return same_county[0] if same_county else None


def field_spec(session: Session, site: Site, first: date) -> FieldSpec:
    """The field's spec (``FieldSpec.from_site``) with the probes and field meters that stood
    on it since ``first`` (and a week before, for the counters), each read only for its time
    there (placement history: a device moved between fields counts on each for its own time,
    a retired one until its retirement)."""
    spec = FieldSpec.from_site(site)
    start = cst_midnight_ms(first) - _PLACED_LEAD_MS
    placed = placed_on(session, spec.site_id, start, OPEN_END_MS, ("soil_moisture", "flow_meter"))
    probes = tuple(replace(ProbeSpec.from_device(p.device), span=span)
                   for p in placed if p.device.type == "soil_moisture" for span in p.spans)
    meters = tuple(replace(FlowMeterSpec.from_device(p.device), site_id=spec.site_id, span=span)
                   for p in placed if p.device.type == "flow_meter"
                   and (p.device.attributes or {}).get("role", "field") == "field"
                   for span in p.spans)
    return replace(spec, probes=probes, meters=meters)


def _save_station_days(session: Session, station: StationSpec,
                       weather: list[DailyWeather]) -> None:
    for w in weather:
        session.merge(StationDay(
            device_id=station.device_id, day=w.day, et0_mm=w.et0_mm, method=w.method,
            t_max_c=w.t_max_c, t_min_c=w.t_min_c, rh_max_pct=w.rh_max_pct,
            rh_min_pct=w.rh_min_pct, wind_2m_m_s=w.wind_2m_m_s,
            solar_mj_m2_day=w.solar_mj_m2_day, rain_mm=w.rain_mm,
        ))


def _save_field(session: Session, spec: FieldSpec, station: StationSpec,
                balance: FieldBalance, advice: IrrigationAdvice) -> None:
    s = balance.series
    for i, day in enumerate(balance.days):
        obs = float(s.observed_depletion_mm[i])
        rain = float(balance.rain_mm[i])
        session.merge(FieldDay(
            site_id=spec.site_id, day=day, station_id=station.device_id,
            et0_mm=float(balance.et0_mm[i]), et0_method=balance.et0_methods[i],
            kc=float(s.kc[i]), etc_mm=float(s.etc_mm[i]), etc_adj_mm=float(s.etc_adj_mm[i]),
            rain_mm=None if rain != rain else rain,
            effective_rain_mm=float(s.effective_rain_mm[i]),
            irrigation_mm=float(s.irrigation_mm[i]), irrigation_m3=float(balance.irrigation_m3[i]),
            deep_percolation_mm=float(s.deep_percolation_mm[i]),
            depletion_mm=float(s.depletion_mm[i]),
            observed_depletion_mm=None if obs != obs else obs,
            taw_mm=float(s.taw_mm[i]), raw_mm=float(s.raw_mm[i]), root_depth_m=float(s.zr_m[i]),
        ))
    session.merge(FieldAdvice(
        site_id=advice.site_id, day=advice.day, irrigate=advice.irrigate,
        net_depth_mm=advice.net_depth_mm, volume_m3=advice.volume_m3,
        depletion_mm=advice.depletion_mm, taw_mm=advice.taw_mm, raw_mm=advice.raw_mm,
        etc_mm_day=advice.etc_mm_day, why=advice.why[:512], why_zh=advice.why_zh[:512],
    ))


def run_field_water(sessions: sessionmaker[Any], store: TelemetryStore, *, today: date,
                    lookback_days: int = 90) -> FieldWaterRun:
    """Compute station ET0, field balances up to yesterday and today's advice."""
    run = FieldWaterRun(today=today)
    yesterday = today - timedelta(days=1)
    first = today - timedelta(days=lookback_days)
    with sessions() as session, session.begin():
        stations = _stations(session)
        weather: dict[str, list[DailyWeather]] = {}
        for station, _farm in stations:
            weather[station.device_id] = station_daily_weather(
                store=store, station=station, first_day=first, last_day=yesterday)
            _save_station_days(session, station, weather[station.device_id])
            run.stations += 1
        sites = session.scalars(
            select(Site).where(Site.kind == "field")
            .options(selectinload(Site.devices), selectinload(Site.farm).selectinload(Farm.county))
        )
        for site in sites:
            reason = _run_field(session, store, site, stations, weather, first, today, run)
            if reason is not None:
                run.skipped[site.id] = reason
    log.info("field water %s: %d stations, %d fields, %d advise irrigation, %d skipped",
             today, run.stations, run.fields, sum(a.irrigate for a in run.advice),
             len(run.skipped))
    return run


def _run_field(session: Session, store: TelemetryStore, site: Site,
               stations: list[tuple[StationSpec, str]], weather: dict[str, list[DailyWeather]],
               first: date, today: date, run: FieldWaterRun) -> str | None:
    """Balance and advice of one field; returns why it was skipped, or None."""
    try:
        spec = field_spec(session, site, first)
    except (ValueError, KeyError) as exc:
        return str(exc)
    station = _station_for(site, stations)
    if station is None:
        return "no weather station on the farm or in the county"
    start = max(first, spec.planting_date)
    if start >= today:
        return "season has not started"
    days = [w for w in weather[station.device_id] if w.day >= start]
    measured = [i for i, w in enumerate(days) if w.et0_mm is not None]
    if not measured:
        return f"no ET0 from station {station.device_id} since {start}"
    days = days[measured[0]:]  # the balance starts with the station's first ET0
    balance = field_water_balance(store=store, field=spec, weather=days)
    advice = field_irrigation_advice(field=spec, balance=balance, today=today)
    _save_field(session, spec, station, balance, advice)
    run.fields += 1
    run.advice.append(advice)
    return None


def field_water_job(sessions: sessionmaker[Any], store: TelemetryStore,
                    alerts: AlertService | None,
                    today: Callable[[], date] = cst_today) -> FieldWaterRun:
    """Run the field-water computation for today (CST) and feed the depletion rule."""
    day = today()
    run = run_field_water(sessions, store, today=day)
    if alerts is None or not run.advice:
        return run
    with sessions() as session:
        where = {a.site_id: session.get(Site, a.site_id) for a in run.advice}
        items = []
        for a in run.advice:
            site = where[a.site_id]
            if site is not None:
                items.append((a.site_id, site.farm_id, site.farm.county_id,
                              cst_midnight_ms(day), a.depletion_mm, a.raw_mm))
    alerts.water_balance(items)
    return run
