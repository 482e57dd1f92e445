"""Daily station weather and ET0 from 10-minute readings in a real SQLite store."""

from datetime import date

import numpy as np
import pytest

from analytics.agronomy import et0_daily_mm, et0_hargreaves_mm
from analytics.water import (
    ET0_QUANTITY,
    StationSpec,
    daily_weather,
    et0_readings,
    per_local_day,
    read_station_days,
    solar_radiation_mj_m2_day,
    station_daily_weather,
)
from storage.clock import cst_midnight_ms
from storage.telemetry import RangeQuery
from tests.unit.analytics.water._support import at, ten_minute_day, write_series

DAY = date(2024, 6, 15)  # day of year 167
DOY = 167
STATION = StationSpec(
    device_id="aws-1",
    lat_deg=39.33,  # Shuozhou
    elevation_m=1100.0,
    wind_height_m=10.0,
    site_id="wx-site",
    farm_id="farm-a",
    county="shuocheng",
)

# One CST day by construction (report k at 00:00 + 10·k min, 144 reports):
# air temperature 14.0 °C except 11.2 °C at 05:00 (k = 30) and 29.5 °C at 14:00 (k = 84)
#   -> Tmax 29.5, Tmin 11.2;
# RH 55 % except 88 % at 05:00 and 31 % at 14:00 -> RHmax 88, RHmin 31;
# wind 3.0 m/s at 10 m -> u2 = 3.0 · 4.87 / ln(67.8·10 − 5.42) = 3.0 · 4.87 / 6.51112
#   = 2.24385 m/s (FAO-56 Eq. 47);
# solar 600 W/m² from 08:00 to 17:50 (k = 48..107, 60 reports), 0 otherwise
#   -> mean 600·60/144 = 250 W/m² -> Rs = 250 · 0.0864 = 21.6 MJ/m²/day;
# rain 0.2 mm in 12 reports (k = 60..71) -> 2.4 mm.
TEMP = [29.5 if k == 84 else 11.2 if k == 30 else 14.0 for k in range(144)]
RH = [31.0 if k == 84 else 88.0 if k == 30 else 55.0 for k in range(144)]
WIND = [3.0] * 144
SOLAR = [600.0 if 48 <= k < 108 else 0.0 for k in range(144)]
RAIN = [0.2 if 60 <= k < 72 else 0.0 for k in range(144)]
U2 = 3.0 * 4.87 / np.log(67.8 * 10.0 - 5.42)


def _write_day(store, *, solar=True, rh=True, day=DAY):
    write_series(store, "aws-1", "air_temp_c", ten_minute_day(day, TEMP))
    write_series(store, "aws-1", "wind_speed_m_s", ten_minute_day(day, WIND))
    write_series(store, "aws-1", "rain_mm", ten_minute_day(day, RAIN))
    if rh:
        write_series(store, "aws-1", "rh_pct", ten_minute_day(day, RH))
    if solar:
        write_series(store, "aws-1", "solar_rad_w_m2", ten_minute_day(day, SOLAR))


def test_per_local_day_uses_cst_boundaries():
    # 23:59 CST on June 14 is 15:59 UTC June 14; 00:00 CST June 15 is 16:00 UTC June 14:
    # same UTC day, different CST days.
    ts = [at(DAY, -1 / 60), at(DAY, 0.0), at(DAY, 23.99), at(DAY, 24.0)]
    assert cst_midnight_ms(DAY) == 1_718_380_800_000  # 2024-06-14T16:00:00Z
    out = per_local_day(ts_ms=ts, values=[40.0, 1.0, 2.0, 50.0], first_day=DAY, n_days=1,
                        how="max")
    assert out.tolist() == [2.0]
    sums = per_local_day(ts_ms=ts, values=[1.0, 1.0, 2.0, 1.0], first_day=DAY, n_days=2,
                         how="sum")
    assert sums.tolist() == [3.0, 1.0]
    # A day without data is NaN, not 0.
    assert np.isnan(per_local_day(ts_ms=[], values=[], first_day=DAY, n_days=1, how="sum")[0])


def test_daily_aggregation_of_ten_minute_station_data(store):
    _write_day(store)
    # Neighbouring readings that must not leak into the day: 23:50 CST the day before
    # (same UTC day as the morning of DAY) and 00:00 CST the day after.
    write_series(store, "aws-1", "air_temp_c", [(at(DAY, -1 / 6), 40.0), (at(DAY, 24), -5.0)])
    write_series(store, "aws-1", "rain_mm", [(at(DAY, -1 / 6), 9.0)])

    sd = read_station_days(store=store, station_id="aws-1", first_day=DAY, last_day=DAY)
    assert sd.t_max_c[0] == pytest.approx(29.5)
    assert sd.t_min_c[0] == pytest.approx(11.2)
    assert sd.t_reports[0] == 144
    assert sd.rh_max_pct[0] == pytest.approx(88.0)
    assert sd.rh_min_pct[0] == pytest.approx(31.0)
    assert sd.wind_mean_m_s[0] == pytest.approx(3.0)
    assert sd.solar_mean_w_m2[0] == pytest.approx(250.0)
    assert sd.rain_mm[0] == pytest.approx(2.4)

    (w,) = daily_weather(station_days=sd, lat_deg=STATION.lat_deg,
                         elevation_m=STATION.elevation_m, wind_height_m=10.0)
    assert w.day == DAY
    assert w.method == "penman_monteith"
    assert (w.t_max_c, w.t_min_c, w.rh_max_pct, w.rh_min_pct) == pytest.approx(
        (29.5, 11.2, 88.0, 31.0))
    assert w.wind_2m_m_s == pytest.approx(2.24385, abs=1e-5)
    assert w.solar_mj_m2_day == pytest.approx(21.6)
    assert w.rain_mm == pytest.approx(2.4)
    expected = et0_daily_mm(t_max_c=29.5, t_min_c=11.2, rh_max_pct=88.0, rh_min_pct=31.0,
                            wind_2m_m_s=U2, solar_rad_mj_m2_day=21.6, lat_deg=39.33,
                            elevation_m=1100.0, day_of_year=DOY)
    assert w.et0_mm == pytest.approx(float(expected), rel=1e-12)
    assert w.et0_mm is not None
    assert 4.0 < w.et0_mm < 7.0  # plausible June ET0 on the Shanxi plateau


def test_solar_integration_units(store):
    # Constant 500 W/m² for 24 h: 500 J/s/m² · 86 400 s = 43.2 MJ/m².
    assert solar_radiation_mj_m2_day(mean_w_m2=500.0) == pytest.approx(43.2)
    write_series(store, "aws-1", "solar_rad_w_m2", ten_minute_day(DAY, [500.0] * 144))
    sd = read_station_days(store=store, station_id="aws-1", first_day=DAY, last_day=DAY)
    assert sd.solar_reports[0] == 144
    assert float(solar_radiation_mj_m2_day(mean_w_m2=sd.solar_mean_w_m2[0])) == \
        pytest.approx(43.2)


def test_hargreaves_when_radiation_missing(store):
    _write_day(store, solar=False)
    (w,) = station_daily_weather(store=store, station=STATION, first_day=DAY, last_day=DAY)
    assert w.method == "hargreaves"
    assert w.solar_mj_m2_day is None
    expected = et0_hargreaves_mm(t_max_c=29.5, t_min_c=11.2, lat_deg=39.33, day_of_year=DOY)
    assert w.et0_mm == pytest.approx(float(expected), rel=1e-12)


def test_hargreaves_when_radiation_coverage_below_80_percent(store):
    _write_day(store, solar=False)
    # 115 of 144 expected reports = 79.9 % < 80 %: radiation is not trusted.
    write_series(store, "aws-1", "solar_rad_w_m2", ten_minute_day(DAY, SOLAR)[:115])
    (w,) = station_daily_weather(store=store, station=STATION, first_day=DAY, last_day=DAY)
    assert w.method == "hargreaves"
    # 116 reports = 80.6 % is enough.
    write_series(store, "aws-1", "solar_rad_w_m2", ten_minute_day(DAY, SOLAR)[115:116])
    (w,) = station_daily_weather(store=store, station=STATION, first_day=DAY, last_day=DAY)
    assert w.method == "penman_monteith"


def test_hargreaves_when_humidity_missing(store):
    _write_day(store, rh=False)
    (w,) = station_daily_weather(store=store, station=STATION, first_day=DAY, last_day=DAY)
    assert w.method == "hargreaves"
    assert w.rh_max_pct is None


def test_missing_temperature_and_missing_wind(store):
    # Day 1 complete except wind -> Penman-Monteith with u2 = 2 m/s (FAO-56 Ch. 3).
    write_series(store, "aws-1", "air_temp_c", ten_minute_day(DAY, TEMP))
    write_series(store, "aws-1", "rh_pct", ten_minute_day(DAY, RH))
    write_series(store, "aws-1", "solar_rad_w_m2", ten_minute_day(DAY, SOLAR))
    w1, w2 = station_daily_weather(store=store, station=STATION, first_day=DAY,
                                   last_day=date(2024, 6, 16))
    assert w1.method == "penman_monteith"
    assert w1.wind_2m_m_s is None
    expected = et0_daily_mm(t_max_c=29.5, t_min_c=11.2, rh_max_pct=88.0, rh_min_pct=31.0,
                            wind_2m_m_s=2.0, solar_rad_mj_m2_day=21.6, lat_deg=39.33,
                            elevation_m=1100.0, day_of_year=DOY)
    assert w1.et0_mm == pytest.approx(float(expected), rel=1e-12)
    assert w1.rain_mm is None  # no rain reports at all: unknown, not 0
    # Day 2 has nothing -> missing.
    assert (w2.method, w2.et0_mm, w2.t_max_c) == ("missing", None, None)


def test_et0_readings_at_local_midnight(store):
    _write_day(store)
    _write_day(store, solar=False, day=date(2024, 6, 16))
    weather = station_daily_weather(store=store, station=STATION, first_day=DAY,
                                    last_day=date(2024, 6, 17))
    readings = et0_readings(weather=weather, station=STATION)
    assert len(readings) == 2  # June 17 has no data: no reading
    r = readings[0]
    assert (r.device_id, r.quantity, r.site_id, r.county) == (
        "aws-1", ET0_QUANTITY, "wx-site", "shuocheng")
    assert r.ts_ms == cst_midnight_ms(DAY) == at(DAY, 0)
    assert readings[1].ts_ms - r.ts_ms == 86_400_000
    store.write(readings)
    back = store.query(RangeQuery(quantity=ET0_QUANTITY, start_ms=r.ts_ms,
                                  end_ms=r.ts_ms + 2 * 86_400_000, device_id="aws-1"))
    assert [p.value for p in back] == pytest.approx([w.et0_mm for w in weather[:2]])
