"""Atmospheric parameters and wind-speed height correction (FAO-56 Chapter 3).

Source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration —
Guidelines for computing crop water requirements. FAO Irrigation and Drainage Paper 56, Rome.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = [
    "atmospheric_pressure_kpa",
    "psychrometric_constant_kpa_c",
    "wind_speed_2m_m_s",
]


def atmospheric_pressure_kpa(*, elevation_m: ArrayLike) -> FloatArray:
    """Mean atmospheric pressure from site elevation.

    P = 101.3 · ((293 − 0.0065 z) / 293)^5.26 — FAO-56 Eq. 7 (Allen et al., 1998,
    FAO Irrigation and Drainage Paper 56), standard atmosphere at 20 °C.

    :param elevation_m: elevation above sea level z [m].
    :returns: atmospheric pressure P [kPa].
    """
    z = as_float(elevation_m)
    return finish(101.3 * ((293.0 - 0.0065 * z) / 293.0) ** 5.26)


def psychrometric_constant_kpa_c(*, pressure_kpa: ArrayLike) -> FloatArray:
    """Psychrometric constant γ = cp·P / (ε·λ) = 0.665e-3 · P.

    FAO-56 Eq. 8 (Allen et al., 1998), with λ = 2.45 MJ/kg, cp = 1.013e-3 MJ/kg/°C, ε = 0.622.

    :param pressure_kpa: atmospheric pressure P [kPa].
    :returns: psychrometric constant γ [kPa/°C].
    """
    return finish(0.665e-3 * as_float(pressure_kpa))


def wind_speed_2m_m_s(*, wind_m_s: ArrayLike, height_m: ArrayLike) -> FloatArray:
    """Convert wind speed measured at height z to the 2 m standard height (log profile).

    u2 = uz · 4.87 / ln(67.8 z − 5.42) — FAO-56 Eq. 47 (Allen et al., 1998), short grass.

    :param wind_m_s: wind speed uz measured at ``height_m`` [m/s].
    :param height_m: measurement height above ground z [m] (must be > ~0.09 m).
    :returns: wind speed at 2 m u2 [m/s].
    """
    uz = as_float(wind_m_s)
    z = as_float(height_m)
    return finish(uz * 4.87 / np.log(67.8 * z - 5.42))
