"""A plain, read-only picture of the registry for one computation: counties, farms, sites, devices.

Loaded with four queries (no per-device round trips; a device's farm and county come from its
site), optionally narrowed to a set of farms. A device is expected to report from its
``created_at`` until it is revoked or retired; a device that was moved appears once per site it
stood on, each entry expected only while it stood there (see :class:`DeviceRef`).
The computations downstream never touch the database.

JSON attributes and timestamps are read as the driver returns them (text on SQLite) and
parsed only where needed: attributes only when they name a key the view keeps, each distinct
timestamp once (a registry imported in bulk shares a few) — 200,000 devices load in about a
second instead of several.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import String, or_, select, type_coerce
from sqlalchemy.orm import Session

from devices.registry import County, Device, DevicePlacement, Farm, Site
from storage.clock import to_ms


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
    retired_ms: int | None = None
    """When the farm was retired [UTC ms]; None while in service."""

    @property
    def service_unit(self) -> str:
        """The unit counted by 信息化管理服务机构覆盖率: ``county/township`` or ``farm:<id>``."""
        return f"{self.county_id}/{self.township}" if self.township else f"farm:{self.farm_id}"


class SiteRef(NamedTuple):
    """A site with what the sector figures need: kind, area [亩], head count, high-standard flag.

    Named tuples (immutable, like the frozen dataclasses here) for sites and devices: a registry
    of 200,000 devices makes them twice as fast and leaves them out of the garbage collector's
    walks."""

    site_id: str
    farm_id: str
    county_id: str
    kind: str
    area_mu: float
    head_count: int
    high_standard: bool
    retired_ms: int | None = None
    """When the site was retired [UTC ms]; None while in service."""


class DeviceRef(NamedTuple):
    """A device on one site, with its flow-meter attributes and the span it was expected to
    report there [epoch ms]: from ``created_ms`` (its installation, or its arrival on the
    site) until ``revoked_ms`` (revoked, retired or moved away; None: still expected).

    A device that never moved has one entry, keyed by its id; one that moved has one more per
    earlier site, keyed ``<device id>@<site id>#<arrival ms>`` (``entry``)."""

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
    entry: str | None = None
    """The key of an earlier placement; None for the device's current one."""

    @property
    def key(self) -> str:
        """The key of this entry in :attr:`RegistryView.devices`."""
        return self.device_id if self.entry is None else self.entry


@dataclass(frozen=True, slots=True)
class RegistryView:
    """Counties, farms, sites and devices, keyed by id."""

    counties: Mapping[str, CountyRef]
    farms: Mapping[str, FarmRef]
    sites: Mapping[str, SiteRef]
    devices: Mapping[str, DeviceRef]
    """Keyed by :attr:`DeviceRef.key`: one entry per device and site it stood on."""


def _ms(dt: datetime | None) -> int | None:
    """Epoch ms of a registry timestamp; naive values (SQLite) are UTC."""
    return None if dt is None else to_ms(dt)


class _Timestamps:
    """Epoch ms of raw timestamp column values (ISO text or datetime), each parsed once."""

    def __init__(self) -> None:
        self.seen: dict[object, int | None] = {None: None}

    def __call__(self, raw: object) -> int | None:
        if raw in self.seen:
            return self.seen[raw]
        dt = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
        if not isinstance(dt, datetime):
            raise TypeError(f"not a timestamp: {raw!r}")
        ms = self.seen[raw] = _ms(dt)
        return ms


_NO_ATTRS: dict[str, Any] = {}


def _attrs(raw: object, may_hold: Callable[[str], object]) -> dict[str, Any]:
    """A raw JSON attributes value (text, or already decoded by the driver), parsed only when
    ``may_hold`` finds a key the view keeps in its text; an empty dict otherwise."""
    if raw is None:
        return _NO_ATTRS
    if isinstance(raw, str):
        if not may_hold(raw):
            return _NO_ATTRS
        raw = json.loads(raw)
    return raw if isinstance(raw, dict) else _NO_ATTRS


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "1"))


_SITE_KEYS = re.compile("high_standard").search
_DEVICE_KEYS = re.compile("role|source_site_id|rollover_m3").search


def load_registry_view(session: Session, *, farm_ids: Collection[str] | None = None) -> RegistryView:
    """The registry as plain values; ``farm_ids`` narrows farms, sites and devices (None = all).

    A site is high-standard farmland (高标准农田) when its attribute ``high_standard`` is true.
    """
    counties = {c.id: CountyRef(c.id, c.name_zh, c.name_en, c.plan_group)
                for c in session.scalars(select(County).order_by(County.id))}
    farm_q = select(Farm.id, Farm.county_id, Farm.township, type_coerce(Farm.retired_at, String))
    site_q = select(Site.id, Site.farm_id, Farm.county_id, Site.kind, Site.area_mu, Site.head_count,
                    type_coerce(Site.attributes, String), type_coerce(Site.retired_at, String)
                    ).join(Farm, Site.farm_id == Farm.id)
    dev_q = select(Device.id, Device.type, Device.site_id, type_coerce(Device.attributes, String),
                   type_coerce(Device.created_at, String), type_coerce(Device.revoked_at, String),
                   type_coerce(Device.retired_at, String))
    closed_q = (select(DevicePlacement.device_id, DevicePlacement.site_id,
                       type_coerce(DevicePlacement.valid_from, String),
                       type_coerce(DevicePlacement.valid_to, String))
                .where(DevicePlacement.valid_to.is_not(None)))
    if farm_ids is not None:
        wanted = sorted(farm_ids)
        farm_q = farm_q.where(Farm.id.in_(wanted))
        site_q = site_q.where(Farm.id.in_(wanted))
        stood = (select(DevicePlacement.device_id).join(Site, DevicePlacement.site_id == Site.id)
                 .where(Site.farm_id.in_(wanted)))
        dev_q = dev_q.join(Site, Device.site_id == Site.id).where(
            or_(Site.farm_id.in_(wanted), Device.id.in_(stood)))
        closed_q = closed_q.where(DevicePlacement.device_id.in_(stood))
    conn = session.connection()  # Core rows: no ORM result processing per row
    ms = _Timestamps()
    farms = {fid: FarmRef(fid, cid, town, ms(retired))
             for fid, cid, town, retired in conn.execute(farm_q).all()}
    sites = {
        sid: SiteRef(sid, fid, cid, kind, float(area or 0.0), int(heads or 0),
                     attrs is not None and attrs != "{}"
                     and _flag(_attrs(attrs, _SITE_KEYS).get("high_standard")), ms(retired))
        for sid, fid, cid, kind, area, heads, attrs, retired in conn.execute(site_q).all()
    }
    seen = ms.seen
    closed: dict[str, list[tuple[str, int, int]]] = {}
    for did, sid, since, until in conn.execute(closed_q).all():
        closed.setdefault(did, []).append((sid, ms(since) or 0, ms(until) or 0))
    devices: dict[str, DeviceRef] = {}
    for did, dtype, sid, attrs, created, revoked, retired in conn.execute(dev_q).all():
        c = seen[created] if created in seen else ms(created)
        r = seen[revoked] if revoked in seen else ms(revoked)
        if retired is not None:
            t = ms(retired)
            r = t if r is None or (t is not None and t < r) else r
        a = _NO_ATTRS if attrs is None or attrs == "{}" else _attrs(attrs, _DEVICE_KEYS)
        if a:
            role, source, rollover = a.get("role"), a.get("source_site_id"), a.get("rollover_m3")
            extra = (None if role is None else str(role), None if source is None else str(source),
                     None if rollover is None else float(rollover))
        else:
            extra = (None, None, None)
        moves = closed.get(did)
        past = _earlier_placements(moves, retired is not None) if moves else []
        for psid, since_ms, until_ms in past:
            site = sites.get(psid)
            if site is not None:
                ref = DeviceRef(did, dtype, psid, site.farm_id, site.county_id, *extra,
                                since_ms if c is None else max(c, since_ms),
                                until_ms if r is None else min(r, until_ms),
                                f"{did}@{psid}#{since_ms}")
                devices[ref.key] = ref
        site = sites.get(sid)
        if site is None:  # a site of a farm not asked for
            continue
        if past:
            arrived = max(until_ms for _, _, until_ms in past)
            c = arrived if c is None else max(c, arrived)
        devices[did] = DeviceRef(did, dtype, sid, site.farm_id, site.county_id, *extra, c, r)
    return RegistryView(counties, farms, sites, devices)


def _earlier_placements(closed: Collection[tuple[str, int, int]],
                        retired: bool) -> list[tuple[str, int, int]]:
    """The closed placements (site, from, to [epoch ms]) before the device's current one:
    all of them, except a retired device's last, which is its current one closed by the
    retirement."""
    ordered = sorted(closed, key=lambda p: p[1])
    return ordered[:-1] if retired and ordered else ordered
