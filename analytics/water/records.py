"""Derived daily field-water records in the metadata DB: station days, field days, advice,
harvests. Upserted by the daily job (a recomputed day replaces the old one)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from analytics.water.headtail import FieldDayRow
from devices.registry import utcnow
from storage.metadata import Base


class StationDay(Base):
    """One CST day of a weather station: weather aggregates and ET0 [mm/day]."""

    __tablename__ = "station_days"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    et0_mm: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(16))
    t_max_c: Mapped[float | None] = mapped_column(Float)
    t_min_c: Mapped[float | None] = mapped_column(Float)
    rh_max_pct: Mapped[float | None] = mapped_column(Float)
    rh_min_pct: Mapped[float | None] = mapped_column(Float)
    wind_2m_m_s: Mapped[float | None] = mapped_column(Float)
    solar_mj_m2_day: Mapped[float | None] = mapped_column(Float)
    rain_mm: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FieldDay(Base):
    """One CST day of a field's FAO-56 root-zone water balance [mm]."""

    __tablename__ = "field_days"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(128))
    et0_mm: Mapped[float] = mapped_column(Float)
    et0_method: Mapped[str] = mapped_column(String(16))
    kc: Mapped[float] = mapped_column(Float)
    etc_mm: Mapped[float] = mapped_column(Float)
    etc_adj_mm: Mapped[float] = mapped_column(Float)
    rain_mm: Mapped[float | None] = mapped_column(Float)
    effective_rain_mm: Mapped[float] = mapped_column(Float)
    irrigation_mm: Mapped[float] = mapped_column(Float)
    irrigation_m3: Mapped[float] = mapped_column(Float)
    deep_percolation_mm: Mapped[float] = mapped_column(Float)
    depletion_mm: Mapped[float] = mapped_column(Float)
    observed_depletion_mm: Mapped[float | None] = mapped_column(Float)
    taw_mm: Mapped[float] = mapped_column(Float)
    raw_mm: Mapped[float] = mapped_column(Float)
    root_depth_m: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FieldAdvice(Base):
    """Irrigation advice for a field on a day, with its reasons."""

    __tablename__ = "field_advice"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    irrigate: Mapped[bool] = mapped_column(Boolean)
    net_depth_mm: Mapped[float] = mapped_column(Float)
    volume_m3: Mapped[float] = mapped_column(Float)
    depletion_mm: Mapped[float] = mapped_column(Float)
    taw_mm: Mapped[float] = mapped_column(Float)
    raw_mm: Mapped[float] = mapped_column(Float)
    etc_mm_day: Mapped[float] = mapped_column(Float)
    why: Mapped[str] = mapped_column(String(512))
    why_zh: Mapped[str] = mapped_column(String(512))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HarvestRecord(Base):
    """A harvest entered by an agronomist: the yield behind water productivity [kg/ha]."""

    __tablename__ = "harvest_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    season_year: Mapped[int] = mapped_column(Integer)
    crop: Mapped[str] = mapped_column(String(64))
    yield_kg_ha: Mapped[float] = mapped_column(Float)
    harvested_on: Mapped[date] = mapped_column(Date)
    entered_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def load_field_days(session: Session, site_ids: Collection[str], first_day: date,
                    last_day: date) -> dict[str, list[FieldDayRow]]:
    """Stored daily balance rows of ``site_ids`` over ``first_day``..``last_day``, per site,
    oldest first (the head–tail η's net water, :mod:`analytics.water.headtail`)."""
    out: dict[str, list[FieldDayRow]] = {s: [] for s in site_ids}
    ids = list(site_ids)
    for i in range(0, len(ids), _IN_CHUNK):
        _read_field_days(session, ids[i:i + _IN_CHUNK], first_day, last_day, out)
    return out


_IN_CHUNK = 5_000
"""Site ids per query (SQLite allows 32,766 bound parameters per statement)."""


def _read_field_days(session: Session, site_ids: list[str], first_day: date, last_day: date,
                     out: dict[str, list[FieldDayRow]]) -> None:
    rows = session.execute(
        select(FieldDay.site_id, FieldDay.day, FieldDay.irrigation_mm, FieldDay.irrigation_m3,
               FieldDay.effective_rain_mm, FieldDay.etc_adj_mm, FieldDay.deep_percolation_mm,
               FieldDay.depletion_mm, FieldDay.observed_depletion_mm, FieldDay.rain_mm)
        .where(FieldDay.site_id.in_(site_ids), FieldDay.day >= first_day,
               FieldDay.day <= last_day)
        .order_by(FieldDay.site_id, FieldDay.day))
    for r in rows:
        out[r.site_id].append(FieldDayRow(
            day=r.day, irrigation_mm=r.irrigation_mm, irrigation_m3=r.irrigation_m3,
            effective_rain_mm=r.effective_rain_mm, etc_adj_mm=r.etc_adj_mm,
            deep_percolation_mm=r.deep_percolation_mm, depletion_mm=r.depletion_mm,
            observed_depletion_mm=r.observed_depletion_mm, rain_mm=r.rain_mm))
