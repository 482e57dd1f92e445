"""Root-zone soil water balance (FAO-56 Chapter 8, single crop coefficient).

Source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration —
Guidelines for computing crop water requirements. FAO Irrigation and Drainage Paper 56, Rome.
All water depths are in mm over the field; soil water contents θ in m3/m3.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = [
    "DepletionStep",
    "WaterBalance",
    "adjusted_depletion_fraction",
    "readily_available_water_mm",
    "root_zone_depletion_mm",
    "total_available_water_mm",
    "water_balance",
    "water_stress_coefficient",
]


def total_available_water_mm(
    *, theta_fc: ArrayLike, theta_wp: ArrayLike, root_depth_m: ArrayLike
) -> FloatArray:
    """Total available soil water in the root zone TAW = 1000 (θFC − θWP) Zr.

    FAO-56 Eq. 82 (Allen et al., 1998).

    :param theta_fc: water content at field capacity θFC [m3/m3].
    :param theta_wp: water content at wilting point θWP [m3/m3].
    :param root_depth_m: rooting depth Zr [m].
    :returns: TAW [mm].
    """
    taw = 1000.0 * (as_float(theta_fc) - as_float(theta_wp)) * as_float(root_depth_m)
    return finish(as_float(taw))


def readily_available_water_mm(*, taw_mm: ArrayLike, p: ArrayLike) -> FloatArray:
    """Readily available soil water RAW = p · TAW.

    FAO-56 Eq. 83 (Allen et al., 1998); p from FAO-56 Table 22 (see ``KC_TABLE``), optionally
    adjusted with :func:`adjusted_depletion_fraction`.

    :param taw_mm: total available water TAW [mm].
    :param p: depletion fraction without stress [-] (0..1).
    :returns: RAW [mm].
    """
    return finish(as_float(as_float(p) * as_float(taw_mm)))


def adjusted_depletion_fraction(*, p_table: ArrayLike, etc_mm_day: ArrayLike) -> FloatArray:
    """Adjust the tabulated depletion fraction for the evaporative demand.

    p = p_table + 0.04 (5 − ETc), limited to 0.1 ≤ p ≤ 0.8 — FAO-56 Table 22 footnote
    (Allen et al., 1998).

    :param p_table: depletion fraction from FAO-56 Table 22 (valid for ETc ≈ 5 mm/day) [-].
    :param etc_mm_day: crop evapotranspiration ETc [mm day-1].
    :returns: adjusted depletion fraction p [-].
    """
    p = as_float(p_table) + 0.04 * (5.0 - as_float(etc_mm_day))
    return finish(as_float(np.clip(p, 0.1, 0.8)))


def water_stress_coefficient(
    *, dr_mm: ArrayLike, taw_mm: ArrayLike, raw_mm: ArrayLike
) -> FloatArray:
    """Transpiration reduction (water stress) coefficient Ks.

    Ks = (TAW − Dr) / (TAW − RAW) = (TAW − Dr) / ((1 − p) TAW) when Dr > RAW, else 1 —
    FAO-56 Eq. 84 (Allen et al., 1998). Result bounded to [0, 1]. A missing (NaN) Dr, TAW or
    RAW gives a missing Ks (NaN), never Ks = 0: an unknown state is not full stress.

    :param dr_mm: root-zone depletion Dr [mm].
    :param taw_mm: total available water TAW [mm].
    :param raw_mm: readily available water RAW [mm].
    :returns: Ks [-], NaN where an input is NaN.
    """
    dr = as_float(dr_mm)
    taw = as_float(taw_mm)
    raw = as_float(raw_mm)
    with np.errstate(divide="ignore", invalid="ignore"):
        ks = np.where(dr <= raw, 1.0, (taw - dr) / (taw - raw))
    missing = np.isnan(dr) | np.isnan(taw) | np.isnan(raw)
    return finish(as_float(np.where(missing, np.nan, np.clip(ks, 0.0, 1.0))))


class DepletionStep(NamedTuple):
    """Result of one daily root-zone balance step."""

    depletion_mm: FloatArray
    """Root-zone depletion at the end of the day Dr,i [mm], in [0, TAW]."""
    deep_percolation_mm: FloatArray
    """Deep percolation out of the root zone DPi [mm] (≥ 0)."""


def root_zone_depletion_mm(
    *,
    dr_prev_mm: ArrayLike,
    precip_mm: ArrayLike,
    etc_mm: ArrayLike,
    taw_mm: ArrayLike,
    runoff_mm: ArrayLike = 0.0,
    irrigation_mm: ArrayLike = 0.0,
    capillary_rise_mm: ArrayLike = 0.0,
) -> DepletionStep:
    """One daily root-zone water balance step.

    Dr,i = Dr,i−1 − (P − RO)i − Ii − CRi + ETc,i + DPi — FAO-56 Eq. 85, with
    DPi = max((P − RO)i + Ii − ETc,i − Dr,i−1, 0) — FAO-56 Eq. 88 (Allen et al., 1998);
    Dr,i is then limited to 0 ≤ Dr,i ≤ TAW (FAO-56 Eq. 86).

    :param dr_prev_mm: depletion at the end of the previous day Dr,i−1 [mm].
    :param precip_mm: precipitation Pi [mm].
    :param etc_mm: crop evapotranspiration of the day ETc,i [mm] (use Ks·Kc·ET0 under stress).
    :param taw_mm: total available water TAW [mm].
    :param runoff_mm: surface runoff ROi [mm].
    :param irrigation_mm: net irrigation depth infiltrating the soil Ii [mm].
    :param capillary_rise_mm: capillary rise from a shallow water table CRi [mm].
    :returns: :class:`DepletionStep` (depletion_mm, deep_percolation_mm).
    """
    dr_prev = as_float(dr_prev_mm)
    infiltration = as_float(precip_mm) - as_float(runoff_mm) + as_float(irrigation_mm)
    etc = as_float(etc_mm)
    dp = np.maximum(infiltration - etc - dr_prev, 0.0)
    dr = dr_prev - infiltration - as_float(capillary_rise_mm) + etc + dp
    dr = np.clip(dr, 0.0, as_float(taw_mm))
    return DepletionStep(finish(as_float(dr)), finish(as_float(dp)))


class WaterBalance(NamedTuple):
    """Daily series produced by :func:`water_balance` (time along axis 0)."""

    depletion_mm: FloatArray
    """End-of-day root-zone depletion Dr [mm]."""
    deep_percolation_mm: FloatArray
    """Deep percolation DP [mm]."""
    ks: FloatArray
    """Water stress coefficient used for each day (from the previous day's Dr) [-]."""
    etc_adj_mm: FloatArray
    """Adjusted crop evapotranspiration ETc,adj = Ks·Kc·ET0 [mm] (FAO-56 Eq. 81)."""


def water_balance(
    *,
    et0_mm: ArrayLike,
    kc: ArrayLike,
    precip_mm: ArrayLike,
    taw_mm: ArrayLike,
    raw_mm: ArrayLike,
    runoff_mm: ArrayLike = 0.0,
    irrigation_mm: ArrayLike = 0.0,
    capillary_rise_mm: ArrayLike = 0.0,
    initial_depletion_mm: ArrayLike = 0.0,
    apply_water_stress: bool = True,
) -> WaterBalance:
    """Run the FAO-56 daily root-zone water balance over a series.

    For each day i: Ks,i from Dr,i−1 (FAO-56 Eq. 84), ETc,adj = Ks·Kc·ET0 (Eq. 81),
    then :func:`root_zone_depletion_mm` (Eqs. 85 and 88). Inputs broadcast together; time is
    axis 0 and any trailing axes (fields, sensors) are computed in parallel.

    A day whose ET0, Kc, TAW or RAW is missing (NaN) has missing outputs (Dr, DP, Ks,
    ETc,adj all NaN): its crop ET is unknown. The balance carries on from that day with its
    rain and irrigation applied and its ET taken as 0 (P, I and CR NaN → 0), so one missing
    day never turns the later days into NaN or into full stress; the carried Dr is then
    low by the missing day's ET.

    :param et0_mm: daily reference evapotranspiration ET0 [mm].
    :param kc: crop coefficient Kc [-] (e.g. from :func:`crop_coefficient`).
    :param precip_mm: daily precipitation P [mm].
    :param taw_mm: total available water TAW [mm] (may vary by day as roots grow).
    :param raw_mm: readily available water RAW [mm].
    :param runoff_mm: daily surface runoff RO [mm].
    :param irrigation_mm: daily net irrigation I [mm].
    :param capillary_rise_mm: daily capillary rise CR [mm].
    :param initial_depletion_mm: depletion before the first day Dr,0 [mm]
        (0 after heavy rain or irrigation; FAO-56 Eq. 87).
    :param apply_water_stress: if False, Ks = 1 (ETc under standard conditions).
    :returns: :class:`WaterBalance` of arrays shaped like the broadcast inputs.
    :raises ValueError: if the broadcast inputs have no time axis.
    """
    arrays = np.broadcast_arrays(
        as_float(et0_mm),
        as_float(kc),
        as_float(precip_mm),
        as_float(taw_mm),
        as_float(raw_mm),
        as_float(runoff_mm),
        as_float(irrigation_mm),
        as_float(capillary_rise_mm),
    )
    et0, kc_a, precip, taw, raw, runoff, irrigation, cr = (as_float(a) for a in arrays)
    if et0.ndim == 0:
        raise ValueError("water_balance needs at least one series input with a time axis")

    n_days = et0.shape[0]
    depletion = np.empty_like(et0)
    percolation = np.empty_like(et0)
    ks_out = np.empty_like(et0)
    etc_out = np.empty_like(et0)
    dr_prev = np.broadcast_to(as_float(initial_depletion_mm), et0.shape[1:]).astype(np.float64)

    for i in range(n_days):
        missing = np.isnan(et0[i]) | np.isnan(kc_a[i]) | np.isnan(taw[i]) | np.isnan(raw[i])
        if apply_water_stress:
            ks = as_float(water_stress_coefficient(dr_mm=dr_prev, taw_mm=taw[i], raw_mm=raw[i]))
        else:
            ks = np.ones_like(dr_prev)
        etc = ks * kc_a[i] * et0[i]
        step = root_zone_depletion_mm(
            dr_prev_mm=dr_prev,
            precip_mm=np.nan_to_num(precip[i]),
            etc_mm=np.where(missing, 0.0, etc),
            taw_mm=np.where(np.isnan(taw[i]), np.inf, taw[i]),
            runoff_mm=np.nan_to_num(runoff[i]),
            irrigation_mm=np.nan_to_num(irrigation[i]),
            capillary_rise_mm=np.nan_to_num(cr[i]),
        )
        dr_prev = as_float(step.depletion_mm)
        depletion[i] = np.where(missing, np.nan, dr_prev)
        percolation[i] = np.where(missing, np.nan, step.deep_percolation_mm)
        ks_out[i] = np.where(missing, np.nan, ks)
        etc_out[i] = np.where(missing, np.nan, etc)

    return WaterBalance(depletion, percolation, ks_out, etc_out)
