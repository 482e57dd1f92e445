"""Derived inputs of alert rules: indicator formulas and the water-balance reading interface.

Indicators reuse the tested formulas of :mod:`analytics.agronomy` (scalars in, float out).

The water-balance job hands its daily result to the engine as two ordinary :class:`Reading`
objects of the pseudo device type ``water_balance`` (one pseudo device per site), so the
engine needs no second entry point::

    for r in water_balance_readings(site_id="s1", farm_id="f1", county="shuocheng",
                                    ts_ms=day_end_ms, depletion_mm=42.0, raw_mm=38.5):
        transitions += engine.observe(r)

These readings are for the alert engine only; they are not catalogue quantities and must not
be written to the telemetry store.
"""

from __future__ import annotations

from collections.abc import Callable

from analytics.agronomy import thi_nrc, vapour_pressure_deficit_kpa
from analytics.alerts.rules import DEPLETION_MM, RAW_MM, WATER_BALANCE_DEVICE_TYPE, Indicator
from storage.telemetry import Reading

__all__ = ["INDICATOR_FUNCTIONS", "thi", "vpd_kpa", "water_balance_device_id",
           "water_balance_readings"]


def thi(air_temp_c: float, rh_pct: float) -> float:
    """NRC (1971) temperature-humidity index [-] from air temperature [°C] and RH [%]."""
    return float(thi_nrc(t_c=air_temp_c, rh_pct=rh_pct))


def vpd_kpa(air_temp_c: float, rh_pct: float) -> float:
    """Vapour pressure deficit [kPa] from air temperature [°C] and RH [%] (FAO-56 Eq. 11)."""
    return float(vapour_pressure_deficit_kpa(t_c=air_temp_c, rh_pct=rh_pct))


INDICATOR_FUNCTIONS: dict[Indicator, Callable[[float, float], float]] = {
    Indicator.THI: thi,
    Indicator.VPD_KPA: vpd_kpa,
}
"""Indicator -> function of its inputs, in the order of ``rules.INDICATOR_INPUTS``."""


def water_balance_device_id(site_id: str) -> str:
    """The pseudo device id the water-balance readings of ``site_id`` carry."""
    return f"{WATER_BALANCE_DEVICE_TYPE}:{site_id}"


def water_balance_readings(
    *,
    site_id: str,
    farm_id: str,
    county: str,
    ts_ms: int,
    depletion_mm: float,
    raw_mm: float,
) -> tuple[Reading, Reading]:
    """The two readings that feed :class:`~analytics.alerts.rules.DepletionRule` for a site.

    :param ts_ms: end of the balance day, UTC epoch ms (one value per day, increasing).
    :param depletion_mm: root-zone depletion Dr at the end of the day [mm] (FAO-56 Eq. 85).
    :param raw_mm: readily available water RAW = p·TAW of that day [mm] (FAO-56 Eq. 83).
    """
    device_id = water_balance_device_id(site_id)

    def reading(quantity: str, value: float) -> Reading:
        return Reading(device_id=device_id, quantity=quantity, value=float(value), ts_ms=ts_ms,
                       device_type=WATER_BALANCE_DEVICE_TYPE, site_id=site_id,
                       farm_id=farm_id, county=county)

    return reading(DEPLETION_MM, depletion_mm), reading(RAW_MM, raw_mm)
