"""The registry: counties -> farms -> sites -> devices, as SQLAlchemy tables.

Sites are fields, greenhouses, barns or water sources; a site carries its area [亩] or its
head count, and its crop or species. Devices belong to a site (and so to its farm and county)
and may sit behind a gateway device. A device's placements (which site, from when to when)
are kept in ``device_placements``, so a device moved to another site keeps its past there.
Farms, sites and devices are retired (``retired_at``), never deleted: their history stays.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    and_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from storage.metadata import Base


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class SiteKind(StrEnum):
    """What a site is."""

    FIELD = "field"
    GREENHOUSE = "greenhouse"
    BARN = "barn"
    WATER_SOURCE = "water_source"


class IrrigationMethod(StrEnum):
    """How a field is irrigated (site attribute ``irrigation_method``). 高效节水灌溉 are
    喷灌, 微灌 (incl. 滴灌) and 管道输水灌溉 (低压管灌): GB/T 50363-2018 节水灌溉工程技术
    标准; surface (畦灌/沟灌/漫灌) is not, however well metered."""

    SPRINKLER = "sprinkler"  # 喷灌
    MICRO = "micro"  # 微灌/滴灌
    LOW_PRESSURE_PIPE = "low_pressure_pipe"  # 低压管灌
    SURFACE = "surface"  # 畦灌/沟灌/漫灌 (flood)
    RAINFED = "rainfed"  # 雨养, not irrigated


HIGH_EFFICIENCY_IRRIGATION = frozenset({IrrigationMethod.SPRINKLER, IrrigationMethod.MICRO,
                                        IrrigationMethod.LOW_PRESSURE_PIPE})
"""The methods 高效节水灌溉面积 counts."""


class County(Base):
    """A county-level unit (县/市/区) of the city."""

    __tablename__ = "counties"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    plan_group: Mapped[str] = mapped_column(String(32))

    farms: Mapped[list[Farm]] = relationship(back_populates="county")


class Farm(Base):
    """A farm, cooperative or enterprise base."""

    __tablename__ = "farms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    county_id: Mapped[str] = mapped_column(ForeignKey("counties.id"), index=True)
    township: Mapped[str | None] = mapped_column(String(64), default=None)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    county: Mapped[County] = relationship(back_populates="farms")
    sites: Mapped[list[Site]] = relationship(back_populates="farm")


class Site(Base):
    """A field, greenhouse, barn or water source of a farm."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    farm_id: Mapped[str] = mapped_column(ForeignKey("farms.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    area_mu: Mapped[float | None] = mapped_column(Float, default=None)
    head_count: Mapped[int | None] = mapped_column(Integer, default=None)
    crop: Mapped[str | None] = mapped_column(String(64), default=None)
    species: Mapped[str | None] = mapped_column(String(64), default=None)
    planting_date: Mapped[date | None] = mapped_column(Date, default=None)
    lat_deg: Mapped[float | None] = mapped_column(Float, default=None)
    lon_deg: Mapped[float | None] = mapped_column(Float, default=None)
    elevation_m: Mapped[float | None] = mapped_column(Float, default=None)
    irrigation_method: Mapped[str | None] = mapped_column(String(32), default=None)
    """An :class:`IrrigationMethod` value (fields); None = not declared."""
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    farm: Mapped[Farm] = relationship(back_populates="sites")
    devices: Mapped[list[Device]] = relationship(back_populates="site")


class Device(Base):
    """A provisioned device; only a hash of its MQTT password is kept."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mqtt_username: Mapped[str] = mapped_column(String(160), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    site: Mapped[Site] = relationship(back_populates="devices")


def live_device() -> ColumnElement[bool]:
    """WHERE clause of devices in service: neither revoked nor retired."""
    return and_(Device.revoked_at.is_(None), Device.retired_at.is_(None))


class DevicePlacement(Base):
    """Where a device was: on ``site_id`` from ``valid_from`` until ``valid_to`` (exclusive;
    ``None`` while it is still there in service). A device's placements follow each other
    without gaps from its ``created_at``; the open one, if any, is its ``site_id``; retiring
    the device closes it."""

    __tablename__ = "device_placements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class RegistryVersion(Base):
    """A single-row counter bumped on every registry change, so caches know when to reload."""

    __tablename__ = "registry_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


SHUOZHOU_COUNTIES: tuple[tuple[str, str, str, str], ...] = (
    # (id, 中文名, English name, plan group) - Shuozhou 14th five-year plan, county groups
    ("shuocheng", "朔城区", "Shuocheng District", "先行示范"),
    ("huairen", "怀仁市", "Huairen City", "先行示范"),
    ("pinglu", "平鲁区", "Pinglu District", "整体推进"),
    ("shanyin", "山阴县", "Shanyin County", "整体推进"),
    ("yingxian", "应县", "Ying County", "重点帮扶"),
    ("youyu", "右玉县", "Youyu County", "重点帮扶"),
)


def seed_counties(session: Session) -> None:
    """Insert the six counties of Shuozhou if they are missing."""
    existing = set(session.scalars(select(County.id)))
    for cid, zh, en, group in SHUOZHOU_COUNTIES:
        if cid not in existing:
            session.add(County(id=cid, name_zh=zh, name_en=en, plan_group=group))


def bump_version(session: Session) -> int:
    """Mark the registry as changed; returns the new version."""
    row = session.get(RegistryVersion, 1)
    if row is None:
        row = RegistryVersion(id=1, version=0)
        session.add(row)
    row.version += 1
    return row.version


def current_version(session: Session) -> int:
    """The registry's change counter (0 before any change)."""
    value = session.scalar(select(RegistryVersion.version).where(RegistryVersion.id == 1))
    return int(value or 0)
