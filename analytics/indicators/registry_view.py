"""A plain, read-only picture of the registry for one computation: counties, farms, sites, devices.

Loaded with three queries (no per-device round trips), optionally narrowed to a set of farms.
The computations downstream never touch the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.registry import County, Device, Farm, Site


@dataclass(frozen=True, slots=True)
class CountyRef:
    """A county (县/市/区)."""

    county_id: str
    name_zh: str
    name_en: str
    plan_group: str


@dataclass(frozen=True, slots=True)
class FarmRef:
    """A farm and its service unit (township, or the farm itself when no township is set)."""

    farm_id: str
    county_id: str
    township: str | None

    @property
    def service_unit(self) -> str:
        """The unit counted by 信息化管理服务机构覆盖率: ``county/township`` or ``farm:<id>``."""
        return f"{self.county_id}/{self.township}" if self.township else f"farm:{self.farm_id}"


@dataclass(frozen=True, slots=True)
class SiteRef:
    """A site with what the sector figures need: kind, area [亩], head count, high-standard flag."""

    site_id: str
    farm_id: str
    county_id: str
    kind: str
    area_mu: float
    head_count: int
    high_standard: bool


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """A device with its place, flow-meter attributes and life span [epoch ms]."""

    device_id: str
    device_type: str
    site_id: str
    farm_id: str
    county_id: str
    role: str | None
    source_site_id: str | None
    rollover_m3: float | None
    created_ms: int | None
    revoked_ms: int | None


@dataclass(frozen=True, slots=True)
class RegistryView:
    """Counties, farms, sites and devices, keyed by id."""

    counties: Mapping[str, CountyRef]
    farms: Mapping[str, FarmRef]
    sites: Mapping[str, SiteRef]
    devices: Mapping[str, DeviceRef]


def _ms(dt: datetime | None) -> int | None:
    """Epoch ms of a registry timestamp; naive values (SQLite) are UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "1"))


def load_registry_view(session: Session, *, farm_ids: Collection[str] | None = None) -> RegistryView:
    """The registry as plain values; ``farm_ids`` narrows farms, sites and devices (None = all).

    A site is high-standard farmland (高标准农田) when its attribute ``high_standard`` is true.
    """
    counties = {c.id: CountyRef(c.id, c.name_zh, c.name_en, c.plan_group)
                for c in session.scalars(select(County).order_by(County.id))}
    farm_q = select(Farm.id, Farm.county_id, Farm.township)
    site_q = select(Site.id, Site.farm_id, Farm.county_id, Site.kind, Site.area_mu, Site.head_count,
                    Site.attributes).join(Farm, Site.farm_id == Farm.id)
    dev_q = (select(Device.id, Device.type, Device.site_id, Site.farm_id, Farm.county_id,
                    Device.attributes, Device.created_at, Device.revoked_at)
             .join(Site, Device.site_id == Site.id).join(Farm, Site.farm_id == Farm.id))
    if farm_ids is not None:
        wanted = sorted(farm_ids)
        farm_q = farm_q.where(Farm.id.in_(wanted))
        site_q = site_q.where(Farm.id.in_(wanted))
        dev_q = dev_q.where(Farm.id.in_(wanted))
    farms = {fid: FarmRef(fid, cid, town) for fid, cid, town in session.execute(farm_q)}
    sites = {
        sid: SiteRef(sid, fid, cid, kind, float(area or 0.0), int(heads or 0),
                     _flag((attrs or {}).get("high_standard")))
        for sid, fid, cid, kind, area, heads, attrs in session.execute(site_q)
    }
    devices = {}
    for did, dtype, sid, fid, cid, attrs, created, revoked in session.execute(dev_q):
        a = attrs or {}
        role = a.get("role")
        source = a.get("source_site_id")
        rollover = a.get("rollover_m3")
        devices[did] = DeviceRef(did, dtype, sid, fid, cid,
                                 None if role is None else str(role),
                                 None if source is None else str(source),
                                 None if rollover is None else float(rollover),
                                 _ms(created), _ms(revoked))
    return RegistryView(counties, farms, sites, devices)
