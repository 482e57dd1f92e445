"""Crop coefficient, crop ET and root depth per day of a field's season (FAO-56 Ch. 6-8).

Source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration.
FAO Irrigation and Drainage Paper 56, Rome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy import KC_TABLE, CropParams, FloatArray, crop_coefficient

__all__ = [
    "CROP_ALIASES",
    "DEFAULT_ROOT_DEPTH_MIN_M",
    "crop_et_mm",
    "crop_params",
    "days_after_planting",
    "kc_series",
    "root_depth_m",
]

DEFAULT_ROOT_DEPTH_MIN_M = 0.2
"""Effective root depth Zr,min during the initial stage [m] (farmtel default; the sown
seedbed layer; override with the site attribute ``root_depth_min_m``)."""

CROP_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "maize": "maize_grain",
        "corn": "maize_grain",
        "玉米": "maize_grain",
        "wheat": "spring_wheat",
        "小麦": "spring_wheat",
        "春小麦": "spring_wheat",
        # FAO-56 Table 12 lists oats with the same Kc as spring wheat; Table 11 one row.
        "oats": "spring_wheat",
        "naked_oats": "spring_wheat",
        "莜麦": "spring_wheat",
        "燕麦": "spring_wheat",
        "马铃薯": "potato",
        "土豆": "potato",
        "谷子": "millet",
        "foxtail_millet": "millet",
        "糜子": "millet",
        "proso_millet": "millet",
        "soybeans": "soybean",
        "大豆": "soybean",
        "番茄": "tomato",
        "西红柿": "tomato",
        "黄瓜": "cucumber",
    }
)
"""Names used in the registry (``Site.crop``) → ``KC_TABLE`` keys."""


def crop_params(*, crop: str) -> CropParams:
    """FAO-56 parameters of a site's crop (``KC_TABLE`` key or a :data:`CROP_ALIASES` name).

    :raises KeyError: for a crop farmtel has no Kc curve for.
    """
    key = crop.strip().lower()
    key = CROP_ALIASES.get(key, key)
    try:
        return KC_TABLE[key]
    except KeyError:
        known = sorted({*KC_TABLE, *CROP_ALIASES})
        raise KeyError(f"no Kc curve for crop {crop!r}; known: {known}") from None


def days_after_planting(*, days: Sequence[date], planting_date: date) -> FloatArray:
    """Days since planting i for each date (negative before planting) [day]."""
    return np.asarray([(d - planting_date).days for d in days], dtype=np.float64)


def kc_series(*, crop: CropParams, planting_date: date, days: Sequence[date]) -> FloatArray:
    """Single crop coefficient Kc per day — FAO-56 Eq. 66 via ``crop_coefficient``.

    Before planting the curve gives Kc_ini (bare, mostly dry soil) and after the season
    Kc_end: outside the season the balance is indicative only.

    :returns: Kc [-] for each day.
    """
    dap = days_after_planting(days=days, planting_date=planting_date)
    kc = crop_coefficient(
        day_after_planting=dap,
        kc_ini=crop.kc_ini,
        kc_mid=crop.kc_mid,
        kc_end=crop.kc_end,
        l_ini=crop.l_ini,
        l_dev=crop.l_dev,
        l_mid=crop.l_mid,
        l_late=crop.l_late,
    )
    return np.asarray(kc, dtype=np.float64)


def crop_et_mm(*, et0_mm: ArrayLike, kc: ArrayLike) -> FloatArray:
    """Crop evapotranspiration under standard conditions ETc = Kc · ET0 — FAO-56 Eq. 56.

    :param et0_mm: reference evapotranspiration ET0 [mm/day].
    :param kc: crop coefficient Kc [-].
    :returns: ETc [mm/day].
    """
    return np.asarray(np.asarray(kc, dtype=np.float64) * np.asarray(et0_mm, np.float64))


def root_depth_m(
    *,
    day_after_planting: ArrayLike,
    l_ini: float,
    l_dev: float,
    zr_min_m: float,
    zr_max_m: float,
) -> FloatArray:
    """Effective root depth Zr growing linearly over the development stage [m].

    Zr = Zr,min up to the end of the initial stage (day L_ini), then
    Zr = Zr,min + (Zr,max − Zr,min)·(i − L_ini)/L_dev until the start of mid-season
    (day L_ini + L_dev), then Zr,max. FAO-56 Ch. 8 has no numbered root-growth equation; this
    is the linear stage interpolation of Eq. 66 (the Kc curve) applied to Zr, so roots reach
    Zr,max (Table 22) when the canopy reaches full cover and Kc reaches Kc_mid.

    :param day_after_planting: days since planting i [day].
    :param l_ini: length of the initial stage [day].
    :param l_dev: length of the development stage [day].
    :param zr_min_m: root depth during the initial stage Zr,min [m].
    :param zr_max_m: maximum effective root depth Zr,max [m].
    :returns: Zr [m].
    """
    day = np.asarray(day_after_planting, dtype=np.float64)
    step = (day > l_ini).astype(np.float64)  # a 0-day development stage is a step
    frac = np.clip((day - l_ini) / l_dev, 0.0, 1.0) if l_dev > 0 else step
    return np.asarray(zr_min_m + (zr_max_m - zr_min_m) * frac, dtype=np.float64)
