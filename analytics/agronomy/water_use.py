"""Field water productivity.

Source: water productivity as crop yield per unit water volume (e.g. Molden, 1997, IWMI
Research Report 1). 灌溉水有效利用系数 (head–tail method, both factors) is computed in
:mod:`analytics.water.headtail`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = ["M3_PER_MM_HA", "water_productivity_kg_m3"]

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
