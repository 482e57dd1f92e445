"""Water-use efficiency of a field's season, and the irrigation water effective-use coefficient.

* Water productivity (WP) of a season: yield per m³ of crop ET and per m³ of water
  supplied (net irrigation + effective rain), with 1 mm over 1 ha = 10 m³
  (``water_productivity_kg_m3``).
* 灌溉水有效利用系数 η (irrigation water effective-use coefficient), head-tail method:
  net water delivered into the fields (meters with ``role=field``) / gross water withdrawn
  at the source (meters with ``role=source``) over the same period, per water source and
  per county (``irrigation_water_use_coefficient``). The county value here is the plain
  ratio of the metered totals of its sources; the official county figure of the Ministry
  of Water Resources guideline weights sample irrigation districts by type and scale.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy import (
    EffectiveRainfallMethod,
    effective_rainfall_mm,
    irrigation_water_use_coefficient,
    water_productivity_kg_m3,
)
from analytics.agronomy.water_use import M3_PER_MM_HA
from analytics.water._days import day_range
from analytics.water.balance import FieldBalance, meter_daily_volume_m3
from analytics.water.specs import FlowMeterSpec
from storage.telemetry import TelemetryStore

__all__ = [
    "CoefficientReport",
    "IrrigationCoefficient",
    "MeterTotal",
    "WaterUseEfficiency",
    "irrigation_coefficients",
    "meter_totals",
    "monthly_effective_rain_mm",
    "season_water_use_efficiency",
    "water_use_efficiency",
]


# -- water productivity -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaterUseEfficiency:
    """Season water productivity of a field, with the water figures behind it."""

    yield_kg_ha: float
    etc_mm: float
    """Season crop ET [mm]."""
    irrigation_mm: float
    """Season net irrigation [mm]."""
    effective_rain_mm: float
    """Season effective rain [mm]."""
    etc_m3_ha: float
    """Season crop ET [m³/ha]."""
    supplied_m3_ha: float
    """Net irrigation + effective rain [m³/ha]."""
    wp_etc_kg_m3: float | None
    """Yield per m³ of crop ET [kg/m³] (None if no ET)."""
    wp_supplied_kg_m3: float | None
    """Yield per m³ of irrigation + effective rain [kg/m³] (None if no water)."""


def _wp(yield_kg_ha: float, water_mm: float) -> float | None:
    wp = float(water_productivity_kg_m3(yield_kg_ha=yield_kg_ha, water_mm=water_mm))
    return wp if np.isfinite(wp) else None


def water_use_efficiency(
    *, yield_kg_ha: float, etc_mm: float, irrigation_mm: float, effective_rain_mm: float
) -> WaterUseEfficiency:
    """WP_ET = Y / (10 · ETc) and WP_I+P = Y / (10 · (I + Pe)) [kg/m³].

    :param yield_kg_ha: harvested yield Y [kg/ha].
    :param etc_mm: season crop ET [mm].
    :param irrigation_mm: season net irrigation I [mm].
    :param effective_rain_mm: season effective rain Pe [mm].
    """
    supplied = irrigation_mm + effective_rain_mm
    return WaterUseEfficiency(
        yield_kg_ha=yield_kg_ha,
        etc_mm=etc_mm,
        irrigation_mm=irrigation_mm,
        effective_rain_mm=effective_rain_mm,
        etc_m3_ha=M3_PER_MM_HA * etc_mm,
        supplied_m3_ha=M3_PER_MM_HA * supplied,
        wp_etc_kg_m3=_wp(yield_kg_ha, etc_mm),
        wp_supplied_kg_m3=_wp(yield_kg_ha, supplied),
    )


def season_water_use_efficiency(
    *, yield_kg_ha: float, balance: FieldBalance, effective_rain_mm: float | None = None
) -> WaterUseEfficiency:
    """Water productivity of the season covered by ``balance`` (planting to harvest).

    ETc = Σ ETc,adj (actual crop ET, Eq. 81); I = Σ net irrigation; Pe = Σ rain that
    entered the root zone in the daily balance (small rains and runoff excluded; deep
    percolation is not split between rain and irrigation, so it is not subtracted), unless
    ``effective_rain_mm`` is given (e.g. :func:`monthly_effective_rain_mm`).
    """
    s = balance.series
    pe = float(s.effective_rain_mm.sum()) if effective_rain_mm is None else effective_rain_mm
    return water_use_efficiency(
        yield_kg_ha=yield_kg_ha,
        etc_mm=float(s.etc_adj_mm.sum()),
        irrigation_mm=float(s.irrigation_mm.sum()),
        effective_rain_mm=pe,
    )


def monthly_effective_rain_mm(
    *, days: Sequence[date], rain_mm: ArrayLike, method: EffectiveRainfallMethod = "usda_scs"
) -> float:
    """Season effective rain from monthly totals (CROPWAT methods, ``effective_rainfall_mm``).

    Daily rain (NaN → 0) is summed per calendar month and each month's total converted;
    a month only partly inside ``days`` is converted from its partial total.

    :returns: Σ Peff over the months [mm].
    """
    rain = np.nan_to_num(np.asarray(rain_mm, dtype=np.float64))
    if rain.shape != (len(days),):
        raise ValueError("rain_mm needs one value per day")
    months: dict[tuple[int, int], float] = defaultdict(float)
    for d, r in zip(days, rain, strict=True):
        months[(d.year, d.month)] += float(r)
    totals = np.asarray(list(months.values()), dtype=np.float64)
    return float(np.sum(effective_rainfall_mm(precip_month_mm=totals, method=method)))


# -- irrigation water effective-use coefficient ---------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterTotal:
    """The volume through one flow meter over a period [m³]."""

    meter: FlowMeterSpec
    volume_m3: float


@dataclass(frozen=True, slots=True)
class IrrigationCoefficient:
    """η for one water source or county, with the m³ figures behind it."""

    key: str
    """Water-source site id or county id."""
    net_field_m3: float
    """Σ field-meter volumes [m³]."""
    gross_withdrawn_m3: float
    """Σ source-meter volumes [m³]."""
    coefficient: float | None
    """η = net / gross [-]; None when it cannot be computed (see ``issue``)."""
    field_meters: tuple[str, ...]
    source_meters: tuple[str, ...]
    issue: str | None = None


@dataclass(frozen=True, slots=True)
class CoefficientReport:
    """η per water source and per county; field meters naming no source are listed apart."""

    by_source: Mapping[str, IrrigationCoefficient]
    by_county: Mapping[str, IrrigationCoefficient]
    unassigned_field_m3: float
    unassigned_field_meters: tuple[str, ...]


def _coefficient(
    key: str, fields: Sequence[MeterTotal], sources: Sequence[MeterTotal]
) -> IrrigationCoefficient:
    net = [t.volume_m3 for t in fields]
    gross = [t.volume_m3 for t in sources]
    eta: float | None = None
    issue: str | None = None
    if not gross:
        issue = "no source meter"
    elif not net:
        issue = "no field meter"
    else:
        try:
            eta = irrigation_water_use_coefficient(net_field_m3=net, gross_withdrawn_m3=gross)
        except ValueError as exc:
            issue = str(exc)
    return IrrigationCoefficient(
        key=key,
        net_field_m3=float(sum(net)),
        gross_withdrawn_m3=float(sum(gross)),
        coefficient=eta,
        field_meters=tuple(t.meter.device_id for t in fields),
        source_meters=tuple(t.meter.device_id for t in sources),
        issue=issue,
    )


def _county_of_source(totals: Sequence[MeterTotal]) -> str:
    """County of a source group: its source meters' county, else its field meters'."""
    ordered = sorted(totals, key=lambda t: t.meter.role != "source")
    return ordered[0].meter.county


def _county_coefficient(
    county: str, sources: Sequence[IrrigationCoefficient], groups: Mapping[str, list[MeterTotal]]
) -> IrrigationCoefficient:
    """County η over its sources with a valid η; the others are named in ``issue``."""
    valid = [s for s in sources if s.coefficient is not None]
    skipped = ", ".join(sorted(s.key for s in sources if s.coefficient is None))
    members = [t for s in valid for t in groups[s.key]]
    result = _coefficient(
        county,
        [t for t in members if t.meter.role == "field"],
        [t for t in members if t.meter.role == "source"],
    )
    if not valid:
        return replace(result, issue=f"no source with a valid coefficient: {skipped}")
    if skipped:
        return replace(result, issue=f"excluded sources without a valid coefficient: {skipped}")
    return result


def irrigation_coefficients(*, totals: Sequence[MeterTotal]) -> CoefficientReport:
    """灌溉水有效利用系数 per water source and per county from per-meter totals.

    Meters are grouped by ``source_site_id``: η_source = Σ field-meter m³ / Σ source-meter
    m³ of the group. A county's η pools the groups of its sources (county of the source
    meters) that have a valid η. Field meters without ``source_site_id`` are reported as
    unassigned.
    """
    groups: dict[str, list[MeterTotal]] = defaultdict(list)
    unassigned: list[MeterTotal] = []
    for t in totals:
        if t.meter.source_site_id is None:
            unassigned.append(t)
        else:
            groups[t.meter.source_site_id].append(t)
    by_source: dict[str, IrrigationCoefficient] = {}
    county_sources: dict[str, list[IrrigationCoefficient]] = defaultdict(list)
    for source_id in sorted(groups):
        members = groups[source_id]
        c = _coefficient(
            source_id,
            [t for t in members if t.meter.role == "field"],
            [t for t in members if t.meter.role == "source"],
        )
        by_source[source_id] = c
        county_sources[_county_of_source(members)].append(c)
    by_county = {
        county: _county_coefficient(county, sources, groups)
        for county, sources in sorted(county_sources.items())
    }
    return CoefficientReport(
        by_source=by_source,
        by_county=by_county,
        unassigned_field_m3=float(sum(t.volume_m3 for t in unassigned)),
        unassigned_field_meters=tuple(t.meter.device_id for t in unassigned),
    )


def meter_totals(
    *, store: TelemetryStore, meters: Sequence[FlowMeterSpec], first_day: date, last_day: date
) -> list[MeterTotal]:
    """Volume through each meter over CST days ``first_day``..``last_day`` [m³].

    Counter differencing with resets, rollover and gaps as in
    :func:`~analytics.water.balance.daily_counter_volume_m3`.
    """
    n = len(day_range(first_day=first_day, last_day=last_day))
    if n == 0:
        raise ValueError("last_day must not be before first_day")
    return [
        MeterTotal(
            meter=m,
            volume_m3=float(
                meter_daily_volume_m3(store=store, meter=m, first_day=first_day, n_days=n).sum()
            ),
        )
        for m in meters
    ]
