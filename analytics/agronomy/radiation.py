"""Solar and net radiation terms (FAO-56 Chapter 3, Eqs. 21-39).

Source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration —
Guidelines for computing crop water requirements. FAO Irrigation and Drainage Paper 56, Rome.

Latitudes are decimal degrees, north positive. Longitudes are decimal degrees EAST of
Greenwich (west negative) — the opposite sign of FAO-56, which uses degrees west.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish

__all__ = [
    "SOLAR_CONSTANT_MJ_M2_MIN",
    "STEFAN_BOLTZMANN_MJ_K4_M2_DAY",
    "clear_sky_radiation_mj_m2",
    "daylight_hours_h",
    "extraterrestrial_radiation_mj_m2_day",
    "extraterrestrial_radiation_mj_m2_h",
    "inverse_relative_distance_earth_sun",
    "net_longwave_radiation_mj_m2_day",
    "net_longwave_radiation_mj_m2_h",
    "net_shortwave_radiation_mj_m2",
    "solar_declination_rad",
    "solar_hour_angle_rad",
    "solar_radiation_angstrom_mj_m2_day",
    "sunset_hour_angle_rad",
]

SOLAR_CONSTANT_MJ_M2_MIN = 0.0820
"""Solar constant Gsc [MJ m-2 min-1] (FAO-56 Eq. 21)."""
STEFAN_BOLTZMANN_MJ_K4_M2_DAY = 4.903e-9
"""Stefan-Boltzmann constant σ [MJ K-4 m-2 day-1] (FAO-56 Eq. 39)."""

_KELVIN = 273.16  # FAO-56 Eq. 39 uses T[K] = T[°C] + 273.16


def inverse_relative_distance_earth_sun(*, day_of_year: ArrayLike) -> FloatArray:
    """Inverse relative Earth-Sun distance dr = 1 + 0.033 cos(2π J / 365).

    FAO-56 Eq. 23 (Allen et al., 1998).

    :param day_of_year: day of the year J [1..365/366].
    :returns: dr [-].
    """
    j = as_float(day_of_year)
    return finish(1.0 + 0.033 * np.cos(2.0 * np.pi * j / 365.0))


def solar_declination_rad(*, day_of_year: ArrayLike) -> FloatArray:
    """Solar declination δ = 0.409 sin(2π J / 365 − 1.39).

    FAO-56 Eq. 24 (Allen et al., 1998).

    :param day_of_year: day of the year J [1..365/366].
    :returns: solar declination δ [rad].
    """
    j = as_float(day_of_year)
    return finish(0.409 * np.sin(2.0 * np.pi * j / 365.0 - 1.39))


def sunset_hour_angle_rad(*, lat_deg: ArrayLike, day_of_year: ArrayLike) -> FloatArray:
    """Sunset hour angle ωs = arccos(−tan φ · tan δ).

    FAO-56 Eq. 25 (Allen et al., 1998). The arccos argument is clipped to [−1, 1] so polar
    day/night give ωs = π / 0 instead of NaN (ASCE-EWRI, 2005, Eq. 27 convention).

    :param lat_deg: latitude φ [decimal degrees, north positive].
    :param day_of_year: day of the year J [1..365/366].
    :returns: sunset hour angle ωs [rad].
    """
    phi = np.deg2rad(as_float(lat_deg))
    delta = as_float(solar_declination_rad(day_of_year=day_of_year))
    return finish(np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0)))


def extraterrestrial_radiation_mj_m2_day(
    *, lat_deg: ArrayLike, day_of_year: ArrayLike
) -> FloatArray:
    """Daily extraterrestrial radiation on a horizontal surface.

    Ra = (24·60/π) Gsc dr [ωs sin φ sin δ + cos φ cos δ sin ωs] — FAO-56 Eq. 21 with dr
    (Eq. 23), δ (Eq. 24), ωs (Eq. 25) (Allen et al., 1998).

    :param lat_deg: latitude φ [decimal degrees, north positive].
    :param day_of_year: day of the year J [1..365/366].
    :returns: extraterrestrial radiation Ra [MJ m-2 day-1].
    """
    phi = np.deg2rad(as_float(lat_deg))
    dr = as_float(inverse_relative_distance_earth_sun(day_of_year=day_of_year))
    delta = as_float(solar_declination_rad(day_of_year=day_of_year))
    ws = as_float(sunset_hour_angle_rad(lat_deg=lat_deg, day_of_year=day_of_year))
    ra = (
        (24.0 * 60.0 / np.pi)
        * SOLAR_CONSTANT_MJ_M2_MIN
        * dr
        * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))
    )
    return finish(as_float(ra))


def daylight_hours_h(*, lat_deg: ArrayLike, day_of_year: ArrayLike) -> FloatArray:
    """Maximum possible sunshine duration N = 24 ωs / π.

    FAO-56 Eq. 34 (Allen et al., 1998).

    :param lat_deg: latitude [decimal degrees, north positive].
    :param day_of_year: day of the year J [1..365/366].
    :returns: daylight hours N [h].
    """
    ws = as_float(sunset_hour_angle_rad(lat_deg=lat_deg, day_of_year=day_of_year))
    return finish(24.0 / np.pi * ws)


def solar_hour_angle_rad(
    *,
    lon_deg: ArrayLike,
    tz_lon_deg: ArrayLike,
    day_of_year: ArrayLike,
    hour_mid: ArrayLike,
) -> FloatArray:
    """Solar time angle ω at the midpoint of a period.

    FAO-56 Eq. 31: ω = π/12 [(t + 0.06667 (Lz − Lm) + Sc) − 12], with the seasonal correction
    Sc = 0.1645 sin 2b − 0.1255 cos b − 0.025 sin b (Eq. 32), b = 2π (J − 81)/364 (Eq. 33).
    FAO-56 gives Lz, Lm in degrees WEST of Greenwich; here longitudes are degrees EAST, so
    Lz − Lm (west) = ``lon_deg`` − ``tz_lon_deg`` (east) and 0.06667 is taken as exactly 1/15 h/°.

    ω is wrapped into [−π, π) (as refet's ``solar_hour_angle`` does, ASCE-EWRI 2005 Eq. 55):
    a clock far from the site's meridian (e.g. UTC at 112° E) otherwise gives |ω| > π for
    hours that are daytime at the site, which Eq. 28's clipping to [−ωs, ωs] turns into
    night.

    :param lon_deg: site longitude [decimal degrees EAST, west negative].
    :param tz_lon_deg: longitude of the centre of the local time zone [degrees EAST]
        (e.g. 120 for China Standard Time, UTC+8; = 15 × UTC offset in hours).
    :param day_of_year: day of the year J [1..365/366].
    :param hour_mid: standard clock time at the midpoint of the period t [h], e.g. 14.5.
    :returns: solar time angle ω [rad] in [−π, π) (0 at solar noon, negative in the morning).
    """
    j = as_float(day_of_year)
    b = 2.0 * np.pi * (j - 81.0) / 364.0
    sc = 0.1645 * np.sin(2.0 * b) - 0.1255 * np.cos(b) - 0.025 * np.sin(b)
    lon_correction_h = (as_float(lon_deg) - as_float(tz_lon_deg)) / 15.0
    omega = np.pi / 12.0 * ((as_float(hour_mid) + lon_correction_h + sc) - 12.0)
    return finish(as_float(np.mod(omega + np.pi, 2.0 * np.pi) - np.pi))


def extraterrestrial_radiation_mj_m2_h(
    *,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    tz_lon_deg: ArrayLike,
    day_of_year: ArrayLike,
    hour_mid: ArrayLike,
    period_h: ArrayLike = 1.0,
) -> FloatArray:
    """Extraterrestrial radiation for an hourly (or shorter) period.

    Ra = (12·60/π) Gsc dr [(ω2 − ω1) sin φ sin δ + cos φ cos δ (sin ω2 − sin ω1)] — FAO-56
    Eq. 28, ω1 = ω − π t1/24 (Eq. 29), ω2 = ω + π t1/24 (Eq. 30), ω from Eqs. 31-33 (see
    :func:`solar_hour_angle_rad` for the east-positive longitude convention). FAO-56 sets
    Ra = 0 when the sun is below the horizon; here ω1, ω2 are clipped to [−ωs, ωs]
    (ASCE-EWRI, 2005, Eqs. 56-57), which is identical for full-daylight periods and
    integrates the sunlit part of periods that contain sunrise or sunset.

    :param lat_deg: latitude [decimal degrees, north positive].
    :param lon_deg: site longitude [decimal degrees EAST].
    :param tz_lon_deg: longitude of the centre of the local time zone [degrees EAST].
    :param day_of_year: day of the year J [1..365/366].
    :param hour_mid: standard clock time at the midpoint of the period [h].
    :param period_h: length of the period t1 [h] (1 for hourly, 0.5 for 30 min).
    :returns: extraterrestrial radiation Ra [MJ m-2 per period].
    """
    phi = np.deg2rad(as_float(lat_deg))
    dr = as_float(inverse_relative_distance_earth_sun(day_of_year=day_of_year))
    delta = as_float(solar_declination_rad(day_of_year=day_of_year))
    ws = as_float(sunset_hour_angle_rad(lat_deg=lat_deg, day_of_year=day_of_year))
    w = as_float(
        solar_hour_angle_rad(
            lon_deg=lon_deg, tz_lon_deg=tz_lon_deg, day_of_year=day_of_year, hour_mid=hour_mid
        )
    )
    half = np.pi * as_float(period_h) / 24.0
    w1 = np.clip(w - half, -ws, ws)
    w2 = np.clip(w + half, -ws, ws)
    ra = (
        (12.0 * 60.0 / np.pi)
        * SOLAR_CONSTANT_MJ_M2_MIN
        * dr
        * (
            (w2 - w1) * np.sin(phi) * np.sin(delta)
            + np.cos(phi) * np.cos(delta) * (np.sin(w2) - np.sin(w1))
        )
    )
    return finish(as_float(np.maximum(ra, 0.0)))


def solar_radiation_angstrom_mj_m2_day(
    *,
    sunshine_h: ArrayLike,
    daylight_h: ArrayLike,
    ra_mj_m2_day: ArrayLike,
    a_s: float = 0.25,
    b_s: float = 0.50,
) -> FloatArray:
    """Solar (shortwave) radiation from sunshine duration (Angström formula).

    Rs = (as + bs · n/N) Ra — FAO-56 Eq. 35 (Allen et al., 1998); default as = 0.25,
    bs = 0.50 as recommended by FAO-56 when no local calibration is available.

    :param sunshine_h: actual sunshine duration n [h].
    :param daylight_h: maximum possible sunshine duration N [h] (Eq. 34).
    :param ra_mj_m2_day: extraterrestrial radiation Ra [MJ m-2 day-1].
    :param a_s: regression constant as [-].
    :param b_s: regression constant bs [-].
    :returns: solar radiation Rs [MJ m-2 day-1].
    """
    n = as_float(sunshine_h)
    big_n = as_float(daylight_h)
    return finish(as_float((a_s + b_s * n / big_n) * as_float(ra_mj_m2_day)))


def clear_sky_radiation_mj_m2(*, ra_mj_m2: ArrayLike, elevation_m: ArrayLike) -> FloatArray:
    """Clear-sky solar radiation Rso = (0.75 + 2e-5 z) Ra.

    FAO-56 Eq. 37 (Allen et al., 1998). Valid for any period (day or hour) — the unit of the
    output equals the unit of ``ra_mj_m2``.

    :param ra_mj_m2: extraterrestrial radiation Ra [MJ m-2 per period].
    :param elevation_m: station elevation z [m].
    :returns: clear-sky solar radiation Rso [MJ m-2 per period].
    """
    z = as_float(elevation_m)
    return finish(as_float((0.75 + 2e-5 * z) * as_float(ra_mj_m2)))


def net_shortwave_radiation_mj_m2(
    *, solar_rad_mj_m2: ArrayLike, albedo: ArrayLike = 0.23
) -> FloatArray:
    """Net shortwave radiation Rns = (1 − α) Rs.

    FAO-56 Eq. 38 (Allen et al., 1998); α = 0.23 for the hypothetical grass reference.

    :param solar_rad_mj_m2: incoming solar radiation Rs [MJ m-2 per period].
    :param albedo: albedo α [-].
    :returns: net shortwave radiation Rns [MJ m-2 per period].
    """
    return finish(as_float((1.0 - as_float(albedo)) * as_float(solar_rad_mj_m2)))


def _cloudiness_factor(rs_rso: ArrayLike) -> FloatArray:
    """1.35 Rs/Rso − 0.35 with Rs/Rso bounded to [0.3, 1.0].

    FAO-56 Eq. 39 limits Rs/Rso to ≤ 1.0; the lower bound 0.3 (fcd ≥ 0.05) follows ASCE-EWRI
    (2005, Eq. 45) and keeps Rnl from turning into a long-wave gain on very dull days.
    """
    ratio = np.clip(as_float(rs_rso), 0.3, 1.0)
    return as_float(1.35 * ratio - 0.35)


def net_longwave_radiation_mj_m2_day(
    *,
    t_max_c: ArrayLike,
    t_min_c: ArrayLike,
    ea_kpa: ArrayLike,
    rs_rso: ArrayLike,
) -> FloatArray:
    """Daily net outgoing longwave radiation.

    Rnl = σ [(Tmax,K⁴ + Tmin,K⁴)/2] (0.34 − 0.14 √ea) (1.35 Rs/Rso − 0.35) — FAO-56 Eq. 39
    (Allen et al., 1998), σ = 4.903e-9 MJ K-4 m-2 day-1, T[K] = T[°C] + 273.16.
    Rs/Rso is bounded to [0.3, 1.0] (FAO-56: ≤ 1.0; lower bound from ASCE-EWRI 2005).

    :param t_max_c: daily maximum air temperature [°C].
    :param t_min_c: daily minimum air temperature [°C].
    :param ea_kpa: actual vapour pressure ea [kPa].
    :param rs_rso: relative shortwave radiation Rs/Rso [-].
    :returns: net longwave radiation Rnl [MJ m-2 day-1] (positive = loss).
    """
    tmax_k4 = (as_float(t_max_c) + _KELVIN) ** 4
    tmin_k4 = (as_float(t_min_c) + _KELVIN) ** 4
    humidity = 0.34 - 0.14 * np.sqrt(as_float(ea_kpa))
    rnl = STEFAN_BOLTZMANN_MJ_K4_M2_DAY * (tmax_k4 + tmin_k4) / 2.0 * humidity
    return finish(as_float(rnl * _cloudiness_factor(rs_rso)))


def net_longwave_radiation_mj_m2_h(
    *, t_c: ArrayLike, ea_kpa: ArrayLike, rs_rso: ArrayLike
) -> FloatArray:
    """Hourly net outgoing longwave radiation.

    FAO-56 Eq. 39 applied to hourly periods as prescribed for Eq. 53 (Allen et al., 1998):
    σ = 4.903e-9/24 = 2.043e-10 MJ K-4 m-2 h-1 and the hourly mean temperature T_hr,K⁴.
    Rs/Rso is bounded to [0.3, 1.0] as in :func:`net_longwave_radiation_mj_m2_day`.

    :param t_c: mean hourly air temperature [°C].
    :param ea_kpa: actual vapour pressure ea [kPa].
    :param rs_rso: relative shortwave radiation Rs/Rso [-].
    :returns: net longwave radiation Rnl [MJ m-2 h-1] (positive = loss).
    """
    t_k4 = (as_float(t_c) + _KELVIN) ** 4
    humidity = 0.34 - 0.14 * np.sqrt(as_float(ea_kpa))
    rnl = STEFAN_BOLTZMANN_MJ_K4_M2_DAY / 24.0 * t_k4 * humidity
    return finish(as_float(rnl * _cloudiness_factor(rs_rso)))
