"""Irrigation advice: the Dr ≥ RAW rule, the one-day look-ahead, volumes in m³ for 亩."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from analytics.water import (
    DailyWeather,
    FieldSpec,
    crop_params,
    field_irrigation_advice,
    field_water_balance,
    irrigation_advice,
)


def _advice(dr: float, etc: float = 5.1, area_mu: float = 10.0):
    # TAW 100 mm, p 0.55 -> RAW 55 mm.
    return irrigation_advice(site_id="field-1", day=date(2024, 7, 10), depletion_mm=dr,
                             taw_mm=100.0, raw_mm=55.0, p=0.55, etc_mm_day=etc,
                             area_mu=area_mu)


def test_irrigate_when_depletion_reaches_raw():
    a = _advice(62.0)
    assert a.irrigate
    assert a.net_depth_mm == pytest.approx(62.0)
    # 62 mm over 10 亩 = 0.062 m · 6 666.67 m² = 413.33 m³.
    assert a.volume_m3 == pytest.approx(413.333333, abs=1e-6)
    assert a.why.startswith(
        "Depletion 62 mm ≥ RAW 55 mm (p=0.55, TAW 100 mm); ETc 5.1 mm/day: irrigate 62 mm")
    assert "413.3 m³" in a.why
    assert a.why_zh.startswith("根区亏缺 62 mm ≥ 易利用水量 RAW 55 mm")
    assert "10 亩合 413.3 m³" in a.why_zh


def test_volume_for_ten_mu_and_thirty_mm():
    # 30 mm on 10 亩: 0.030 m · 10 · 666.67 m² = 200.0 m³ (Dr = 30 ≥ RAW 25 here).
    a = irrigation_advice(site_id="f", day=date(2024, 7, 10), depletion_mm=30.0, taw_mm=50.0,
                          raw_mm=25.0, p=0.5, etc_mm_day=4.0, area_mu=10.0)
    assert a.irrigate
    assert a.volume_m3 == pytest.approx(200.0, abs=1e-9)


def test_irrigate_when_raw_is_reached_by_tomorrow():
    # 51 + 5.1 = 56.1 ≥ 55: the crop would be stressed before the next advice.
    a = _advice(51.0)
    assert a.irrigate
    assert "by tomorrow" in a.why
    assert "明日" in a.why_zh


def test_no_irrigation_below_raw():
    # 30 mm < 55 mm; (55 − 30)/5.1 = 4.9 -> about 4 days to RAW.
    a = _advice(30.0)
    assert not a.irrigate
    assert a.net_depth_mm == pytest.approx(30.0)  # what a refill would take
    assert "no irrigation needed (about 4 days to RAW)" in a.why
    assert "今日无需灌水" in a.why_zh
    assert "no depletion expected" in _advice(10.0, etc=0.0).why


def _weather(days, et0=5.0):
    return [DailyWeather(day=d, et0_mm=et0, method="penman_monteith", t_max_c=None,
                         t_min_c=None, rh_max_pct=None, rh_min_pct=None, wind_2m_m_s=None,
                         solar_mj_m2_day=None, rain_mm=0.0) for d in days]


def test_field_advice_from_balance(store):
    # Maize planted April 20; July 1-3 mid-season: Kc 1.2, Zr 1.0 m, TAW 160, RAW 88 mm.
    # ET0 5 -> ETc 6 mm/day; Dr,0 70 -> 76, 82, 88 at the end of July 3.
    # July 4: Dr 88 ≥ RAW 88 -> irrigate 88 mm = 0.088 · 20 · 666.67 = 1 173.33 m³.
    field = FieldSpec(site_id="field-1", area_mu=20.0, crop=crop_params(crop="maize"),
                      planting_date=date(2024, 4, 20))
    days = [date(2024, 7, 1) + timedelta(days=i) for i in range(3)]
    balance = field_water_balance(store=store, field=field, weather=_weather(days),
                                  initial_depletion_mm=70.0)
    assert balance.series.depletion_mm == pytest.approx([76.0, 82.0, 88.0])
    a = field_irrigation_advice(field=field, balance=balance, today=date(2024, 7, 4))
    assert a.irrigate
    assert (a.taw_mm, a.raw_mm, a.etc_mm_day) == pytest.approx((160.0, 88.0, 6.0))
    assert a.volume_m3 == pytest.approx(1173.333333, abs=1e-6)
    with pytest.raises(ValueError, match="must end on"):
        field_irrigation_advice(field=field, balance=balance, today=date(2024, 7, 6))


def test_no_advice_outside_the_season(store):
    # Potato season: 130 days from planting; October 1 is day 139.
    field = FieldSpec(site_id="f", area_mu=5.0, crop=crop_params(crop="potato"),
                      planting_date=date(2024, 5, 15))
    days = [date(2024, 9, 29), date(2024, 9, 30)]
    balance = field_water_balance(store=store, field=field, weather=_weather(days),
                                  initial_depletion_mm=60.0)
    a = field_irrigation_advice(field=field, balance=balance, today=date(2024, 10, 1))
    assert not a.irrigate
    assert a.why.startswith("Outside the growing season (2024-05-15 to 2024-09-22)")
    # Same state inside the season would irrigate: Zr,max 0.4 m -> TAW 64 mm,
    # RAW 0.35·64 = 22.4 mm, and Dr stays above 60 mm (Ks < 0.1 under that stress).
    inside = replace(field, planting_date=date(2024, 6, 1))
    balance = field_water_balance(store=store, field=inside, weather=_weather(days),
                                  initial_depletion_mm=60.0)
    assert field_irrigation_advice(field=inside, balance=balance, today=date(2024, 10, 1)).irrigate
    assert (balance.series.depletion_mm > 60.0).all()
    assert (balance.series.taw_mm == pytest.approx(64.0))
