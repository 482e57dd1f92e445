"""Pure, vectorised agronomy science for farmtel (numpy in, numpy out).

Every function takes keyword-only arguments whose names carry the unit (``t_c`` [°C],
``rh_pct`` [%], ``wind_2m_m_s`` [m/s], ``*_mj_m2_day`` [MJ m-2 day-1], ``*_mm`` [mm] …),
accepts scalars or arrays that broadcast together, and returns float64 arrays of the
broadcast shape (a ``numpy.float64`` scalar, i.e. a Python ``float``, for scalar inputs).
Nothing is computed at import time.

Main source: Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration
— Guidelines for computing crop water requirements. FAO Irrigation and Drainage Paper 56
("FAO-56"), FAO, Rome. Equation and table numbers in the docstrings refer to it unless
another source is named.

Modules: ``atmosphere`` (P, γ, wind), ``humidity`` (es, Δ, ea, VPD, dew point),
``radiation`` (Ra, Rs, Rso, Rn terms), ``et0`` (Penman-Monteith daily/hourly, Hargreaves),
``soil_water`` (TAW, RAW, Ks, root-zone balance), ``rainfall`` (effective rainfall),
``crop`` (GDD, Kc curve, ``KC_TABLE``), ``livestock`` (THI), ``water_use`` (water
productivity; 灌溉水有效利用系数 is :mod:`analytics.water.headtail`).
"""

from analytics.agronomy._types import FloatArray
from analytics.agronomy.atmosphere import (
    atmospheric_pressure_kpa,
    psychrometric_constant_kpa_c,
    wind_speed_2m_m_s,
)
from analytics.agronomy.crop import (
    KC_TABLE,
    CropParams,
    climate_adjusted_kc,
    crop_coefficient,
    growing_degree_days,
)
from analytics.agronomy.et0 import et0_daily_mm, et0_hargreaves_mm, et0_hourly_mm
from analytics.agronomy.humidity import (
    actual_vapour_pressure_kpa,
    dew_point_c,
    mean_saturation_vapour_pressure_kpa,
    saturation_vapour_pressure_kpa,
    slope_vapour_pressure_curve_kpa_c,
    vapour_pressure_deficit_kpa,
)
from analytics.agronomy.livestock import thi_nrc
from analytics.agronomy.radiation import (
    clear_sky_radiation_mj_m2,
    daylight_hours_h,
    extraterrestrial_radiation_mj_m2_day,
    extraterrestrial_radiation_mj_m2_h,
    inverse_relative_distance_earth_sun,
    net_longwave_radiation_mj_m2_day,
    net_longwave_radiation_mj_m2_h,
    net_shortwave_radiation_mj_m2,
    solar_declination_rad,
    solar_hour_angle_rad,
    solar_radiation_angstrom_mj_m2_day,
    sunset_hour_angle_rad,
)
from analytics.agronomy.rainfall import EffectiveRainfallMethod, effective_rainfall_mm
from analytics.agronomy.soil_water import (
    DepletionStep,
    WaterBalance,
    adjusted_depletion_fraction,
    readily_available_water_mm,
    root_zone_depletion_mm,
    total_available_water_mm,
    water_balance,
    water_stress_coefficient,
)
from analytics.agronomy.water_use import water_productivity_kg_m3

__all__ = [
    "KC_TABLE",
    "CropParams",
    "DepletionStep",
    "EffectiveRainfallMethod",
    "FloatArray",
    "WaterBalance",
    "actual_vapour_pressure_kpa",
    "adjusted_depletion_fraction",
    "atmospheric_pressure_kpa",
    "clear_sky_radiation_mj_m2",
    "climate_adjusted_kc",
    "crop_coefficient",
    "daylight_hours_h",
    "dew_point_c",
    "effective_rainfall_mm",
    "et0_daily_mm",
    "et0_hargreaves_mm",
    "et0_hourly_mm",
    "extraterrestrial_radiation_mj_m2_day",
    "extraterrestrial_radiation_mj_m2_h",
    "growing_degree_days",
    "inverse_relative_distance_earth_sun",
    "mean_saturation_vapour_pressure_kpa",
    "net_longwave_radiation_mj_m2_day",
    "net_longwave_radiation_mj_m2_h",
    "net_shortwave_radiation_mj_m2",
    "psychrometric_constant_kpa_c",
    "readily_available_water_mm",
    "root_zone_depletion_mm",
    "saturation_vapour_pressure_kpa",
    "slope_vapour_pressure_curve_kpa_c",
    "solar_declination_rad",
    "solar_hour_angle_rad",
    "solar_radiation_angstrom_mj_m2_day",
    "sunset_hour_angle_rad",
    "thi_nrc",
    "total_available_water_mm",
    "vapour_pressure_deficit_kpa",
    "water_balance",
    "water_productivity_kg_m3",
    "water_stress_coefficient",
    "wind_speed_2m_m_s",
]
