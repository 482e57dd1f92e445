"""Plain descriptions of the stations, fields, probes and flow meters the water layer uses.

They are built from registry rows (``devices.registry.Site`` / ``Device``, read inside an
open session) with the ``from_*`` constructors, or directly in tests and jobs. The
computations never touch the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from analytics.agronomy import CropParams, adjusted_depletion_fraction
from analytics.water.crop import DEFAULT_ROOT_DEPTH_MIN_M, crop_params
from analytics.water.soil import LOESS_SILT_LOAM, SoilProperties, soil_from_attributes
from devices.catalogue import DEVICE_TYPES

if TYPE_CHECKING:
    from devices.registry import Device, Site

__all__ = [
    "M2_PER_MU",
    "FieldSpec",
    "FlowMeterSpec",
    "MeterRole",
    "ProbeSpec",
    "StationSpec",
    "mu_to_m2",
]

M2_PER_MU = 10_000.0 / 15.0
"""1 亩 = 1/15 ha = 666.67 m² [m²]."""

MeterRole = Literal["source", "field"]

_STATION_INTERVAL_S = DEVICE_TYPES["weather_station"].report_interval_s


def mu_to_m2(*, area_mu: float) -> float:
    """Area in 亩 → m²."""
    return area_mu * M2_PER_MU


def _float_attr(attributes: Mapping[str, Any], key: str, default: float) -> float:
    value = attributes.get(key)
    return default if value is None else float(value)


def _county_of(device: Device) -> str:
    """County id of a device's site (needs the session that loaded ``device``)."""
    return str(device.site.farm.county_id)


@dataclass(frozen=True, slots=True)
class StationSpec:
    """An automatic weather station: where it is and how high its anemometer sits."""

    device_id: str
    lat_deg: float
    elevation_m: float
    wind_height_m: float = 2.0
    report_interval_s: int = _STATION_INTERVAL_S
    """Nominal report interval [s] (catalogue: 600 s → 144 reports/day)."""
    site_id: str = ""
    farm_id: str = ""
    county: str = ""

    @property
    def expected_reports_per_day(self) -> float:
        """Reports a complete day holds per quantity [1/day]."""
        return 86_400 / self.report_interval_s

    @classmethod
    def from_device(cls, device: Device) -> StationSpec:
        """From a ``weather_station`` device and its site (lat required; elevation: device
        attribute ``elevation_m``, else the site's, else 0 m)."""
        site = device.site
        attrs = device.attributes or {}
        if site.lat_deg is None:
            raise ValueError(f"site {site.id} of station {device.id} has no latitude")
        elevation = _float_attr(attrs, "elevation_m", site.elevation_m or 0.0)
        return cls(
            device_id=device.id,
            lat_deg=float(site.lat_deg),
            elevation_m=elevation,
            wind_height_m=_float_attr(attrs, "wind_height_m", 2.0),
            report_interval_s=int(attrs.get("report_interval_s", _STATION_INTERVAL_S)),
            site_id=site.id,
            farm_id=site.farm_id,
            county=_county_of(device),
        )


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A soil-moisture probe and its install depth [cm]."""

    device_id: str
    depth_cm: float
    span: tuple[int, int] | None = None
    """``[from, until)`` [UTC ms]: read only while it stood on the field (None: always)."""

    @classmethod
    def from_device(cls, device: Device) -> ProbeSpec:
        """From a ``soil_moisture`` device (attribute ``depth_cm``, default 20 cm)."""
        return cls(device.id, _float_attr(device.attributes or {}, "depth_cm", 20.0))


@dataclass(frozen=True, slots=True)
class FlowMeterSpec:
    """A flow meter with a cumulative ``volume_m3`` counter.

    ``role`` is ``"source"`` (withdrawal at a well/pump/head works, on a water-source site)
    or ``"field"`` (delivery at a field's inlet). ``source_site_id`` is the water source the
    meter belongs to: the meter's own site for a source meter, the device attribute
    ``source_site_id`` for a field meter. ``rollover_m3`` is the register capacity (device
    attribute), if the counter wraps.
    """

    device_id: str
    role: MeterRole
    site_id: str
    source_site_id: str | None = None
    county: str = ""
    rollover_m3: float | None = None
    span: tuple[int, int] | None = None
    """``[from, until)`` [UTC ms]: read only while it stood on ``site_id`` (None: always)."""

    @classmethod
    def from_device(cls, device: Device) -> FlowMeterSpec:
        """From a ``flow_meter`` device (attributes ``role``, ``source_site_id``,
        ``rollover_m3``); the county is that of the meter's site."""
        attrs = device.attributes or {}
        role = str(attrs.get("role", "field"))
        if role not in ("source", "field"):
            raise ValueError(f"flow meter {device.id}: role must be source or field: {role!r}")
        source = device.site_id if role == "source" else attrs.get("source_site_id")
        rollover = attrs.get("rollover_m3")
        return cls(
            device_id=device.id,
            role="source" if role == "source" else "field",
            site_id=device.site_id,
            source_site_id=None if source is None else str(source),
            county=_county_of(device),
            rollover_m3=None if rollover is None else float(rollover),
        )


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field (or greenhouse) under water balance: crop, season, soil and root depths."""

    site_id: str
    area_mu: float
    crop: CropParams
    planting_date: date
    soil: SoilProperties = LOESS_SILT_LOAM
    zr_min_m: float = DEFAULT_ROOT_DEPTH_MIN_M
    zr_max_m: float | None = None
    """Maximum root depth [m]; ``None`` = the lower bound of the crop's Table 22 range."""
    p: float | None = None
    """Depletion fraction [-]; ``None`` = the crop's Table 22 value."""
    p_adjust_for_etc: bool = False
    """Adjust p daily for the evaporative demand, p = p + 0.04 (5 − ETc) clamped to 0.1..0.8
    (FAO-56 Table 22 footnote). Default False: p as tabulated (valid for ETc ≈ 5 mm/day),
    the behaviour before the option existed; site attribute ``p_adjust_for_etc``."""
    probes: tuple[ProbeSpec, ...] = ()
    meters: tuple[FlowMeterSpec, ...] = field(default=())

    @property
    def area_m2(self) -> float:
        """Field area [m²]."""
        return mu_to_m2(area_mu=self.area_mu)

    @property
    def root_depth_max_m(self) -> float:
        """Zr,max [m]: explicit, else the shallow end of FAO-56 Table 22 (conservative)."""
        return self.crop.root_depth_m[0] if self.zr_max_m is None else self.zr_max_m

    @property
    def depletion_fraction(self) -> float:
        """p [-]: explicit, else FAO-56 Table 22."""
        return self.crop.p if self.p is None else self.p

    def depletion_fraction_for(self, *, etc_mm_day: float) -> float:
        """p [-] on a day of crop ET ``etc_mm_day`` [mm/day]: :attr:`depletion_fraction`,
        adjusted per FAO-56 Table 22 footnote when :attr:`p_adjust_for_etc` is set."""
        if not self.p_adjust_for_etc:
            return self.depletion_fraction
        return float(adjusted_depletion_fraction(p_table=self.depletion_fraction,
                                                 etc_mm_day=etc_mm_day))

    @classmethod
    def from_site(cls, site: Site) -> FieldSpec:
        """From a field/greenhouse site and its devices (probes, field flow meters).

        Needs ``area_mu``, ``crop`` and ``planting_date``; soil from the attributes (see
        :func:`~analytics.water.soil.soil_from_attributes`); attributes ``root_depth_min_m``,
        ``root_depth_max_m`` and ``p`` override the defaults; ``p_adjust_for_etc`` (bool) turns
        on FAO-56's daily adjustment of p.
        """
        if site.area_mu is None or site.crop is None or site.planting_date is None:
            raise ValueError(f"site {site.id} needs area_mu, crop and planting_date")
        attrs = site.attributes or {}
        zr_max = attrs.get("root_depth_max_m")
        p = attrs.get("p")
        devices = [d for d in site.devices if d.revoked_at is None and d.retired_at is None]
        return cls(
            site_id=site.id,
            area_mu=float(site.area_mu),
            crop=crop_params(crop=site.crop),
            planting_date=site.planting_date,
            soil=soil_from_attributes(attributes=attrs),
            zr_min_m=_float_attr(attrs, "root_depth_min_m", DEFAULT_ROOT_DEPTH_MIN_M),
            zr_max_m=None if zr_max is None else float(zr_max),
            p=None if p is None else float(p),
            p_adjust_for_etc=bool(attrs.get("p_adjust_for_etc", False)),
            probes=tuple(ProbeSpec.from_device(d) for d in devices if d.type == "soil_moisture"),
            meters=tuple(
                FlowMeterSpec.from_device(d)
                for d in devices
                if d.type == "flow_meter" and (d.attributes or {}).get("role", "field") == "field"
            ),
        )
