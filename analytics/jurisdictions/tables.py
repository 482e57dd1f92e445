"""Tables of jurisdictions, their official denominators and reported indicator values.

``official_denominators`` and ``reported_indicator_values`` are append-only (write-once rows):
an edit is a new row with its own provenance (document, year, who entered it, valid from);
the current figure is the newest valid one, the older ones stay as history.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics.indicators.immutable import write_once
from devices.registry import utcnow
from storage.metadata import Base

CITY_SCOPE = "city"
"""Scope of a figure for the jurisdiction as a whole (its units use their county id)."""


class Jurisdiction(Base):
    """A city or county-level city whose plan farmtel reports against."""

    __tablename__ = "jurisdictions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    level_zh: Mapped[str] = mapped_column(String(32))
    unit_level_zh: Mapped[str] = mapped_column(String(32))
    target_set_version: Mapped[str | None] = mapped_column(String(64), default=None)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128), default=None)


class JurisdictionUnit(Base):
    """A unit of a jurisdiction (a registry county: 县/市/区, or a township of a county-level
    city), in the jurisdiction's order, with the townships the data names."""

    __tablename__ = "jurisdiction_units"

    county_id: Mapped[str] = mapped_column(ForeignKey("counties.id"), primary_key=True)
    jurisdiction_id: Mapped[str] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    townships: Mapped[list[str]] = mapped_column(JSON, default=list)


@write_once
class OfficialDenominator(Base):
    """One official figure (farmland [亩], facility area [亩], livestock [head], service units)
    of a jurisdiction or one of its units, with its provenance (append-only)."""

    __tablename__ = "official_denominators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jurisdiction_id: Mapped[str] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(String(512))
    section: Mapped[str] = mapped_column(String(512), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    entered_by: Mapped[str] = mapped_column(String(128))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@write_once
class ReportedValue(Base):
    """A reported (not sensed) indicator value of a jurisdiction or unit for one year, with
    its provenance (append-only)."""

    __tablename__ = "reported_indicator_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jurisdiction_id: Mapped[str] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    document: Mapped[str] = mapped_column(String(512))
    section: Mapped[str] = mapped_column(String(512), default="")
    entered_by: Mapped[str] = mapped_column(String(128))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
