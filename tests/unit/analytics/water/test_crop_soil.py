"""Kc curve and ETc per site crop, root depth growth, soil properties, registry specs."""

from datetime import date, timedelta

import numpy as np
import pytest

from analytics.agronomy import KC_TABLE
from analytics.water import (
    LOESS_SILT_LOAM,
    SOIL_TEXTURES,
    FieldSpec,
    FlowMeterSpec,
    StationSpec,
    crop_et_mm,
    crop_params,
    kc_series,
    root_depth_m,
)
from analytics.water.soil import soil_from_attributes
from devices.registry import Device, Farm, Site

PLANTED = date(2024, 4, 25)


def test_crop_aliases_resolve_to_kc_table():
    assert crop_params(crop="maize") is KC_TABLE["maize_grain"]
    assert crop_params(crop="玉米") is KC_TABLE["maize_grain"]
    assert crop_params(crop=" Millet ") is KC_TABLE["millet"]
    assert crop_params(crop="谷子") is KC_TABLE["millet"]
    assert crop_params(crop="potato") is KC_TABLE["potato"]
    with pytest.raises(KeyError, match="sorghum"):
        crop_params(crop="sorghum")


def test_kc_and_etc_maize():
    # Maize (grain): Kc 0.30/1.20/0.60, stages 30/40/50/30 days (FAO-56 Tables 11-12).
    days = [PLANTED + timedelta(days=i) for i in (0, 30, 50, 70, 100, 135, 150)]
    kc = kc_series(crop=crop_params(crop="maize"), planting_date=PLANTED, days=days)
    # day 0 and 30: Kc_ini; day 50: 0.30 + (20/40)·0.90 = 0.75; 70 and 100: Kc_mid;
    # day 135: 1.20 + (15/30)·(0.60 − 1.20) = 0.90; day 150: Kc_end.
    assert kc == pytest.approx([0.30, 0.30, 0.75, 1.20, 1.20, 0.90, 0.60])
    # ETc = Kc · ET0 (FAO-56 Eq. 56): 0.75 · 4.0 = 3.0; 1.20 · 6.0 = 7.2 mm/day.
    assert crop_et_mm(et0_mm=[4.0, 6.0], kc=kc[2:4]) == pytest.approx([3.0, 7.2])


def test_root_depth_grows_over_development_stage():
    # Zr,min 0.2 m until day 30 (end of L_ini), linear to Zr,max 1.0 m at day 70.
    zr = root_depth_m(day_after_planting=[-5, 0, 30, 50, 70, 120], l_ini=30, l_dev=40,
                      zr_min_m=0.2, zr_max_m=1.0)
    # day 50: 0.2 + 0.8 · (50 − 30)/40 = 0.6 m.
    assert zr == pytest.approx([0.2, 0.2, 0.2, 0.6, 1.0, 1.0])
    step = root_depth_m(day_after_planting=[10, 11], l_ini=10, l_dev=0, zr_min_m=0.3,
                        zr_max_m=0.9)
    assert step == pytest.approx([0.3, 0.9])


def test_soil_defaults_and_attributes():
    assert soil_from_attributes(attributes={}) is LOESS_SILT_LOAM
    assert (LOESS_SILT_LOAM.theta_fc, LOESS_SILT_LOAM.theta_wp) == (0.28, 0.12)
    sandy = soil_from_attributes(attributes={"soil_texture": "Sandy Loam"})
    assert sandy is SOIL_TEXTURES["sandy_loam"]
    # Table 19 sandy loam: θFC 0.18-0.28 -> 0.23, θWP 0.06-0.16 -> 0.11.
    assert (sandy.theta_fc, sandy.theta_wp) == pytest.approx((0.23, 0.11))
    own = soil_from_attributes(attributes={"theta_fc": 0.31, "theta_wp": 0.13})
    assert (own.theta_fc, own.theta_wp) == (0.31, 0.13)
    with pytest.raises(ValueError, match="unknown soil_texture"):
        soil_from_attributes(attributes={"soil_texture": "peat"})
    with pytest.raises(ValueError):
        soil_from_attributes(attributes={"theta_fc": 0.10, "theta_wp": 0.20})


def _registry_rows():
    farm = Farm(id="farm-a", name="示范农场", county_id="shuocheng")
    field = Site(id="field-1", farm_id="farm-a", kind="field", name="玉米地", area_mu=120.0,
                 crop="maize", planting_date=PLANTED, lat_deg=39.33, elevation_m=1080.0,
                 attributes={"soil_texture": "loam", "root_depth_max_m": 1.2})
    field.farm = farm
    well = Site(id="well-1", farm_id="farm-a", kind="water_source", name="机井", attributes={})
    well.farm = farm
    devices = [
        Device(id="probe-20", type="soil_moisture", site_id="field-1",
               attributes={"depth_cm": 20}),
        Device(id="fm-field", type="flow_meter", site_id="field-1",
               attributes={"role": "field", "source_site_id": "well-1"}),
        Device(id="aws-1", type="weather_station", site_id="field-1",
               attributes={"wind_height_m": 10}),
    ]
    for d in devices:
        d.site = field
    source = Device(id="fm-well", type="flow_meter", site_id="well-1",
                    attributes={"role": "source", "rollover_m3": 99_999})
    source.site = well
    return field, devices, source


def test_specs_from_registry_rows():
    field_site, devices, source = _registry_rows()
    field = FieldSpec.from_site(field_site)
    assert field.crop is KC_TABLE["maize_grain"]
    assert field.soil is SOIL_TEXTURES["loam"]
    assert field.root_depth_max_m == 1.2
    assert field.depletion_fraction == 0.55  # Table 22, maize
    assert field.area_m2 == pytest.approx(80_000.0)  # 120 亩 · 666.67 m²
    assert [p.device_id for p in field.probes] == ["probe-20"]
    assert [m.device_id for m in field.meters] == ["fm-field"]
    assert field.meters[0].source_site_id == "well-1"
    assert field.meters[0].county == "shuocheng"

    station = StationSpec.from_device(devices[2])
    assert (station.lat_deg, station.elevation_m, station.wind_height_m) == (39.33, 1080.0, 10.0)
    assert station.expected_reports_per_day == 144

    meter = FlowMeterSpec.from_device(source)
    assert (meter.role, meter.source_site_id, meter.rollover_m3) == ("source", "well-1", 99_999)


def test_field_spec_defaults_shallow_table_22_root_depth():
    field = FieldSpec(site_id="f", area_mu=10.0, crop=crop_params(crop="potato"),
                      planting_date=PLANTED)
    assert field.root_depth_max_m == 0.4  # potato Zr 0.4-0.6 m: shallow end
    assert field.depletion_fraction == 0.35
    assert np.isclose(field.area_m2, 10 * 10_000 / 15)
