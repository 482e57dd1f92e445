"""Effective rainfall from monthly totals (the empirical methods offered by FAO CROPWAT).

Sources: Smith, M. (1992). CROPWAT — A computer program for irrigation planning and
management. FAO Irrigation and Drainage Paper 46, Rome; FAO CROPWAT 8.0 documentation
("USDA Soil Conservation Service method" and "Dependable rain (FAO/AGLW formula)").
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = ["EffectiveRainfallMethod", "effective_rainfall_mm"]

EffectiveRainfallMethod = Literal["usda_scs", "fao_aglw"]


def effective_rainfall_mm(
    *,
    precip_month_mm: ArrayLike,
    method: EffectiveRainfallMethod = "usda_scs",
) -> FloatArray:
    """Effective rainfall of a month from its total rainfall.

    ``"usda_scs"`` (default) — USDA Soil Conservation Service method as simplified in CROPWAT
    (Smith, 1992, FAO Irrigation and Drainage Paper 46):
    Peff = P (125 − 0.2 P) / 125 for P ≤ 250 mm; Peff = 125 + 0.1 P for P > 250 mm.

    ``"fao_aglw"`` — FAO/AGLW dependable-rain formula (80 % exceedance, CROPWAT):
    Peff = max(0.6 P − 10, 0) for P ≤ 70 mm; Peff = 0.8 P − 24 for P > 70 mm.

    Both are empirical fits for MONTHLY totals; do not apply them to daily rain (use the
    daily root-zone balance in :mod:`analytics.agronomy.soil_water` instead).

    :param precip_month_mm: total rainfall of the month P [mm/month].
    :param method: ``"usda_scs"`` or ``"fao_aglw"``.
    :returns: effective rainfall Peff [mm/month] (≥ 0).
    :raises ValueError: for an unknown method.
    """
    p = np.maximum(as_float(precip_month_mm), 0.0)
    if method == "usda_scs":
        peff = np.where(p <= 250.0, p * (125.0 - 0.2 * p) / 125.0, 125.0 + 0.1 * p)
    elif method == "fao_aglw":
        peff = np.where(p <= 70.0, 0.6 * p - 10.0, 0.8 * p - 24.0)
    else:
        raise ValueError(f"unknown effective rainfall method {method!r}")
    return finish(as_float(np.maximum(peff, 0.0)))
