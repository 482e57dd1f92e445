"""农田灌溉水有效利用系数 per county and city-wide, from active flow meters only.

Meters are grouped by water source (``source_site_id``; a source meter's own site). A group
is used only when every meter in it is active in the period: a silent field meter would make
η too low and a silent source meter too high, so partial groups are left out and named.
Field meters naming no source cannot be paired and are listed apart. Volumes come from
:func:`analytics.water.meter_totals` over the whole CST days the period touches
(exact for CST months, wider for other ranges); η per source and county
from :func:`analytics.water.irrigation_coefficients`; the city pools the valid sources
(Σ net ÷ Σ gross).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from analytics.indicators.periods import Period
from analytics.indicators.registry_view import DeviceRef, RegistryView
from analytics.water import FlowMeterSpec, MeterTotal, irrigation_coefficients, meter_totals
from storage.clock import cst_date
from storage.telemetry import TelemetryStore

CITY = "city"


class MeterTotals(Protocol):
    """How the volume through each meter over CST days is obtained (``meter_totals``'s shape)."""

    def __call__(self, *, store: TelemetryStore, meters: Sequence[FlowMeterSpec],
                 first_day: date, last_day: date) -> list[MeterTotal]: ...


@dataclass(frozen=True, slots=True)
class CoefficientFigure:
    """η for a county or the city, with the m³ and the sources behind it."""

    coefficient: float | None
    """Net field m³ ÷ gross withdrawn m³ [-]; None when no source group is usable."""
    net_field_m3: float
    gross_withdrawn_m3: float
    sources_used: tuple[str, ...]
    sources_skipped: tuple[str, ...]
    """Sources left out: a meter inactive, or no valid η (e.g. no flow in the period)."""


@dataclass(frozen=True, slots=True)
class WaterFigures:
    """η per county (key ``"city"`` for the city) and the unpaired field meters."""

    by_scope: Mapping[str, CoefficientFigure]
    unassigned_field_meters: tuple[str, ...]


def _spec(dev: DeviceRef) -> FlowMeterSpec:
    source = dev.role == "source"
    return FlowMeterSpec(
        device_id=dev.device_id, role="source" if source else "field", site_id=dev.site_id,
        source_site_id=dev.site_id if source else dev.source_site_id,
        county=dev.county_id, rollover_m3=dev.rollover_m3)


def irrigation_figures(*, store: TelemetryStore, view: RegistryView, period: Period,
                       active: Collection[str], totals: MeterTotals | None = None) -> WaterFigures:
    """η per county and city-wide over ``period`` (already clipped to "now"); ``totals``
    reads the meters' volumes (default :func:`analytics.water.meter_totals`, reading by
    reading; :class:`analytics.indicators.counters.CachedMeterTotals` from daily summaries)."""
    read_totals: MeterTotals = totals or meter_totals
    groups: dict[str, list[FlowMeterSpec]] = defaultdict(list)
    unassigned: list[str] = []
    for dev in view.devices.values():
        if dev.device_type != "flow_meter" or dev.entry is not None:
            continue  # a moved meter counts where it stands now
        spec = _spec(dev)
        if spec.source_site_id is None:
            unassigned.append(dev.device_id)
        else:
            groups[spec.source_site_id].append(spec)
    usable = {src: ms for src, ms in groups.items() if all(m.device_id in active for m in ms)}
    county_of = {src: _group_county(view, src, ms) for src, ms in groups.items()}
    meters = [m for ms in usable.values() for m in ms]
    report = irrigation_coefficients(totals=read_totals(
        store=store, meters=meters, first_day=cst_date(period.start_ms),
        last_day=cst_date(period.end_ms - 1))) if meters else None
    valid = {} if report is None else {
        src: c for src, c in report.by_source.items() if c.coefficient is not None}
    out: dict[str, CoefficientFigure] = {}
    for scope in [*view.counties, CITY]:
        mine = sorted(src for src in groups if scope == CITY or county_of[src] == scope)
        used = [valid[src] for src in mine if src in valid]
        net = sum(c.net_field_m3 for c in used)
        gross = sum(c.gross_withdrawn_m3 for c in used)
        out[scope] = CoefficientFigure(
            coefficient=net / gross if used and gross > 0 else None,
            net_field_m3=net, gross_withdrawn_m3=gross,
            sources_used=tuple(c.key for c in used),
            sources_skipped=tuple(src for src in mine if src not in valid))
    return WaterFigures(out, tuple(sorted(unassigned)))


def _group_county(view: RegistryView, source_site_id: str, meters: list[FlowMeterSpec]) -> str:
    """County of a water source: its site's county, else that of its meters."""
    site = view.sites.get(source_site_id)
    if site is not None:
        return site.county_id
    return sorted(meters, key=lambda m: m.role != "source")[0].county
