"""Water-use efficiency of a field's season, and the volume through each flow meter.

* Water productivity (WP) of a season: yield per m³ of crop ET and per m³ of water
  supplied (net irrigation + effective rain), with 1 mm over 1 ha = 10 m³
  (``water_productivity_kg_m3``).
* The m³ through each flow meter over CST days (``meter_totals``): the gross (source meters)
  and field-inlet (field meters) water of 灌溉水有效利用系数, which
  :mod:`analytics.water.headtail` computes by the head–tail method.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy import (
    EffectiveRainfallMethod,
    effective_rainfall_mm,
    water_productivity_kg_m3,
)
from analytics.agronomy.water_use import M3_PER_MM_HA
from analytics.water._days import day_range
from analytics.water.balance import FieldBalance, meter_daily_volume_m3
from analytics.water.specs import FlowMeterSpec
from storage.telemetry import TelemetryStore

__all__ = [
    "MeterTotal",
    "WaterUseEfficiency",
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


# -- volume through each flow meter ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterTotal:
    """The volume through one flow meter over a period [m³]."""

    meter: FlowMeterSpec
    volume_m3: float


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
