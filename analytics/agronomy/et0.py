"""Grass reference evapotranspiration ET0 (FAO-56 Penman-Monteith and Hargreaves).

Source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration —
Guidelines for computing crop water requirements. FAO Irrigation and Drainage Paper 56, Rome.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy._types import FloatArray, as_float, finish
from analytics.agronomy.atmosphere import atmospheric_pressure_kpa, psychrometric_constant_kpa_c
from analytics.agronomy.humidity import (
    actual_vapour_pressure_kpa,
    mean_saturation_vapour_pressure_kpa,
    saturation_vapour_pressure_kpa,
    slope_vapour_pressure_curve_kpa_c,
)
from analytics.agronomy.radiation import (
    clear_sky_radiation_mj_m2,
    extraterrestrial_radiation_mj_m2_day,
    extraterrestrial_radiation_mj_m2_h,
    net_longwave_radiation_mj_m2_day,
    net_longwave_radiation_mj_m2_h,
    net_shortwave_radiation_mj_m2,
    solar_hour_angle_rad,
    sunset_hour_angle_rad,
)

__all__ = ["et0_daily_mm", "et0_hargreaves_mm", "et0_hourly_mm"]

MJ_M2_TO_MM = 0.408
"""Energy to equivalent evaporation 1/λ = 1/2.45 [mm per MJ m-2] (FAO-56 Eq. 20)."""


def et0_daily_mm(
    *,
    t_max_c: ArrayLike,
    t_min_c: ArrayLike,
    rh_max_pct: ArrayLike | None = None,
    rh_min_pct: ArrayLike | None = None,
    wind_2m_m_s: ArrayLike,
    solar_rad_mj_m2_day: ArrayLike,
    lat_deg: ArrayLike,
    elevation_m: ArrayLike,
    day_of_year: ArrayLike,
    ea_kpa: ArrayLike | None = None,
    soil_heat_flux_mj_m2_day: ArrayLike = 0.0,
    albedo: ArrayLike = 0.23,
) -> FloatArray:
    """Daily FAO-56 Penman-Monteith grass reference evapotranspiration.

    ET0 = [0.408 Δ (Rn − G) + γ (900/(T + 273)) u2 (es − ea)] / [Δ + γ (1 + 0.34 u2)] —
    FAO-56 Eq. 6 (Allen et al., 1998). T = (Tmax + Tmin)/2 (Eq. 9); Δ at T (Eq. 13);
    P, γ (Eqs. 7-8); es (Eq. 12); ea from RHmax/RHmin (Eq. 17) unless ``ea_kpa`` is given;
    Ra (Eq. 21); Rso (Eq. 37); Rns with albedo 0.23 (Eq. 38); Rnl (Eq. 39); Rn = Rns − Rnl
    (Eq. 40); G = 0 for daily steps (Eq. 42). Pass ``soil_heat_flux_mj_m2_day`` only for
    monthly steps (Eqs. 43-44), as in FAO-56 Example 17.

    :param t_max_c: daily maximum air temperature at 2 m [°C].
    :param t_min_c: daily minimum air temperature at 2 m [°C].
    :param rh_max_pct: daily maximum relative humidity [%] (unused if ``ea_kpa`` is given).
    :param rh_min_pct: daily minimum relative humidity [%] (unused if ``ea_kpa`` is given).
    :param wind_2m_m_s: mean daily wind speed at 2 m u2 [m/s] (see ``wind_speed_2m_m_s``).
    :param solar_rad_mj_m2_day: incoming solar radiation Rs [MJ m-2 day-1].
    :param lat_deg: latitude [decimal degrees, north positive].
    :param elevation_m: station elevation [m].
    :param day_of_year: day of the year J [1..365/366].
    :param ea_kpa: optional actual vapour pressure ea [kPa] overriding Eq. 17.
    :param soil_heat_flux_mj_m2_day: soil heat flux G [MJ m-2 day-1]; 0 for daily steps.
    :param albedo: canopy albedo [-]; 0.23 for the grass reference.
    :returns: reference evapotranspiration ET0 [mm day-1] (not clipped at 0).
    :raises ValueError: if neither ``ea_kpa`` nor both RH arguments are given.
    """
    t_max = as_float(t_max_c)
    t_min = as_float(t_min_c)
    t_mean = (t_max + t_min) / 2.0
    u2 = as_float(wind_2m_m_s)
    rs = as_float(solar_rad_mj_m2_day)

    if ea_kpa is not None:
        ea = as_float(ea_kpa)
    elif rh_max_pct is not None and rh_min_pct is not None:
        ea = as_float(
            actual_vapour_pressure_kpa(
                t_max_c=t_max, t_min_c=t_min, rh_max_pct=rh_max_pct, rh_min_pct=rh_min_pct
            )
        )
    else:
        raise ValueError("et0_daily_mm needs ea_kpa or both rh_max_pct and rh_min_pct")

    es = as_float(mean_saturation_vapour_pressure_kpa(t_max_c=t_max, t_min_c=t_min))
    delta = as_float(slope_vapour_pressure_curve_kpa_c(t_c=t_mean))
    gamma = as_float(
        psychrometric_constant_kpa_c(pressure_kpa=atmospheric_pressure_kpa(elevation_m=elevation_m))
    )

    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=lat_deg, day_of_year=day_of_year)
    rso = as_float(clear_sky_radiation_mj_m2(ra_mj_m2=ra, elevation_m=elevation_m))
    rns = as_float(net_shortwave_radiation_mj_m2(solar_rad_mj_m2=rs, albedo=albedo))
    with np.errstate(divide="ignore", invalid="ignore"):
        rs_rso = np.where(rso > 0.0, rs / rso, 1.0)
    rnl = as_float(
        net_longwave_radiation_mj_m2_day(t_max_c=t_max, t_min_c=t_min, ea_kpa=ea, rs_rso=rs_rso)
    )
    rn = rns - rnl
    g = as_float(soil_heat_flux_mj_m2_day)

    num = MJ_M2_TO_MM * delta * (rn - g) + gamma * (900.0 / (t_mean + 273.0)) * u2 * (es - ea)
    den = delta + gamma * (1.0 + 0.34 * u2)
    return finish(as_float(num / den))


def et0_hourly_mm(
    *,
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    wind_2m_m_s: ArrayLike,
    solar_rad_mj_m2_h: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    tz_lon_deg: ArrayLike,
    elevation_m: ArrayLike,
    day_of_year: ArrayLike,
    hour_mid: ArrayLike,
    night_rs_rso: ArrayLike = 0.8,
    albedo: ArrayLike = 0.23,
) -> FloatArray:
    """Hourly FAO-56 Penman-Monteith grass reference evapotranspiration.

    ET0 = [0.408 Δ (Rn − G) + γ (37/(Thr + 273)) u2 (e°(Thr) − ea)] / [Δ + γ (1 + 0.34 u2)] —
    FAO-56 Eq. 53 (Allen et al., 1998), ea = e°(Thr)·RHhr/100 (Eq. 54), G = 0.1 Rn by day
    (Eq. 45) and 0.5 Rn at night (Eq. 46). Ra from Eq. 28 (Eqs. 29-33), Rso Eq. 37,
    Rns Eq. 38, Rnl Eq. 39 with σ/24 and Thr.

    Longitudes are degrees EAST (west negative). FAO-56 Eq. 31 uses Lz, Lm in degrees WEST
    of Greenwich; the conversion Lz − Lm (west) = ``lon_deg`` − ``tz_lon_deg`` (east) is done
    in :func:`~analytics.agronomy.radiation.solar_hour_angle_rad`.

    Day/night: a period is "day" when the sun is above the horizon at its midpoint
    (|ω| ≤ ωs). By day Rs/Rso is computed; at night Rso = 0, so Rs/Rso is taken as
    ``night_rs_rso``. FAO-56 (text following Eq. 53) recommends the ratio of a period 2-3 h
    before sunset, or roughly 0.4-0.6 in humid/sub-humid and 0.7-0.8 in arid/semi-arid
    climates; the default 0.8 is the value of FAO-56 Example 19 (Senegal) and suits
    semi-arid Shanxi. Pass the late-afternoon ratio for better night estimates.

    :param t_c: mean hourly air temperature Thr [°C].
    :param rh_pct: mean hourly relative humidity RHhr [%].
    :param wind_2m_m_s: mean hourly wind speed at 2 m [m/s].
    :param solar_rad_mj_m2_h: incoming solar radiation Rs [MJ m-2 h-1].
    :param lat_deg: latitude [decimal degrees, north positive].
    :param lon_deg: site longitude [decimal degrees EAST].
    :param tz_lon_deg: longitude of the centre of the local time zone [degrees EAST]
        (15 × UTC offset; 120 for UTC+8).
    :param elevation_m: station elevation [m].
    :param day_of_year: day of the year J [1..365/366].
    :param hour_mid: standard clock time at the middle of the period [h] (14.5 for 14-15 h).
    :param night_rs_rso: Rs/Rso assumed when the sun is below the horizon [-].
    :param albedo: canopy albedo [-]; 0.23 for the grass reference.
    :returns: reference evapotranspiration ET0 [mm h-1] (not clipped at 0).
    """
    t = as_float(t_c)
    u2 = as_float(wind_2m_m_s)
    rs = as_float(solar_rad_mj_m2_h)

    es = as_float(saturation_vapour_pressure_kpa(t_c=t))
    ea = es * as_float(rh_pct) / 100.0
    delta = as_float(slope_vapour_pressure_curve_kpa_c(t_c=t))
    gamma = as_float(
        psychrometric_constant_kpa_c(pressure_kpa=atmospheric_pressure_kpa(elevation_m=elevation_m))
    )

    ra = extraterrestrial_radiation_mj_m2_h(
        lat_deg=lat_deg,
        lon_deg=lon_deg,
        tz_lon_deg=tz_lon_deg,
        day_of_year=day_of_year,
        hour_mid=hour_mid,
    )
    rso = as_float(clear_sky_radiation_mj_m2(ra_mj_m2=ra, elevation_m=elevation_m))
    omega = as_float(
        solar_hour_angle_rad(
            lon_deg=lon_deg, tz_lon_deg=tz_lon_deg, day_of_year=day_of_year, hour_mid=hour_mid
        )
    )
    omega_s = as_float(sunset_hour_angle_rad(lat_deg=lat_deg, day_of_year=day_of_year))
    is_day = np.abs(omega) <= omega_s

    with np.errstate(divide="ignore", invalid="ignore"):
        rs_rso = np.where(is_day & (rso > 0.0), rs / rso, as_float(night_rs_rso))
    rns = as_float(net_shortwave_radiation_mj_m2(solar_rad_mj_m2=rs, albedo=albedo))
    rnl = as_float(net_longwave_radiation_mj_m2_h(t_c=t, ea_kpa=ea, rs_rso=rs_rso))
    rn = rns - rnl
    g = np.where(is_day, 0.1 * rn, 0.5 * rn)

    num = MJ_M2_TO_MM * delta * (rn - g) + gamma * (37.0 / (t + 273.0)) * u2 * (es - ea)
    den = delta + gamma * (1.0 + 0.34 * u2)
    return finish(as_float(num / den))


def et0_hargreaves_mm(
    *,
    t_max_c: ArrayLike,
    t_min_c: ArrayLike,
    lat_deg: ArrayLike,
    day_of_year: ArrayLike,
) -> FloatArray:
    """Hargreaves temperature-based reference evapotranspiration.

    ET0 = 0.0023 (Tmean + 17.8) (Tmax − Tmin)^0.5 · 0.408 Ra — FAO-56 Eq. 52 (Allen et al.,
    1998; Hargreaves & Samani, 1985), Ra from Eq. 21 converted to mm/day equivalent with
    0.408 (Eq. 20). Tmean = (Tmax + Tmin)/2; Tmax − Tmin is floored at 0. FAO-56 advises
    using it only when Penman-Monteith inputs cannot be estimated.

    :param t_max_c: daily maximum air temperature [°C].
    :param t_min_c: daily minimum air temperature [°C].
    :param lat_deg: latitude [decimal degrees, north positive].
    :param day_of_year: day of the year J [1..365/366].
    :returns: reference evapotranspiration ET0 [mm day-1].
    """
    t_max = as_float(t_max_c)
    t_min = as_float(t_min_c)
    t_mean = (t_max + t_min) / 2.0
    ra = as_float(extraterrestrial_radiation_mj_m2_day(lat_deg=lat_deg, day_of_year=day_of_year))
    et0 = 0.0023 * (t_mean + 17.8) * np.sqrt(np.maximum(t_max - t_min, 0.0)) * MJ_M2_TO_MM * ra
    return finish(as_float(et0))
