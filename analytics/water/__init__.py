"""Field water management: daily ET0, crop ET, root-zone balance, irrigation advice, WUE.

Pure numpy computations plus thin readers over a ``storage.telemetry.TelemetryStore``;
the science comes from :mod:`analytics.agronomy` (FAO-56, Allen et al., 1998). All days
are China Standard Time (UTC+8) days. Nothing runs at import time.

Modules: ``weather`` (daily station weather and ET0, derived ``et0_mm_day`` readings),
``crop`` (Kc, ETc, root depth), ``soil`` (θFC/θWP, FAO-56 Table 19), ``specs`` (station,
field, probe and meter descriptions from the registry), ``balance`` (flow-counter
differencing, probe nudging, FAO-56 Ch. 8 balance), ``advice`` (irrigate today?),
``efficiency`` (water productivity, per-meter volumes), ``headtail`` (灌溉水有效利用系数 by
the head–tail method, both factors).

Typical use (a daily job)::

    weather = station_daily_weather(store=store, station=station, first_day=d0, last_day=d1)
    store.write(et0_readings(weather=weather, station=station))
    balance = field_water_balance(store=store, field=field, weather=weather)
    advice = field_irrigation_advice(field=field, balance=balance, today=d1 + 1 day)
"""

from analytics.water._days import per_local_day
from analytics.water.advice import IrrigationAdvice, field_irrigation_advice, irrigation_advice
from analytics.water.balance import (
    BalanceSeries,
    FieldBalance,
    assimilate_depletion_mm,
    counter_increments_m3,
    daily_counter_volume_m3,
    field_water_balance,
    irrigation_depth_mm,
    observed_depletion_mm,
    root_zone_balance,
    root_zone_theta,
)
from analytics.water.crop import CROP_ALIASES, crop_et_mm, crop_params, kc_series, root_depth_m
from analytics.water.efficiency import (
    MeterTotal,
    WaterUseEfficiency,
    meter_totals,
    monthly_effective_rain_mm,
    season_water_use_efficiency,
    water_use_efficiency,
)
from analytics.water.soil import LOESS_SILT_LOAM, SOIL_TEXTURES, SoilProperties
from analytics.water.specs import M2_PER_MU, FieldSpec, FlowMeterSpec, ProbeSpec, StationSpec
from analytics.water.weather import (
    ET0_QUANTITY,
    DailyWeather,
    StationDays,
    daily_weather,
    et0_readings,
    read_station_days,
    solar_radiation_mj_m2_day,
    station_daily_weather,
)

__all__ = [
    "CROP_ALIASES",
    "ET0_QUANTITY",
    "LOESS_SILT_LOAM",
    "M2_PER_MU",
    "SOIL_TEXTURES",
    "BalanceSeries",
    "DailyWeather",
    "FieldBalance",
    "FieldSpec",
    "FlowMeterSpec",
    "IrrigationAdvice",
    "MeterTotal",
    "ProbeSpec",
    "SoilProperties",
    "StationDays",
    "StationSpec",
    "WaterUseEfficiency",
    "assimilate_depletion_mm",
    "counter_increments_m3",
    "crop_et_mm",
    "crop_params",
    "daily_counter_volume_m3",
    "daily_weather",
    "et0_readings",
    "field_irrigation_advice",
    "field_water_balance",
    "irrigation_advice",
    "irrigation_depth_mm",
    "kc_series",
    "meter_totals",
    "monthly_effective_rain_mm",
    "observed_depletion_mm",
    "per_local_day",
    "read_station_days",
    "root_depth_m",
    "root_zone_balance",
    "root_zone_theta",
    "season_water_use_efficiency",
    "solar_radiation_mj_m2_day",
    "station_daily_weather",
    "water_use_efficiency",
]
