"""Livestock heat-stress indices.

Source: NRC (1971). A guide to environmental research on animals. National Academy of
Sciences, Washington DC — temperature-humidity index (THI) as written with T in °C and
RH in % (e.g. Dikmen & Hansen, 2009, J. Dairy Sci. 92:109-116).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = ["thi_nrc"]


def thi_nrc(*, t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray:
    """NRC (1971) temperature-humidity index.

    THI = (1.8 T + 32) − (0.55 − 0.0055 RH) (1.8 T − 26) (NRC, 1971).
    Indicative dairy bands (Armstrong, 1994, J. Dairy Sci. 77:2044): < 72 none, 72-78 mild,
    79-88 moderate, ≥ 89 severe; Zimbelman et al. (2009) place the onset at 68 for
    high-yielding cows. Thresholds are breed- and system-specific.

    :param t_c: dry-bulb air temperature T [°C].
    :param rh_pct: relative humidity RH [%].
    :returns: THI [dimensionless, °F-like scale].
    """
    t = as_float(t_c)
    rh = as_float(rh_pct)
    return finish(as_float((1.8 * t + 32.0) - (0.55 - 0.0055 * rh) * (1.8 * t - 26.0)))
