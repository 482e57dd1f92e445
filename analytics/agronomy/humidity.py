"""Vapour pressure, humidity and dew point (FAO-56 Chapter 3; Magnus formula).

Sources: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration.
FAO Irrigation and Drainage Paper 56, Rome. Alduchov, O.A., Eskridge, R.E. (1996). Improved
Magnus form approximation of saturation vapor pressure. J. Appl. Meteor. 35, 601-609.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = [
    "MAGNUS_A",
    "MAGNUS_B_C",
    "actual_vapour_pressure_kpa",
    "dew_point_c",
    "mean_saturation_vapour_pressure_kpa",
    "saturation_vapour_pressure_kpa",
    "slope_vapour_pressure_curve_kpa_c",
    "vapour_pressure_deficit_kpa",
]

MAGNUS_A = 17.625
"""Magnus coefficient a [-] (Alduchov & Eskridge, 1996, over water, −40..50 °C)."""
MAGNUS_B_C = 243.04
"""Magnus coefficient b [°C] (Alduchov & Eskridge, 1996)."""


def saturation_vapour_pressure_kpa(*, t_c: ArrayLike) -> FloatArray:
    """Saturation vapour pressure over water at air temperature T.

    e°(T) = 0.6108 · exp(17.27 T / (T + 237.3)) — FAO-56 Eq. 11 (Allen et al., 1998,
    FAO Irrigation and Drainage Paper 56). With T = Tdew it gives ea (FAO-56 Eq. 14).

    :param t_c: air temperature T [°C].
    :returns: saturation vapour pressure e°(T) [kPa].
    """
    t = as_float(t_c)
    return finish(0.6108 * np.exp(17.27 * t / (t + 237.3)))


def mean_saturation_vapour_pressure_kpa(*, t_max_c: ArrayLike, t_min_c: ArrayLike) -> FloatArray:
    """Daily mean saturation vapour pressure es = (e°(Tmax) + e°(Tmin)) / 2.

    FAO-56 Eq. 12 (Allen et al., 1998), with e° from Eq. 11.

    :param t_max_c: daily maximum air temperature [°C].
    :param t_min_c: daily minimum air temperature [°C].
    :returns: mean saturation vapour pressure es [kPa].
    """
    es_max = saturation_vapour_pressure_kpa(t_c=t_max_c)
    es_min = saturation_vapour_pressure_kpa(t_c=t_min_c)
    return finish(as_float((es_max + es_min) / 2.0))


def slope_vapour_pressure_curve_kpa_c(*, t_c: ArrayLike) -> FloatArray:
    """Slope of the saturation vapour pressure curve at temperature T.

    Δ = 4098 · [0.6108 exp(17.27 T / (T + 237.3))] / (T + 237.3)² — FAO-56 Eq. 13
    (Allen et al., 1998).

    :param t_c: air temperature T [°C] (daily mean air temperature for daily ET0).
    :returns: slope Δ [kPa/°C].
    """
    t = as_float(t_c)
    return finish(4098.0 * (0.6108 * np.exp(17.27 * t / (t + 237.3))) / (t + 237.3) ** 2)


def actual_vapour_pressure_kpa(
    *,
    t_max_c: ArrayLike,
    t_min_c: ArrayLike,
    rh_max_pct: ArrayLike,
    rh_min_pct: ArrayLike,
) -> FloatArray:
    """Daily actual vapour pressure from RHmax and RHmin.

    ea = [e°(Tmin) · RHmax/100 + e°(Tmax) · RHmin/100] / 2 — FAO-56 Eq. 17 (Allen et al., 1998).

    :param t_max_c: daily maximum air temperature [°C].
    :param t_min_c: daily minimum air temperature [°C].
    :param rh_max_pct: daily maximum relative humidity [%].
    :param rh_min_pct: daily minimum relative humidity [%].
    :returns: actual vapour pressure ea [kPa].
    """
    es_tmin = saturation_vapour_pressure_kpa(t_c=t_min_c)
    es_tmax = saturation_vapour_pressure_kpa(t_c=t_max_c)
    rh_max = as_float(rh_max_pct)
    rh_min = as_float(rh_min_pct)
    return finish(as_float((es_tmin * rh_max / 100.0 + es_tmax * rh_min / 100.0) / 2.0))


def vapour_pressure_deficit_kpa(*, t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray:
    """Instantaneous vapour pressure deficit VPD = e°(T) · (1 − RH/100).

    e°(T) from FAO-56 Eq. 11 (Allen et al., 1998); ea = e°(T)·RH/100 as FAO-56 Eq. 54.
    For a daily VPD use ``mean_saturation_vapour_pressure_kpa`` − ``actual_vapour_pressure_kpa``.

    :param t_c: air temperature T [°C].
    :param rh_pct: relative humidity RH [%].
    :returns: vapour pressure deficit [kPa].
    """
    rh = as_float(rh_pct)
    return finish(as_float(saturation_vapour_pressure_kpa(t_c=t_c) * (1.0 - rh / 100.0)))


def dew_point_c(*, t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray:
    """Dew-point temperature by inverting the Magnus formula.

    γ = ln(RH/100) + a·T/(b + T);  Td = b·γ / (a − γ), with a = 17.625 and b = 243.04 °C
    (Alduchov & Eskridge, 1996, J. Appl. Meteor. 35:601-609; valid −40..50 °C over water).
    RH ≤ 0 gives NaN.

    :param t_c: air temperature T [°C].
    :param rh_pct: relative humidity RH [%] (0 < RH ≤ 100).
    :returns: dew-point temperature Td [°C].
    """
    t = as_float(t_c)
    rh = as_float(rh_pct)
    with np.errstate(divide="ignore", invalid="ignore"):
        rh_pos = np.where(rh > 0.0, rh, np.nan)
        gamma = np.log(rh_pos / 100.0) + MAGNUS_A * t / (MAGNUS_B_C + t)
        return finish(as_float(MAGNUS_B_C * gamma / (MAGNUS_A - gamma)))
