"""Crop development: growing degree days and the FAO-56 single crop coefficient curve.

Sources: McMaster, G.S., Wilhelm, W.W. (1997). Growing degree-days: one equation, two
interpretations. Agric. For. Meteorol. 87, 291-300. Allen, R.G., Pereira, L.S., Raes, D.,
Smith, M. (1998). Crop evapotranspiration. FAO Irrigation and Drainage Paper 56, Rome
(Tables 11, 12, 22; Eq. 66).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = [
    "KC_TABLE",
    "CropParams",
    "climate_adjusted_kc",
    "crop_coefficient",
    "growing_degree_days",
]


def growing_degree_days(
    *,
    t_max_c: ArrayLike,
    t_min_c: ArrayLike,
    base_c: ArrayLike,
    cap_c: ArrayLike | None = None,
    method: Literal[1, 2] = 1,
) -> FloatArray:
    """Daily growing degree days by the averaging method.

    Method 1 (default; McMaster & Wilhelm, 1997, "method 1"):
    GDD = max((Tmax + Tmin)/2 − Tbase, 0). If ``cap_c`` is given, Tmax and Tmin are first
    each replaced by min(T, cap_c); they are NOT raised to Tbase — only the final GDD is
    floored at 0.

    Method 2 (McMaster & Wilhelm, 1997, "method 2", e.g. the US maize 10/30 °C rule):
    Tmax and Tmin are each clipped to [Tbase, cap_c] (upper bound only if ``cap_c`` is
    given) before averaging; GDD = (Tmax* + Tmin*)/2 − Tbase ≥ 0.

    :param t_max_c: daily maximum air temperature [°C].
    :param t_min_c: daily minimum air temperature [°C].
    :param base_c: base temperature Tbase [°C] (e.g. 10 for maize, 0-5 for wheat).
    :param cap_c: optional upper threshold temperature [°C] (e.g. 30 for maize).
    :param method: 1 or 2 as above.
    :returns: growing degree days [°C·day] for each day (sum for the season total).
    :raises ValueError: for an unknown method.
    """
    t_max = as_float(t_max_c)
    t_min = as_float(t_min_c)
    base = as_float(base_c)
    if cap_c is not None:
        cap = as_float(cap_c)
        t_max = np.minimum(t_max, cap)
        t_min = np.minimum(t_min, cap)
    if method == 1:
        gdd = np.maximum((t_max + t_min) / 2.0 - base, 0.0)
    elif method == 2:
        gdd = (np.maximum(t_max, base) + np.maximum(t_min, base)) / 2.0 - base
    else:
        raise ValueError(f"method must be 1 or 2, got {method!r}")
    return finish(as_float(gdd))


def _stage_fraction(day: FloatArray, start: FloatArray, length: FloatArray) -> FloatArray:
    """Fraction [0, 1] of a linear stage elapsed at ``day``; a 0-day stage is a step."""
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(length > 0.0, (day - start) / length, np.where(day > start, 1.0, 0.0))
    return as_float(np.clip(frac, 0.0, 1.0))


def crop_coefficient(
    *,
    day_after_planting: ArrayLike,
    kc_ini: ArrayLike,
    kc_mid: ArrayLike,
    kc_end: ArrayLike,
    l_ini: ArrayLike,
    l_dev: ArrayLike,
    l_mid: ArrayLike,
    l_late: ArrayLike,
) -> FloatArray:
    """FAO-56 single crop coefficient curve.

    Kc = Kc_ini during the initial stage; linear from Kc_ini to Kc_mid over the development
    stage; Kc_mid over the mid-season stage; linear from Kc_mid to Kc_end over the late
    stage — FAO-56 Eq. 66, Kc,i = Kc,prev + [(i − ΣL_prev)/L_stage] (Kc,next − Kc,prev)
    (Allen et al., 1998; stage lengths from Table 11, Kc values from Table 12).
    Day i is counted from planting: Kc(L_ini) = Kc_ini, Kc(L_ini + L_dev) = Kc_mid,
    Kc(L_ini + L_dev + L_mid) = Kc_mid, Kc(total) = Kc_end. Days < 0 give Kc_ini and days
    after the season give Kc_end.

    :param day_after_planting: days since planting/sowing i [day].
    :param kc_ini: Kc of the initial stage [-].
    :param kc_mid: Kc of the mid-season stage [-].
    :param kc_end: Kc at the end of the late-season stage [-].
    :param l_ini: length of the initial stage [day].
    :param l_dev: length of the crop development stage [day].
    :param l_mid: length of the mid-season stage [day].
    :param l_late: length of the late-season stage [day].
    :returns: crop coefficient Kc [-].
    """
    day = as_float(day_after_planting)
    k_ini = as_float(kc_ini)
    k_mid = as_float(kc_mid)
    k_end = as_float(kc_end)
    ini = as_float(l_ini)
    dev = as_float(l_dev)
    late_start = ini + dev + as_float(l_mid)
    f_dev = _stage_fraction(day, ini, dev)
    f_late = _stage_fraction(day, late_start, as_float(l_late))
    kc = k_ini + f_dev * (k_mid - k_ini) + f_late * (k_end - k_mid)
    return finish(as_float(kc))


def climate_adjusted_kc(
    *,
    kc_table: ArrayLike,
    wind_2m_m_s: ArrayLike,
    rh_min_pct: ArrayLike,
    crop_height_m: ArrayLike,
) -> FloatArray:
    """Adjust a Table 12 Kc_mid (or Kc_end ≥ 0.45) to the local climate.

    Kc = Kc(Tab) + [0.04 (u2 − 2) − 0.004 (RHmin − 45)] (h/3)^0.3 — FAO-56 Eq. 62 (Kc_mid)
    and Eq. 65 (Kc_end; apply only when Kc_end(Tab) ≥ 0.45) (Allen et al., 1998). Inputs are
    clipped to the validity ranges 1 ≤ u2 ≤ 6 m/s, 20 ≤ RHmin ≤ 80 %, 0.1 ≤ h ≤ 10 m.

    :param kc_table: Kc_mid or Kc_end from FAO-56 Table 12 [-].
    :param wind_2m_m_s: mean daily wind speed at 2 m over the stage u2 [m/s].
    :param rh_min_pct: mean daily minimum relative humidity over the stage RHmin [%].
    :param crop_height_m: mean plant height over the stage h [m].
    :returns: climate-adjusted Kc [-].
    """
    u2 = np.clip(as_float(wind_2m_m_s), 1.0, 6.0)
    rh_min = np.clip(as_float(rh_min_pct), 20.0, 80.0)
    h = np.clip(as_float(crop_height_m), 0.1, 10.0)
    adj = (0.04 * (u2 - 2.0) - 0.004 * (rh_min - 45.0)) * (h / 3.0) ** 0.3
    return finish(as_float(as_float(kc_table) + adj))


@dataclass(frozen=True, slots=True)
class CropParams:
    """FAO-56 parameters of one crop for the single-Kc water balance.

    Kc values are for a sub-humid climate (RHmin ≈ 45 %, u2 ≈ 2 m/s) — adjust Kc_mid/Kc_end
    for other climates with FAO-56 Eq. 62 (Shanxi: drier, often windier in spring).
    """

    name: str
    name_zh: str
    kc_ini: float
    kc_mid: float
    kc_end: float
    l_ini: int
    l_dev: int
    l_mid: int
    l_late: int
    root_depth_m: tuple[float, float]
    """Range of maximum effective rooting depth Zr [m] (FAO-56 Table 22)."""
    p: float
    """Soil water depletion fraction for no stress p [-] (FAO-56 Table 22, ETc ≈ 5 mm/d)."""
    height_m: float
    """Mean maximum plant height h [m] (FAO-56 Table 12), for :func:`climate_adjusted_kc`."""
    source: str

    @property
    def season_days(self) -> int:
        """Total length of the growing season [day]."""
        return self.l_ini + self.l_dev + self.l_mid + self.l_late

    def kc(self, *, day_after_planting: ArrayLike) -> FloatArray:
        """Kc on ``day_after_planting`` [day] from :func:`crop_coefficient`."""
        return crop_coefficient(
            day_after_planting=day_after_planting,
            kc_ini=self.kc_ini,
            kc_mid=self.kc_mid,
            kc_end=self.kc_end,
            l_ini=self.l_ini,
            l_dev=self.l_dev,
            l_mid=self.l_mid,
            l_late=self.l_late,
        )


KC_TABLE: Mapping[str, CropParams] = MappingProxyType(
    {
        "maize_grain": CropParams(
            name="Maize, field (grain)",
            name_zh="玉米(籽粒)",
            kc_ini=0.30,
            kc_mid=1.20,
            kc_end=0.60,
            l_ini=30,
            l_dev=40,
            l_mid=50,
            l_late=30,
            root_depth_m=(1.0, 1.7),
            p=0.55,
            height_m=2.0,
            source=(
                "T12 'Maize, field (grain)', Kc_end 0.60 = harvest at high grain moisture "
                "(0.35 if dried in the field); T11 row 30/40/50/30 (150 d), April, "
                "'Spain (spr, sum.); Calif.' as the closest match to spring-sown maize; T22."
            ),
        ),
        "spring_wheat": CropParams(
            name="Wheat, spring",
            name_zh="春小麦",
            kc_ini=0.30,
            kc_mid=1.15,
            kc_end=0.25,
            l_ini=20,
            l_dev=25,
            l_mid=60,
            l_late=30,
            root_depth_m=(1.0, 1.5),
            p=0.55,
            height_m=1.0,
            source=(
                "T12 'Spring wheat' (Kc_end 0.25 machine harvest; up to 0.4 hand harvest); "
                "T11 'Barley/Oats/Wheat' row 20/25/60/30 (135 d), March/April, 35-45°N; T22."
            ),
        ),
        "potato": CropParams(
            name="Potato",
            name_zh="马铃薯",
            kc_ini=0.50,
            kc_mid=1.15,
            kc_end=0.75,
            l_ini=25,
            l_dev=30,
            l_mid=45,
            l_late=30,
            root_depth_m=(0.4, 0.6),
            p=0.35,
            height_m=0.6,
            source="T12 'Potato'; T11 row 25/30/45/30 (130 d), May, 'Continental climate'; T22.",
        ),
        "millet": CropParams(
            name="Millet",
            name_zh="谷子",
            kc_ini=0.30,
            kc_mid=1.00,
            kc_end=0.30,
            l_ini=20,
            l_dev=30,
            l_mid=55,
            l_late=35,
            root_depth_m=(1.0, 2.0),
            p=0.55,
            height_m=1.5,
            source="T12 'Millet'; T11 row 20/30/55/35 (140 d), April, 'Central USA'; T22.",
        ),
        "soybean": CropParams(
            name="Soybeans",
            name_zh="大豆",
            kc_ini=0.40,
            kc_mid=1.15,
            kc_end=0.50,
            l_ini=20,
            l_dev=35,
            l_mid=60,
            l_late=25,
            root_depth_m=(0.6, 1.3),
            p=0.50,
            height_m=0.75,
            source=(
                "T12 'Soybeans' (Kc_ini = legume-group value 0.40; h 0.5-1.0 m, mid 0.75); "
                "T11 row 20/35/60/25 "
                "(140 d), May, 'Central USA'; T22."
            ),
        ),
        "tomato": CropParams(
            name="Tomato",
            name_zh="番茄(设施)",
            kc_ini=0.60,
            kc_mid=1.15,
            kc_end=0.80,
            l_ini=30,
            l_dev=40,
            l_mid=45,
            l_late=30,
            root_depth_m=(0.7, 1.5),
            p=0.40,
            height_m=0.6,
            source=(
                "T12 'Tomato' (Kc_end 0.70-0.90, mid-range 0.80); T11 row 30/40/45/30 (145 d), "
                "April/May, 'Mediterranean'; T22. Open-field values: greenhouse ET0 is lower "
                "(low wind, reduced radiation) — compute ET0 from in-house sensors."
            ),
        ),
        "cucumber": CropParams(
            name="Cucumber (fresh market)",
            name_zh="黄瓜(设施)",
            kc_ini=0.60,
            kc_mid=1.00,
            kc_end=0.75,
            l_ini=25,
            l_dev=35,
            l_mid=50,
            l_late=20,
            root_depth_m=(0.7, 1.2),
            p=0.50,
            height_m=0.3,
            source=(
                "T12 'Cucumber, fresh market'; T11 row 25/35/50/20 (130 d), Nov/Feb, "
                "'Arid region'; T22. Open-field values, see tomato note for greenhouses."
            ),
        ),
    }
)
"""Shanxi-relevant crops: FAO-56 Table 12 (Kc), Table 11 (stage lengths [day]) and Table 22
(max root depth range [m], p) (Allen et al., 1998). Table row choices are in ``source``."""
