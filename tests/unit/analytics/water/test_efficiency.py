"""Season water productivity and the irrigation water effective-use coefficient."""

from datetime import date, timedelta

import pytest

from analytics.water import (
    DailyWeather,
    FieldSpec,
    FlowMeterSpec,
    MeterTotal,
    crop_params,
    field_water_balance,
    irrigation_coefficients,
    meter_totals,
    monthly_effective_rain_mm,
    season_water_use_efficiency,
    water_use_efficiency,
)
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


def test_irrigation_coefficient_per_source_and_county():
    totals = [
        # well-A (Shuocheng): withdrawn 1 000 m³, delivered 300 + 350 = 650 -> η 0.65.
        MeterTotal(_meter("src-a", "source", "well-A", "shuocheng"), 1000.0),
        MeterTotal(_meter("f-1", "field", "well-A", "shuocheng"), 300.0),
        MeterTotal(_meter("f-2", "field", "well-A", "shuocheng"), 350.0),
        # well-B (Shuocheng): withdrawn 500, delivered 400 -> η 0.8.
        MeterTotal(_meter("src-b", "source", "well-B", "shuocheng"), 500.0),
        MeterTotal(_meter("f-3", "field", "well-B", "shuocheng"), 400.0),
        # well-C (Youyu): delivered 250 > withdrawn 200: inconsistent, no η.
        MeterTotal(_meter("src-c", "source", "well-C", "youyu"), 200.0),
        MeterTotal(_meter("f-4", "field", "well-C", "youyu"), 250.0),
        # A field meter naming no source.
        MeterTotal(_meter("f-5", "field", None, "youyu"), 80.0),
    ]
    report = irrigation_coefficients(totals=totals)
    a, b, c = (report.by_source[k] for k in ("well-A", "well-B", "well-C"))
    assert (a.net_field_m3, a.gross_withdrawn_m3, a.coefficient) == pytest.approx(
        (650.0, 1000.0, 0.65))
    assert a.field_meters == ("f-1", "f-2") and a.source_meters == ("src-a",)
    assert b.coefficient == pytest.approx(0.8)
    assert c.coefficient is None and "exceeds" in (c.issue or "")
    # Shuocheng pools well-A and well-B: (650 + 400)/(1 000 + 500) = 1 050/1 500 = 0.7.
    sc = report.by_county["shuocheng"]
    assert (sc.net_field_m3, sc.gross_withdrawn_m3, sc.coefficient) == pytest.approx(
        (1050.0, 1500.0, 0.7))
    assert sc.issue is None
    yy = report.by_county["youyu"]
    assert yy.coefficient is None and "well-C" in (yy.issue or "")
    assert report.unassigned_field_m3 == 80.0
    assert report.unassigned_field_meters == ("f-5",)


def test_meter_totals_from_store(store):
    # July 1-2: source meter 5 000 -> 5 600 (600 m³); field meter 20 -> 80, then a reset
    # to 0 and 420 (+60 + 0 + 420 = 480 m³). η = 480/600 = 0.8.
    d1 = date(2024, 7, 1)
    write_series(store, "src-1", "volume_m3", [(at(d1, 6), 5000.0), (at(d1, 30), 5600.0)])
    write_series(store, "fld-1", "volume_m3", [(at(d1, 7), 20.0), (at(d1, 9), 80.0),
                                               (at(d1, 31), 0.0), (at(d1, 40), 420.0)])
    meters = [_meter("src-1", "source", "well-1", "pinglu"),
              _meter("fld-1", "field", "well-1", "pinglu")]
    totals = meter_totals(store=store, meters=meters, first_day=d1, last_day=date(2024, 7, 2))
    assert [t.volume_m3 for t in totals] == pytest.approx([600.0, 480.0])
    report = irrigation_coefficients(totals=totals)
    assert report.by_source["well-1"].coefficient == pytest.approx(0.8)
    assert report.by_county["pinglu"].coefficient == pytest.approx(0.8)
