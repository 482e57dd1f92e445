"""Water-use efficiency indicators (field water productivity, irrigation-scheme efficiency).

Sources: water productivity as crop yield per unit water volume (e.g. Molden, 1997, IWMI
Research Report 1); 灌溉水有效利用系数 (irrigation water effective-use coefficient) by the
head-tail method (首尾测算分析法) of the Ministry of Water Resources of China technical
guideline 《全国农田灌溉水有效利用系数测算分析技术指导细则》.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = ["M3_PER_MM_HA", "irrigation_water_use_coefficient", "water_productivity_kg_m3"]

M3_PER_MM_HA = 10.0
"""Water volume of 1 mm depth over 1 ha: 1e-3 m × 1e4 m2 = 10 m3."""


def water_productivity_kg_m3(*, yield_kg_ha: ArrayLike, water_mm: ArrayLike) -> FloatArray:
    """Water productivity WP = Y / (10 · W).

    Yield per cubic metre of water, with 1 mm over 1 ha = 10 m3. ``water_mm`` is whatever
    water term the indicator uses (ETc → WP_ET; irrigation + effective rain → WP_I+P).
    Non-positive water gives NaN.

    :param yield_kg_ha: crop yield Y [kg/ha].
    :param water_mm: water depth W [mm].
    :returns: water productivity [kg/m3].
    """
    y = as_float(yield_kg_ha)
    w = as_float(water_mm)
    with np.errstate(divide="ignore", invalid="ignore"):
        wp = np.where(w > 0.0, y / (M3_PER_MM_HA * w), np.nan)
    return finish(as_float(wp))


def irrigation_water_use_coefficient(
    *, net_field_m3: ArrayLike, gross_withdrawn_m3: ArrayLike
) -> float:
    """灌溉水有效利用系数 (irrigation water effective-use coefficient), head-tail method.

    η = Σ W_net,field / W_gross — 首尾测算分析法 (head-tail method): net irrigation water
    stored in the root zone of the fields, summed over all fields, divided by the gross
    water withdrawn at the source (head works, pumping stations, wells) over the same period.

    :param net_field_m3: net irrigation water delivered into each field [m3]
        (scalar or array; summed).
    :param gross_withdrawn_m3: gross water withdrawn at the source(s) [m3] (summed).
    :returns: η [-] in [0, 1].
    :raises ValueError: if any volume is negative or non-finite, the gross total is not
        positive, or the net total exceeds the gross total (inconsistent data).
    """
    net = as_float(net_field_m3)
    gross = as_float(gross_withdrawn_m3)
    if net.size == 0 or gross.size == 0:
        raise ValueError("net_field_m3 and gross_withdrawn_m3 must not be empty")
    if not (np.all(np.isfinite(net)) and np.all(np.isfinite(gross))):
        raise ValueError("water volumes must be finite")
    if np.any(net < 0.0) or np.any(gross < 0.0):
        raise ValueError("water volumes must be non-negative")
    net_total = float(np.sum(net))
    gross_total = float(np.sum(gross))
    if gross_total <= 0.0:
        raise ValueError("gross_withdrawn_m3 must be > 0")
    if net_total > gross_total and not math.isclose(net_total, gross_total, rel_tol=1e-9):
        raise ValueError(
            f"net field water ({net_total:g} m3) exceeds gross withdrawal ({gross_total:g} m3)"
        )
    return min(net_total / gross_total, 1.0)
