"""Device-type catalogue: canonical quantities, units, valid ranges, report intervals.

The catalogue is static data: it changes with releases, not at run time. Valid ranges
are the physical/sensor limits beyond which a value is a fault, not an extreme.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measured quantity in its canonical unit, with the range a working sensor can report."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str


@dataclass(frozen=True, slots=True)
class DeviceType:
    """A kind of device: which quantities it reports and how often [s]."""

    name: str
    quantities: tuple[str, ...]
    report_interval_s: int
    description: str
    attributes: Mapping[str, str] = field(default_factory=dict)


def _q(name: str, unit: str, lo: float, hi: float, description: str) -> Quantity:
    return Quantity(name=name, unit=unit, minimum=lo, maximum=hi, description=description)


QUANTITIES: Mapping[str, Quantity] = MappingProxyType(
    {
        q.name: q
        for q in (
            _q("vwc_pct", "%", 0.0, 100.0, "volumetric soil water content"),
            _q("soil_temp_c", "°C", -40.0, 70.0, "soil temperature"),
            _q("ec_ds_m", "dS/m", 0.0, 50.0, "soil bulk electrical conductivity"),
            _q("battery_v", "V", 0.0, 15.0, "battery voltage"),
            _q("air_temp_c", "°C", -50.0, 60.0, "air temperature"),
            _q("rh_pct", "%", 0.0, 100.0, "relative humidity"),
            _q("co2_ppm", "ppm", 0.0, 10_000.0, "CO2 concentration"),
            _q("par_umol_m2_s", "µmol/m²/s", 0.0, 3_000.0, "photosynthetically active radiation"),
            _q("leaf_wetness_pct", "%", 0.0, 100.0, "leaf wetness"),
            _q("wind_speed_m_s", "m/s", 0.0, 75.0, "wind speed at sensor height"),
            _q("solar_rad_w_m2", "W/m²", 0.0, 1_500.0, "global solar radiation"),
            _q("rain_mm", "mm", 0.0, 500.0, "rain since the previous report"),
            _q("pressure_kpa", "kPa", 50.0, 110.0, "air pressure"),
            _q("body_temp_c", "°C", 30.0, 45.0, "animal body temperature"),
            _q("activity_index", "1", 0.0, 1_000.0, "collar activity index"),
            _q("rumination_min", "min", 0.0, 1_440.0, "rumination time in the last 24 h"),
            _q("nh3_ppm", "ppm", 0.0, 500.0, "ammonia concentration"),
            _q("volume_m3", "m³", 0.0, 1e12, "cumulative water volume (counter)"),
            _q("flow_m3_h", "m³/h", 0.0, 100_000.0, "water flow rate"),
        )
    }
)


DEVICE_TYPES: Mapping[str, DeviceType] = MappingProxyType(
    {
        t.name: t
        for t in (
            DeviceType(
                "soil_moisture",
                ("vwc_pct", "soil_temp_c", "ec_ds_m", "battery_v"),
                900,
                "soil-moisture (墒情) probe",
                {"depth_cm": "install depth [cm]"},
            ),
            DeviceType(
                "greenhouse_climate",
                ("air_temp_c", "rh_pct", "co2_ppm", "par_umol_m2_s", "leaf_wetness_pct", "battery_v"),
                300,
                "greenhouse climate node",
            ),
            DeviceType(
                "weather_station",
                ("air_temp_c", "rh_pct", "wind_speed_m_s", "solar_rad_w_m2", "rain_mm", "pressure_kpa"),
                600,
                "automatic weather station",
                {"wind_height_m": "anemometer height [m]", "elevation_m": "station elevation [m]"},
            ),
            DeviceType(
                "livestock_collar",
                ("body_temp_c", "activity_index", "rumination_min"),
                900,
                "livestock collar (individual vital signs)",
                {"animal_id": "ear tag of the animal wearing it"},
            ),
            DeviceType(
                "barn_climate",
                ("air_temp_c", "rh_pct", "nh3_ppm", "co2_ppm"),
                300,
                "barn environment sensor",
            ),
            DeviceType(
                "flow_meter",
                ("volume_m3", "flow_m3_h"),
                600,
                "irrigation flow meter",
                {"role": "source (withdrawal) or field (delivery)"},
            ),
            DeviceType("gateway", (), 300, "gateway forwarding records of child devices"),
        )
    }
)


# Unit conversions into canonical units: (quantity, given unit) -> converter.
UnitConverter = Callable[[float], float]

UNIT_CONVERSIONS: Mapping[tuple[str, str], UnitConverter] = MappingProxyType(
    {
        ("vwc_pct", "m3/m3"): lambda v: v * 100.0,
        ("vwc_pct", "%"): lambda v: v,
        ("rh_pct", "%"): lambda v: v,
        ("rh_pct", "1"): lambda v: v * 100.0,
        ("leaf_wetness_pct", "%"): lambda v: v,
        ("soil_temp_c", "°C"): lambda v: v,
        ("soil_temp_c", "C"): lambda v: v,
        ("soil_temp_c", "K"): lambda v: v - 273.15,
        ("soil_temp_c", "F"): lambda v: (v - 32.0) * 5.0 / 9.0,
        ("air_temp_c", "°C"): lambda v: v,
        ("air_temp_c", "C"): lambda v: v,
        ("air_temp_c", "K"): lambda v: v - 273.15,
        ("air_temp_c", "F"): lambda v: (v - 32.0) * 5.0 / 9.0,
        ("body_temp_c", "°C"): lambda v: v,
        ("body_temp_c", "C"): lambda v: v,
        ("body_temp_c", "F"): lambda v: (v - 32.0) * 5.0 / 9.0,
        ("ec_ds_m", "dS/m"): lambda v: v,
        ("ec_ds_m", "mS/cm"): lambda v: v,
        ("ec_ds_m", "uS/cm"): lambda v: v / 1000.0,
        ("ec_ds_m", "µS/cm"): lambda v: v / 1000.0,
        ("battery_v", "V"): lambda v: v,
        ("battery_v", "mV"): lambda v: v / 1000.0,
        ("pressure_kpa", "kPa"): lambda v: v,
        ("pressure_kpa", "hPa"): lambda v: v / 10.0,
        ("pressure_kpa", "Pa"): lambda v: v / 1000.0,
        ("wind_speed_m_s", "m/s"): lambda v: v,
        ("wind_speed_m_s", "km/h"): lambda v: v / 3.6,
        ("solar_rad_w_m2", "W/m2"): lambda v: v,
        ("solar_rad_w_m2", "W/m²"): lambda v: v,
        ("rain_mm", "mm"): lambda v: v,
        ("rain_mm", "cm"): lambda v: v * 10.0,
        ("volume_m3", "m3"): lambda v: v,
        ("volume_m3", "m³"): lambda v: v,
        ("volume_m3", "L"): lambda v: v / 1000.0,
        ("flow_m3_h", "m3/h"): lambda v: v,
        ("flow_m3_h", "L/s"): lambda v: v * 3.6,
        ("flow_m3_h", "L/min"): lambda v: v * 0.06,
        ("co2_ppm", "ppm"): lambda v: v,
        ("nh3_ppm", "ppm"): lambda v: v,
        ("par_umol_m2_s", "umol/m2/s"): lambda v: v,
        ("par_umol_m2_s", "µmol/m²/s"): lambda v: v,
        ("rumination_min", "min"): lambda v: v,
        ("rumination_min", "h"): lambda v: v * 60.0,
        ("activity_index", "1"): lambda v: v,
    }
)


def device_type(name: str) -> DeviceType:
    """The catalogue entry for ``name``; raises ``KeyError`` for unknown types."""
    return DEVICE_TYPES[name]
