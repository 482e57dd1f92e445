"""The charts of each kind of site: field, greenhouse, barn, water source, and a collar's animal.

Values come from the store's window aggregates; derived indices (VPD, THI) are computed from the
window means of temperature and humidity, and thresholds come from the site's effective alert
rules, so the lines drawn are the ones that raise alerts. A site's series are the devices that
stood on it during the range, each read only for the time it stood there
(``devices.placements``): a device moved between sites shows its readings before the move on
the old site's charts and those after it on the new one's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.agronomy import thi_nrc, vapour_pressure_deficit_kpa
from analytics.water.records import FieldAdvice, FieldDay
from analytics.water.soil import soil_from_attributes
from api.usecases.alerts import rule_param
from api.usecases.devices import site_devices
from api.web.charts import (
    Band,
    Chart,
    Line,
    Series,
    Window,
    chart,
    windows,
)
from api.web.i18n import Translator
from devices.placements import Placed, placed_on
from devices.registry import Device, Site, live_device
from storage.clock import DAY_MS, cst_midnight_ms
from storage.telemetry import Aggregation, RangeQuery, TelemetryStore

MU_M2 = 666.67
MIN_DAILY_DAYS = 7


@dataclass
class SiteView:
    """What a site page shows besides the charts' frame."""

    charts: list[Chart] = field(default_factory=list)
    advice: FieldAdvice | None = None
    station_id: str | None = None
    animals: list[dict[str, Any]] = field(default_factory=list)


def _depth(d: Device) -> float:
    try:
        return float((d.attributes or {}).get("depth_cm", 0))
    except (TypeError, ValueError):
        return 0.0


def _derived(parts: Sequence[Mapping[int, float]], fn: Any) -> dict[int, float]:
    """fn(t, rh) per window where both aggregates exist."""
    t, rh = parts
    common = sorted(set(t) & set(rh))
    if not common:
        return {}
    values = fn(t_c=[t[k] for k in common], rh_pct=[min(100.0, max(0.0, rh[k])) for k in common])
    return {k: float(v) for k, v in zip(common, values, strict=True)}


def _placed(session: Session, site: Site, w: Window, *types: str,
            lead_ms: int = 0) -> list[Placed]:
    """The devices of ``types`` that stood on ``site`` during ``w`` (from ``lead_ms`` before
    it), by id, each with its spans there."""
    return placed_on(session, site.id, w.start_ms - lead_ms, w.end_ms, types)


def _placed_windows(store: TelemetryStore, placed: Placed, quantity: str, w: Window,
                    agg: Aggregation = Aggregation.MEAN) -> dict[int, float]:
    """{window start [ms]: aggregate} of a device's quantity, from its readings taken while it
    stood on the site (a window cut by a move aggregates only the site's part of it)."""
    out: dict[int, float] = {}
    for start_ms, end_ms in placed.spans:
        q = RangeQuery(quantity=quantity, start_ms=start_ms, end_ms=end_ms,
                       device_id=placed.device.id, every_s=w.every_s, agg=agg,
                       limit=w.max_windows + 2)
        out.update((p.ts_ms, p.value) for p in store.query(q))
    return out


def _counter_deltas(store: TelemetryStore, placed: Placed, w: Window) -> dict[int, float]:
    """Volume per window from a cumulative counter [m³] (resets count as zero), from the
    readings taken on the site (``placed``: from one window before ``w``)."""
    maxima = _placed_windows(store, placed, "volume_m3", w, Aggregation.MAX)
    out: dict[int, float] = {}
    prev: float | None = None
    for ts in sorted(maxima):
        v = maxima[ts]
        if prev is not None and ts >= w.start_ms:
            out[ts] = max(0.0, v - prev)
        prev = v
    return out


def _station_for(session: Session, site: Site) -> str | None:
    """The weather station of a field: the one its water balance used, else one on its farm."""
    used = session.scalar(select(FieldDay.station_id).where(FieldDay.site_id == site.id)
                          .order_by(FieldDay.day.desc()).limit(1))
    if used:
        return used
    return session.scalar(select(Device.id).join(Site, Device.site_id == Site.id)
                          .where(Site.farm_id == site.farm_id, Device.type == "weather_station",
                                 live_device()).order_by(Device.id).limit(1))


def field_view(session: Session, store: TelemetryStore, site: Site, w: Window,
               t: Translator) -> SiteView:
    """Soil moisture by depth with rain and irrigation bars and the RAW threshold; daily water
    balance; ET0/ETc; the newest irrigation advice."""
    view = SiteView()
    probes = sorted(_placed(session, site, w, "soil_moisture"), key=lambda p: _depth(p.device))
    parts: list[tuple[Series, Mapping[int, float | None]]] = [
        (Series(t("field.depth", n=f"{_depth(p.device):g}"), [], unit="%"),
         _placed_windows(store, p, "vwc_pct", w)) for p in probes]
    view.station_id = _station_for(session, site)
    if view.station_id:
        parts.append((Series(t("field.rain"), [], kind="bar", axis=1, unit="mm"),
                      windows(store, view.station_id, "rain_mm", w, Aggregation.SUM)))
    meters = [p for p in _placed(session, site, w, "flow_meter", lead_ms=w.every_s * 1000)
              if (p.device.attributes or {}).get("role") == "field"]
    if meters and site.area_mu:
        irrigation: dict[int, float] = {}
        for m in meters:
            for ts, m3 in _counter_deltas(store, m, w).items():
                irrigation[ts] = irrigation.get(ts, 0.0) + m3 / (site.area_mu * MU_M2) * 1000.0
        parts.append((Series(t("field.irrigation"), [], kind="bar", axis=1, unit="mm"),
                      irrigation))
    days = _field_days(session, site.id, w)
    lines = []
    if days:
        last = days[-1]
        soil = _soil(site)
        if soil is not None and last.root_depth_m > 0:
            theta_t = (soil - last.raw_mm / (1000.0 * last.root_depth_m)) * 100.0
            lines.append(Line(t("field.raw_line"), theta_t, short=t("field.raw_short")))
    view.charts.append(chart("vwc", t("field.vwc"), "%", parts, unit2="mm", lines=lines,
                             bar_width_s=w.every_s))
    day_ms = [cst_midnight_ms(d.day) for d in days]

    def daily(values: list[float | None]) -> dict[int, float | None]:
        return dict(zip(day_ms, values, strict=True))

    view.charts.append(chart("balance", t("field.balance"), "mm", [
        (Series(t("field.depletion"), []), daily([d.depletion_mm for d in days])),
        (Series(t("field.observed"), []), daily([d.observed_depletion_mm for d in days])),
        (Series(t("field.raw"), []), daily([d.raw_mm for d in days])),
        (Series(t("field.taw"), []), daily([d.taw_mm for d in days])),
        (Series(t("field.rain"), [], kind="bar"), daily([d.rain_mm for d in days])),
        (Series(t("field.irrigation"), [], kind="bar"), daily([d.irrigation_mm for d in days])),
    ], bar_width_s=86_400))
    view.charts.append(chart("et", t("field.et"), "mm/d", [
        (Series(t("field.et0"), []), daily([d.et0_mm for d in days])),
        (Series(t("field.etc"), []), daily([d.etc_adj_mm for d in days])),
    ]))
    view.advice = session.scalar(select(FieldAdvice).where(FieldAdvice.site_id == site.id)
                                 .order_by(FieldAdvice.day.desc()).limit(1))
    return view


def _soil(site: Site) -> float | None:
    try:
        return soil_from_attributes(attributes=site.attributes or {}).theta_fc
    except ValueError:
        return None


def _field_days(session: Session, site_id: str, w: Window) -> list[FieldDay]:
    """Daily balance rows in the window (at least the last week, for short windows)."""
    span_days = max(MIN_DAILY_DAYS, (w.end_ms - w.start_ms) // DAY_MS)
    first = w.end_day - timedelta(days=span_days - 1)
    return list(session.scalars(select(FieldDay).where(
        FieldDay.site_id == site_id, FieldDay.day >= first, FieldDay.day <= w.end_day)
        .order_by(FieldDay.day)))


def _per_device(store: TelemetryStore, devices: Sequence[Placed], quantity: str, w: Window,
                label: Any, unit: str, agg: Aggregation = Aggregation.MEAN,
                ) -> list[tuple[Series, Mapping[int, float | None]]]:
    return [(Series(label(p.device), [], unit=unit), _placed_windows(store, p, quantity, w, agg))
            for p in devices]


def greenhouse_view(session: Session, store: TelemetryStore, site: Site, w: Window,
                    t: Translator) -> SiteView:
    """Air temperature, humidity, VPD (with the alert limits) and CO₂ per climate node."""
    nodes = _placed(session, site, w, "greenhouse_climate")

    def label(d: Device) -> str:
        return t("gh.node", id=d.id)

    temps = {p.device.id: _placed_windows(store, p, "air_temp_c", w) for p in nodes}
    rhs = {p.device.id: _placed_windows(store, p, "rh_pct", w) for p in nodes}
    lines = []
    low = rule_param(session, site.id, "gh.vpd_low", "levels")
    high = rule_param(session, site.id, "gh.vpd_high", "levels")
    if low:
        lines.append(Line(t("gh.vpd_low"), float(low[0]), short=t("gh.vpd_low_short")))
    if high:
        lines.append(Line(t("gh.vpd_high"), float(high[0]), short=t("gh.vpd_high_short")))
    view = SiteView()
    view.charts = [
        chart("temp", t("gh.air_temp"), "°C",
              [(Series(label(p.device), []), temps[p.device.id]) for p in nodes]),
        chart("rh", t("gh.rh"), "%",
              [(Series(label(p.device), []), rhs[p.device.id]) for p in nodes]),
        chart("vpd", t("gh.vpd"), "kPa",
              [(Series(label(p.device), []),
                _derived((temps[p.device.id], rhs[p.device.id]), vapour_pressure_deficit_kpa))
               for p in nodes],
              lines=lines),
        chart("co2", t("gh.co2"), "ppm", _per_device(store, nodes, "co2_ppm", w, label, "ppm")),
    ]
    return view


def thi_bands(session: Session, site_id: str, t: Translator) -> list[Band]:
    """The THI stress classes from the site's ``barn.thi`` rule levels (e.g. 72, 79, 89)."""
    levels = rule_param(session, site_id, "barn.thi", "levels") or (72.0, 79.0, 89.0)
    names = [t("barn.band_none"), t("barn.band_mild"), t("barn.band_moderate"),
             t("barn.band_severe")]
    edges: list[float | None] = [None, *[float(v) for v in levels], None]
    return [Band(names[min(i, len(names) - 1)], edges[i], edges[i + 1], i)
            for i in range(len(edges) - 1)]


def barn_view(session: Session, store: TelemetryStore, site: Site, w: Window,
              t: Translator) -> SiteView:
    """THI with its stress bands and NH₃ per barn sensor; the barn's animals."""
    sensors = _placed(session, site, w, "barn_climate")

    def label(d: Device) -> str:
        return t("barn.sensor", id=d.id)

    bands = thi_bands(session, site.id, t)
    thi = [(Series(label(p.device), []),
            _derived((_placed_windows(store, p, "air_temp_c", w),
                      _placed_windows(store, p, "rh_pct", w)), thi_nrc)) for p in sensors]
    nh3_limit = rule_param(session, site.id, "barn.nh3_high", "set_value")
    nh3_lines = [Line(t("barn.nh3_limit"), float(nh3_limit), short=t("barn.nh3_short"))] \
        if nh3_limit else []
    view = SiteView()
    view.charts = [
        chart("thi", t("barn.thi"), "THI", thi, bands=bands),
        chart("nh3", t("barn.nh3"), "ppm", _per_device(store, sensors, "nh3_ppm", w, label, "ppm"),
              lines=nh3_lines),
    ]
    collars = [d for d in site_devices(session, site.id) if d.type == "livestock_collar"]
    latest: dict[str, dict[str, float]] = {}
    for r in store.latest([d.id for d in collars]) if collars else []:
        latest.setdefault(r.device_id, {})[r.quantity] = r.value
    view.animals = [{"device_id": d.id, "tag": animal_tag(d),
                     "body_temp_c": latest.get(d.id, {}).get("body_temp_c"),
                     "rumination_min": latest.get(d.id, {}).get("rumination_min")}
                    for d in collars]
    return view


def animal_tag(device: Device) -> str:
    """The ear tag of the animal wearing a collar, else the collar id."""
    return str((device.attributes or {}).get("animal_id") or device.id)


def collar_view(session: Session, store: TelemetryStore, device: Device, w: Window,
                t: Translator) -> SiteView:
    """Body temperature (with the fever threshold), activity and rumination of one animal."""
    fever = rule_param(session, device.site_id, "collar.fever", "set_value")
    label = t("animal.collar") + " " + device.id
    view = SiteView()
    view.charts = [
        chart("body", t("animal.body_temp"), "°C",
              [(Series(label, []), windows(store, device.id, "body_temp_c", w))],
              lines=[Line(t("animal.fever"), float(fever), short=t("animal.fever_short"))] if fever else []),
        chart("activity", t("animal.activity"), "",
              [(Series(label, []), windows(store, device.id, "activity_index", w))]),
        chart("rumination", t("animal.rumination"), "min",
              [(Series(label, []), windows(store, device.id, "rumination_min", w))]),
    ]
    return view


def water_view(session: Session, store: TelemetryStore, site: Site, w: Window,
               t: Translator) -> SiteView:
    """Flow and cumulative volume of the source's meters."""
    meters = _placed(session, site, w, "flow_meter")

    def label(d: Device) -> str:
        return d.id

    view = SiteView()
    view.charts = [
        chart("flow", t("water.flow"), "m³/h", _per_device(store, meters, "flow_m3_h", w, label,
                                                           "m³/h")),
        chart("volume", t("water.volume"), "m³",
              _per_device(store, meters, "volume_m3", w, label, "m³", Aggregation.MAX)),
    ]
    return view


BUILDERS = {"field": field_view, "greenhouse": greenhouse_view, "barn": barn_view,
            "water_source": water_view}
