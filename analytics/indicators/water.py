"""Water indicators per county and city-wide: 农田灌溉水有效利用系数 (head–tail, both factors),
降水利用率 and 高效节水灌溉面积.

η: flow meters are grouped by water source (``source_site_id``; a source meter's own site).
Gross water = the source meters' m³, field-inlet water = the field meters' m³ (both from
:func:`analytics.water.meter_totals` or the hourly cache over the whole CST days the period
touches), net water = what the fields' stored FAO-56 balances (``field_days``) say stayed in
the root zone (:mod:`analytics.water.headtail`). A source with a silent meter, no source meter,
field inlet above its withdrawal, or a field whose balance does not cover its metered water is
left out and named with the reason; a county or the city pools its valid sources (Σ net ÷
Σ gross). Field meters naming no source cannot be paired and are listed apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.indicators.completeness import DeviceCompleteness, DeviceTable
from analytics.indicators.coverage import group_scope
from analytics.indicators.periods import Period
from analytics.indicators.registry_view import DeviceRef, RegistryView
from analytics.water import FlowMeterSpec, MeterTotal, meter_totals
from analytics.water.headtail import (
    FieldDayRow,
    FieldInput,
    FieldNet,
    HeadTail,
    Reason,
    SourceInput,
    field_net,
    head_tail,
    pool,
)
from analytics.water.specs import M2_PER_MU
from devices.registry import HIGH_EFFICIENCY_IRRIGATION, Site
from storage.clock import cst_date
from storage.telemetry import TelemetryStore

CITY = "city"

FieldDays = Callable[[Collection[str], date, date], Mapping[str, Sequence[FieldDayRow]]]
"""Stored daily balance rows of some fields over CST days first..last, per site
(``functools.partial(analytics.water.records.load_field_days, session)``)."""


class MeterTotals(Protocol):
    """How the volume through each meter over CST days is obtained (``meter_totals``'s shape)."""

    def __call__(self, *, store: TelemetryStore, meters: Sequence[FlowMeterSpec],
                 first_day: date, last_day: date) -> list[MeterTotal]: ...


@dataclass(frozen=True, slots=True)
class CoefficientFigure:
    """η for a county or the city, its two factors, the m³ and the sources behind it."""

    coefficient: float | None
    """灌溉水有效利用系数 η = net ÷ gross [-]; None when no source is usable (``reasons``)."""
    net_field_m3: float
    """Net water retained in the root zones (田间净灌溉用水量) [m³]."""
    gross_withdrawn_m3: float
    """Water withdrawn at the sources (毛灌溉用水量) [m³]."""
    sources_used: tuple[str, ...]
    sources_skipped: tuple[str, ...]
    """Sources left out: a meter silent or inconsistent, or no balance (see ``reasons``)."""
    inlet_m3: float = 0.0
    """Water metered at the field inlets [m³]."""
    conveyance: float | None = None
    """渠系水利用系数 η_c = inlet ÷ gross [-]."""
    field_factor: float | None = None
    """田间水利用系数 η_f = net ÷ inlet [-]."""
    fields: tuple[FieldNet, ...] = ()
    reasons: tuple[Reason, ...] = ()

    @property
    def reason(self) -> str | None:
        """Why η is missing (zh, every cause), or None when it is computed."""
        if self.coefficient is not None:
            return None
        return ";".join(dict.fromkeys(r.zh for r in self.reasons)) or "无可用水源"


def coefficient_evidence(c: CoefficientFigure) -> dict[str, Any]:
    """η's evidence for the indicator table: both factors, the m³, the sources, each field's
    net-water method, and the reasons a source or the value is missing."""
    return {
        "gross_withdrawn_m3": c.gross_withdrawn_m3, "field_inlet_m3": c.inlet_m3,
        "net_field_m3": c.net_field_m3, "conveyance_coefficient": c.conveyance,
        "field_coefficient": c.field_factor, "method": "首尾测算分析法 (head–tail)",
        "sources": list(c.sources_used), "sources_skipped": list(c.sources_skipped),
        "fields": [{"site_id": f.site_id, "inlet_m3": f.inlet_m3, "net_m3": f.net_m3,
                    "net_method": f.method, "balance_net_m3": f.balance_net_m3,
                    "probe_net_m3": f.probe_net_m3, "events": f.events,
                    "events_with_probes": f.events_with_probes} for f in c.fields],
        "reasons": [{"code": r.code, "subject": r.subject, "en": r.en, "zh": r.zh}
                    for r in c.reasons],
        "reason": c.reason,
    }


@dataclass(frozen=True, slots=True)
class WaterFigures:
    """η per county, plan group (``group:<先行示范>`` …, its counties' sources pooled) and the
    city (key ``"city"``), and the unpaired field meters."""

    by_scope: Mapping[str, CoefficientFigure]
    unassigned_field_meters: tuple[str, ...]


def _spec(dev: DeviceRef) -> FlowMeterSpec:
    source = dev.role == "source"
    return FlowMeterSpec(
        device_id=dev.device_id, role="source" if source else "field", site_id=dev.site_id,
        source_site_id=dev.site_id if source else dev.source_site_id,
        county=dev.county_id, rollover_m3=dev.rollover_m3)


def reporting_meter_ids(devices: Mapping[str, DeviceCompleteness]) -> set[str]:
    """Ids of the devices with at least one reading in the measured period: what η asks of a
    meter. Its counter is cumulative, so gaps lose no water (unlike the completeness threshold
    of ``active``, which a meter that reported half of the month fails)."""
    if isinstance(devices, DeviceTable):
        ids = devices.device_ids
        return {ids[i] for i in np.flatnonzero(devices.received > 0).tolist()}
    return {k for k, v in devices.items() if v.received > 0}


def _no_field_days(sites: Collection[str], first: date, last: date) -> dict[str, list[FieldDayRow]]:
    return {}


@dataclass(frozen=True, slots=True)
class SourceFigures:
    """η of every metered water source (head–tail, :func:`analytics.water.headtail.head_tail`),
    the county each belongs to, and the field meters naming no source."""

    by_source: Mapping[str, HeadTail]
    county_of: Mapping[str, str]
    unassigned_field_meters: tuple[str, ...]

    def pooled(self, key: str, counties: Collection[str]) -> HeadTail:
        """η of the sources of ``counties`` pooled (Σ net ÷ Σ gross, :func:`pool`)."""
        return pool(key, [self.by_source[s] for s in sorted(self.by_source)
                          if self.county_of[s] in counties])


def source_figures(*, store: TelemetryStore, view: RegistryView, period: Period,
                   active: Collection[str], totals: MeterTotals | None = None,
                   field_days: FieldDays | None = None) -> SourceFigures:
    """η (head–tail, both factors) of each water source of ``view`` over ``period``;
    arguments as :func:`irrigation_figures` (which pools these per county and city)."""
    read_totals: MeterTotals = totals or meter_totals
    groups: dict[str, list[FlowMeterSpec]] = defaultdict(list)
    unassigned: list[str] = []
    for dev in view.devices.values():
        if dev.device_type != "flow_meter" or dev.entry is not None:
            continue  # a moved meter counts where it stands now
        gone = dev.revoked_ms is not None and dev.revoked_ms <= period.start_ms
        if gone and dev.device_id not in active:
            continue  # revoked or retired before the period: not a silent meter
        spec = _spec(dev)
        if spec.source_site_id is None:
            unassigned.append(dev.device_id)
        else:
            groups[spec.source_site_id].append(spec)
    first, last = cst_date(period.start_ms), cst_date(period.end_ms - 1)
    live = [m for ms in groups.values() for m in ms if m.device_id in active]
    volume = {t.meter.device_id: t.volume_m3 for t in read_totals(
        store=store, meters=live, first_day=first, last_day=last)} if live else {}
    field_sites = sorted({m.site_id for ms in groups.values() for m in ms if m.role == "field"})
    rows = (field_days or _no_field_days)(field_sites, first - timedelta(days=1),
                                          last + timedelta(days=1))
    nets = {s: field_net(s, [r for r in rows[s] if r.day <= last + timedelta(days=1)],
                         first_day=first)
            for s in field_sites if rows.get(s) and any(r.day >= first for r in rows[s])}
    at_site: dict[str, float] = defaultdict(float)
    for ms in groups.values():
        for m in ms:
            if m.role == "field":
                at_site[m.site_id] += volume.get(m.device_id, 0.0)
    why = "" if field_days is not None else "field balances not available to this computation"
    return SourceFigures(
        by_source={src: _source(src, ms, volume, nets, at_site, why)
                   for src, ms in sorted(groups.items())},
        county_of={src: _group_county(view, src, ms) for src, ms in groups.items()},
        unassigned_field_meters=tuple(sorted(unassigned)))


def irrigation_figures(*, store: TelemetryStore, view: RegistryView, period: Period,
                       active: Collection[str], totals: MeterTotals | None = None,
                       field_days: FieldDays | None = None) -> WaterFigures:
    """η (head–tail, both factors) per county and city-wide over ``period`` (already clipped
    to "now"); ``active``: the meters that reported in the period (:func:`reporting_meter_ids`),
    the others are named as silent. ``totals`` reads the meters' volumes (default
    :func:`analytics.water.meter_totals`; :class:`analytics.indicators.counters.
    CachedMeterTotals` from daily summaries); ``field_days`` reads the fields' stored
    balances (None: none available, every η says so)."""
    sources = source_figures(store=store, view=view, period=period, active=active,
                             totals=totals, field_days=field_days)
    members: dict[str, set[str]] = {c: {c} for c in view.counties}
    for cid, ref in view.counties.items():
        if ref.plan_group:
            members.setdefault(group_scope(ref.plan_group), set()).add(cid)
    members[CITY] = set(view.counties) | set(sources.county_of.values())
    out = {scope: _figure(sources.pooled(scope, counties))
           for scope, counties in members.items()}
    return WaterFigures(out, sources.unassigned_field_meters)


def _source(src: str, meters: list[FlowMeterSpec], volume: Mapping[str, float],
            nets: Mapping[str, FieldNet], at_site: Mapping[str, float], why: str) -> HeadTail:
    fields: dict[str, dict[str, float]] = defaultdict(dict)
    for m in meters:
        if m.role == "field" and m.device_id in volume:
            fields[m.site_id][m.device_id] = volume[m.device_id]
    return head_tail(SourceInput(
        source_id=src,
        source_meter_m3={m.device_id: volume[m.device_id] for m in meters
                         if m.role == "source" and m.device_id in volume},
        fields=[FieldInput(site_id=s, meter_m3=v, all_meters_m3=at_site[s], net=nets.get(s),
                           balance_missing_why=why or "no field-water balance for the period")
                for s, v in sorted(fields.items())],
        silent_meters=sorted(m.device_id for m in meters if m.device_id not in volume)))


def _figure(h: HeadTail) -> CoefficientFigure:
    return CoefficientFigure(
        coefficient=h.coefficient, net_field_m3=h.net_m3, gross_withdrawn_m3=h.gross_m3,
        sources_used=h.sources_used, sources_skipped=h.sources_skipped, inlet_m3=h.inlet_m3,
        conveyance=h.conveyance, field_factor=h.field, fields=h.fields, reasons=h.reasons)


def _group_county(view: RegistryView, source_site_id: str, meters: list[FlowMeterSpec]) -> str:
    """County of a water source: its site's county, else that of its meters."""
    site = view.sites.get(source_site_id)
    if site is not None:
        return site.county_id
    return sorted(meters, key=lambda m: m.role != "source")[0].county


# -- 降水利用率 and 高效节水灌溉面积 ------------------------------------------------------------

PRECIPITATION_USE = "precipitation_use_rate"
WATER_SAVING_AREA = "water_saving_irrigation_area"
MU_PER_10K_MU = 10_000.0


def load_irrigation_methods(session: Session) -> dict[str, str | None]:
    """Declared irrigation method of every field site (``Site.irrigation_method``)."""
    rows = session.execute(select(Site.id, Site.irrigation_method).where(Site.kind == "field"))
    return {site_id: method for site_id, method in rows}


def _rain_used_mm(rows: Sequence[FieldDayRow], first: date, last: date) -> tuple[float, float]:
    """(rain, rain retained in the root zone) over first..last [mm]: retained = Pe − DP₀, Pe
    the balance's effective rain (FAO-56 Ch. 8: rain < 0.2·ET0 evaporates, runoff out) and
    DP₀ = max(Pe − ETc,adj − Dr,i−1, 0) the percolation rain alone causes (Eq. 88, rain
    counted before irrigation, as :func:`analytics.water.headtail.irrigation_percolation_mm`)."""
    rain = used = 0.0
    dr_prev = 0.0
    for r in rows:
        if first <= r.day <= last and r.rain_mm is not None and math.isfinite(r.rain_mm):
            rain += r.rain_mm
            used += r.effective_rain_mm - max(r.effective_rain_mm - r.etc_adj_mm - dr_prev, 0.0)
        dr_prev = r.depletion_mm
    return rain, used


def extra_water_values(*, view: RegistryView, period: Period, active: Collection[str],
                       field_days: FieldDays, irrigation_methods: Mapping[str, str | None],
                       ) -> dict[str, dict[str, tuple[float | None, dict[str, Any]]]]:
    """降水利用率 [%] and 高效节水灌溉面积 [万亩] per county and city (``"city"``).

    * 降水利用率 = Σ rain retained in the root zone ÷ Σ rain, over the fields with a stored
      FAO-56 balance in the period, each weighted by its area (m³). Rain retained = Pe − DP₀
      (:func:`_rain_used_mm`). The plan's target is +10 % on its (2020) base, which farmtel did
      not measure: the value is shown against the base the bureau records.
    * 高效节水灌溉面积 = Σ area of the fields declared 喷灌 (sprinkler), 微灌/滴灌 (micro) or
      低压管灌 (low_pressure_pipe) (GB/T 50363-2018) that have an active field flow meter in the
      period; surface (flood) irrigation never counts, however well metered.
    """
    first, last = cst_date(period.start_ms), cst_date(period.end_ms - 1)
    fields = {s.site_id: s for s in view.sites.values() if s.kind == "field"}
    rows = field_days(sorted(fields), first - timedelta(days=1), last)
    metered = {d.site_id for d in view.devices.values()
               if d.device_type == "flow_meter" and d.role != "source" and d.entry is None
               and d.device_id in active}
    out: dict[str, dict[str, tuple[float | None, dict[str, Any]]]] = {}
    for scope in [*view.counties, CITY]:
        mine = [s for s in fields.values() if scope == CITY or s.county_id == scope]
        rain_m3 = used_m3 = 0.0
        monitored: list[str] = []
        for s in mine:
            if not any(r.day >= first for r in rows.get(s.site_id, ())):
                continue
            rain, used = _rain_used_mm(rows[s.site_id], first, last)
            monitored.append(s.site_id)
            rain_m3 += rain * s.area_mu * M2_PER_MU / 1000.0
            used_m3 += used * s.area_mu * M2_PER_MU / 1000.0
        reason = (None if rain_m3 > 0 else "监测地块该时段无降水记录" if monitored
                  else "无田间水量平衡的监测地块")
        out.setdefault(scope, {})[PRECIPITATION_USE] = (
            100.0 * used_m3 / rain_m3 if rain_m3 > 0 else None,
            {"rain_m3": rain_m3, "rain_used_m3": used_m3, "fields": monitored,
             "method": "FAO-56 root-zone balance: Pe − DP from rain (Eqs. 85, 88)",
             "reason": reason})
        high = [s for s in mine if s.site_id in metered
                and irrigation_methods.get(s.site_id) in HIGH_EFFICIENCY_IRRIGATION]
        excluded = [s for s in mine if s.site_id in metered and s not in high]
        area = sum(s.area_mu for s in high)
        out[scope][WATER_SAVING_AREA] = (area / MU_PER_10K_MU, {
            "area_mu": area, "fields": [s.site_id for s in high],
            "metered_not_high_efficiency_mu": sum(s.area_mu for s in excluded),
            "methods_counted": sorted(m.value for m in HIGH_EFFICIENCY_IRRIGATION),
            "basis": "GB/T 50363-2018: 喷灌、微灌、管道输水灌溉"})
    return out
