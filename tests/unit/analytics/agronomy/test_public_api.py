"""Public surface of analytics.agronomy: names, keyword-only signatures, docstrings."""

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import analytics.agronomy as agro

REQUIRED = {
    "saturation_vapour_pressure_kpa": ["t_c"],
    "slope_vapour_pressure_curve_kpa_c": ["t_c"],
    "atmospheric_pressure_kpa": ["elevation_m"],
    "psychrometric_constant_kpa_c": ["pressure_kpa"],
    "extraterrestrial_radiation_mj_m2_day": ["lat_deg", "day_of_year"],
    "wind_speed_2m_m_s": ["wind_m_s", "height_m"],
    "et0_daily_mm": [
        "t_max_c",
        "t_min_c",
        "rh_max_pct",
        "rh_min_pct",
        "wind_2m_m_s",
        "solar_rad_mj_m2_day",
        "lat_deg",
        "elevation_m",
        "day_of_year",
        "ea_kpa",
    ],
    "et0_hourly_mm": [
        "t_c",
        "rh_pct",
        "wind_2m_m_s",
        "solar_rad_mj_m2_h",
        "lat_deg",
        "lon_deg",
        "tz_lon_deg",
        "elevation_m",
        "day_of_year",
        "hour_mid",
        "night_rs_rso",
    ],
    "et0_hargreaves_mm": ["t_max_c", "t_min_c", "lat_deg", "day_of_year"],
    "total_available_water_mm": ["theta_fc", "theta_wp", "root_depth_m"],
    "readily_available_water_mm": ["taw_mm", "p"],
    "thi_nrc": ["t_c", "rh_pct"],
    "vapour_pressure_deficit_kpa": ["t_c", "rh_pct"],
    "dew_point_c": ["t_c", "rh_pct"],
    "growing_degree_days": ["t_max_c", "t_min_c", "base_c", "cap_c"],
    "water_productivity_kg_m3": ["yield_kg_ha", "water_mm"],
    "crop_coefficient": [
        "day_after_planting",
        "kc_ini",
        "kc_mid",
        "kc_end",
        "l_ini",
        "l_dev",
        "l_mid",
        "l_late",
    ],
    "root_zone_depletion_mm": ["dr_prev_mm", "precip_mm", "etc_mm", "taw_mm"],
    "water_balance": ["et0_mm", "kc", "precip_mm", "taw_mm", "raw_mm"],
    "water_stress_coefficient": ["dr_mm", "taw_mm", "raw_mm"],
    "effective_rainfall_mm": ["precip_month_mm"],
}


def test_required_functions_exported_with_parameter_names():
    for name, params in REQUIRED.items():
        func = getattr(agro, name)
        assert name in agro.__all__
        sig = inspect.signature(func)
        for p in params:
            assert p in sig.parameters, f"{name} lacks {p}"


def test_all_public_functions_keyword_only_and_documented():
    for name in agro.__all__:
        obj = getattr(agro, name)
        if not inspect.isfunction(obj):
            continue
        for p in inspect.signature(obj).parameters.values():
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}({p.name}) not keyword-only"
        doc = inspect.getdoc(obj) or ""
        assert ":returns:" in doc and "[" in doc, f"{name} docstring lacks units"


def test_modules_import_without_side_effects():
    # Importing must not print, touch files or start anything: run it in a fresh interpreter.
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", "import analytics.agronomy"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "" and out.stderr == ""
    for mod in ("atmosphere", "humidity", "radiation", "et0", "soil_water", "crop", "water_use"):
        importlib.import_module(f"analytics.agronomy.{mod}")
