"""Season water productivity, and the m³ through each flow meter that the head–tail η uses."""

from datetime import date, timedelta

import pytest

from analytics.water import (
    DailyWeather,
    FieldSpec,
    FlowMeterSpec,
    crop_params,
    field_water_balance,
    meter_totals,
    monthly_effective_rain_mm,
    season_water_use_efficiency,
    water_use_efficiency,
)
from analytics.water.headtail import SourceInput, head_tail
from tests.unit.analytics.water._nets import metered_field
from tests.unit.analytics.water._support import at, write_series


def test_water_productivity_figures():
    # Irrigated maize, 600 kg/亩 = 9 000 kg/ha. ETc 500 mm = 5 000 m³/ha ->
    # WP_ET = 9 000 / 5 000 = 1.8 kg/m³. Irrigation 150 + effective rain 250 = 400 mm
    # = 4 000 m³/ha -> WP_I+P = 9 000 / 4 000 = 2.25 kg/m³.
    w = water_use_efficiency(yield_kg_ha=9000.0, etc_mm=500.0, irrigation_mm=150.0,
                             effective_rain_mm=250.0)
    assert (w.etc_m3_ha, w.supplied_m3_ha) == pytest.approx((5000.0, 4000.0))
    assert w.wp_etc_kg_m3 == pytest.approx(1.8)
    assert w.wp_supplied_kg_m3 == pytest.approx(2.25)
    none = water_use_efficiency(yield_kg_ha=100.0, etc_mm=0.0, irrigation_mm=0.0,
                                effective_rain_mm=0.0)
    assert none.wp_etc_kg_m3 is None and none.wp_supplied_kg_m3 is None


def test_season_wue_from_balance(store):
    # Maize mid-season (Kc 1.2), two days of ET0 5: ETc,adj 6 + 6 = 12 mm (Dr,0 0 -> no
    # stress). Rain 20 mm on day 2 (effective: ≥ 0.2·5); irrigation 0.
    # WP_ET = 9 000 / (10·12) = 75 kg/m³; WP_I+P = 9 000 / (10·20) = 45 kg/m³
    # (tiny season, numbers only).
    field = FieldSpec(site_id="f", area_mu=1.0, crop=crop_params(crop="maize"),
                      planting_date=date(2024, 4, 20))
    days = [date(2024, 7, 1), date(2024, 7, 2)]
    weather = [DailyWeather(day=d, et0_mm=5.0, method="hargreaves", t_max_c=None,
                            t_min_c=None, rh_max_pct=None, rh_min_pct=None,
                            wind_2m_m_s=None, solar_mj_m2_day=None, rain_mm=r)
               for d, r in zip(days, [0.0, 20.0], strict=True)]
    balance = field_water_balance(store=store, field=field, weather=weather)
    w = season_water_use_efficiency(yield_kg_ha=9000.0, balance=balance)
    assert (w.etc_mm, w.irrigation_mm, w.effective_rain_mm) == pytest.approx((12.0, 0.0, 20.0))
    assert w.wp_etc_kg_m3 == pytest.approx(75.0)
    assert w.wp_supplied_kg_m3 == pytest.approx(45.0)


def test_monthly_effective_rain_usda_scs():
    # June 100 mm -> 100·(125 − 0.2·100)/125 = 84 mm; July 50 mm -> 50·(125 − 10)/125 = 46.
    days = [date(2024, 6, 29) + timedelta(days=i) for i in range(4)]  # Jun 29 .. Jul 2
    got = monthly_effective_rain_mm(days=days, rain_mm=[60.0, 40.0, 50.0, float("nan")])
    assert got == pytest.approx(130.0)


def _meter(mid, role, source, county):
    return FlowMeterSpec(device_id=mid, role=role, site_id=f"site-{mid}",
                         source_site_id=source, county=county)


def test_meter_totals_from_store(store):
    # July 1-2: source meter 5 000 -> 5 600 (600 m³); field meter 20 -> 80, then a reset
    # to 0 and 420 (+60 + 0 + 420 = 480 m³): 渠系 480/600 = 0.8. The field's balance kept
    # 432 m³ (48 percolated): 田间 0.9, η = 432/600 = 0.72 (the old field ÷ source said 0.8).
    d1 = date(2024, 7, 1)
    write_series(store, "src-1", "volume_m3", [(at(d1, 6), 5000.0), (at(d1, 30), 5600.0)])
    write_series(store, "fld-1", "volume_m3", [(at(d1, 7), 20.0), (at(d1, 9), 80.0),
                                               (at(d1, 31), 0.0), (at(d1, 40), 420.0)])
    meters = [_meter("src-1", "source", "well-1", "pinglu"),
              _meter("fld-1", "field", "well-1", "pinglu")]
    totals = meter_totals(store=store, meters=meters, first_day=d1, last_day=date(2024, 7, 2))
    assert [t.volume_m3 for t in totals] == pytest.approx([600.0, 480.0])
    volume = {t.meter.device_id: t.volume_m3 for t in totals}
    h = head_tail(SourceInput("well-1", {"src-1": volume["src-1"]}, [
        metered_field("site-fld-1", "fld-1", volume["fld-1"], 432.0)]))
    assert (h.conveyance, h.field, h.coefficient) == pytest.approx((0.8, 0.9, 0.72))
