"""WeatherDriver: determinism, daily cycle, seasons, rain, dry spells, pressure; the
weather-station family that reports it."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from simulators.noise import derive_seed
from simulators.weather_driver import SHUOZHOU_COUNTIES, WeatherDriver, wind_at_height
from tests.unit.simulators._common import DAY, HOUR, column, cst_ms, family, local_hour, run

JULY = cst_ms(2025, 7, 1)
JAN = cst_ms(2025, 1, 10)


def _states(driver: WeatherDriver, start: int, hours: int, step_min: int = 10) -> list:
    return [driver.at(start + k * step_min * 60_000) for k in range(hours * 60 // step_min)]


def test_same_seed_same_weather_any_query_order() -> None:
    times = [JULY + k * 600_000 for k in range(500)]
    a = WeatherDriver(7)
    b = WeatherDriver(7)
    forward = [a.at(t) for t in times]
    backward = [b.at(t) for t in reversed(times)][::-1]
    assert forward == backward
    assert a.rain_between(JULY, JULY + 30 * DAY) == b.rain_between(JULY, JULY + 30 * DAY)


def test_different_seed_different_weather() -> None:
    a = [WeatherDriver(1).at(JULY + k * HOUR).air_temp_c for k in range(48)]
    b = [WeatherDriver(2).at(JULY + k * HOUR).air_temp_c for k in range(48)]
    assert a != b


def test_daily_cycle_min_near_sunrise_max_in_afternoon() -> None:
    driver = WeatherDriver(11)
    days = 20
    profile = [0.0] * 24  # mean temperature by local clock hour
    for day in range(days):
        for hour in range(24):
            profile[hour] += driver.at(JULY + day * DAY + hour * HOUR).air_temp_c / days
    sunrise = driver.at(JULY).sunrise_h
    assert abs(profile.index(min(profile)) - sunrise) <= 1.5
    assert profile.index(max(profile)) in (13, 14, 15, 16)
    for day in range(days):
        start = JULY + day * DAY
        states = _states(driver, start, 24)
        warmest = max(states, key=lambda s: s.air_temp_c)
        assert 11.0 <= local_hour(warmest.ts_ms) <= 18.0
        # solar radiation only between sunrise and sunset, strong at noon
        for s in states:
            if not s.sunrise_h <= s.local_hour <= s.sunset_h:
                assert s.solar_rad_w_m2 == 0.0
        noon = driver.at(start + 13 * HOUR)
        assert noon.clear_sky_w_m2 > 850.0


def test_humidity_anticorrelated_with_temperature() -> None:
    states = _states(WeatherDriver(3), cst_ms(2025, 5, 1), 24 * 7)
    assert statistics.correlation([s.air_temp_c for s in states], [s.rh_pct for s in states]) < -0.5


def test_season_means_and_pressure_at_elevation() -> None:
    driver = WeatherDriver(5)
    jan = [s.air_temp_c for s in _states(driver, JAN, 24 * 20, 60)]
    jul = [s.air_temp_c for s in _states(driver, JULY, 24 * 20, 60)]
    assert -18.0 < statistics.mean(jan) < -4.0
    assert 15.0 < statistics.mean(jul) < 26.0
    pressures = [s.pressure_kpa for s in _states(driver, JULY, 24 * 30, 60)]
    assert min(pressures) > 86.5 and max(pressures) < 91.0
    assert 88.0 < statistics.mean(pressures) < 90.0


def test_annual_rain_is_semi_arid_and_summer_heavy() -> None:
    year = 365 * DAY
    start = cst_ms(2025, 1, 1)
    totals = [WeatherDriver(s).rain_between(start, start + year) for s in range(8)]
    assert 250.0 < statistics.mean(totals) < 600.0
    summer = [
        WeatherDriver(s).rain_between(cst_ms(2025, 6, 1), cst_ms(2025, 9, 1)) for s in range(8)
    ]
    assert statistics.mean(summer) > 0.5 * statistics.mean(totals)


def test_dry_spell_no_rain_hotter_drier() -> None:
    start, end = JULY, JULY + 14 * DAY
    for seed in range(6):
        normal = WeatherDriver(seed)
        dry = WeatherDriver(seed)
        dry.add_dry_spell(start, end, heat_c=5.0)
        assert dry.rain_between(start, end) == 0.0
        assert dry.is_dry(start + DAY)
        hot = [dry.at(start + k * HOUR) for k in range(14 * 24)]
        ref = [normal.at(start + k * HOUR) for k in range(14 * 24)]
        assert max(s.air_temp_c for s in hot) > max(s.air_temp_c for s in ref) + 2.0
        assert statistics.mean(s.rh_pct for s in hot) < statistics.mean(s.rh_pct for s in ref)
        assert sum(s.et0_mm_h for s in hot) > sum(s.et0_mm_h for s in ref)
    dry.clear_dry_spells()
    assert dry.dry_spells == ()


def test_forced_rain() -> None:
    driver = WeatherDriver(1)
    driver.add_dry_spell(JULY, JULY + 5 * DAY)
    driver.add_rain(JULY + DAY, JULY + DAY + 2 * HOUR, 24.0)
    assert driver.rain_between(JULY, JULY + 5 * DAY) == pytest.approx(24.0)
    assert driver.rain_rate(JULY + DAY + HOUR) == pytest.approx(12.0)
    assert driver.at(JULY + DAY + HOUR).rh_pct > 85.0


def test_counties_differ_by_elevation() -> None:
    youyu = WeatherDriver(4, SHUOZHOU_COUNTIES["Youyu"])
    yingxian = WeatherDriver(4, SHUOZHOU_COUNTIES["Yingxian"])
    assert youyu.at(JULY).pressure_kpa < yingxian.at(JULY).pressure_kpa


def test_weather_station_rain_and_wind_height() -> None:
    driver = WeatherDriver(9)
    driver.add_rain(JULY + 3 * HOUR, JULY + 5 * HOUR, 13.3)
    stations = family("weather_station", 2, start_ms=JULY + 600_000, weather=driver,
                      wind_height_m=[2.0, 10.0])
    values = run(stations, JULY + 600_000, 1)[:-1]  # the reports of one day
    rain = column(stations, values, "rain_mm").sum(axis=0)
    natural = driver.rain_between(JULY, JULY + 24 * HOUR) - 13.3
    np.testing.assert_allclose(rain, 13.3 + natural, atol=0.2 + 1e-9)
    wind = column(stations, values, "wind_speed_m_s")
    assert wind[:, 0].mean() < wind[:, 1].mean()
    assert wind_at_height(5.0, 10.0) == pytest.approx(5.0)


def test_weather_station_follows_the_drivers_daily_cycle() -> None:
    driver = WeatherDriver(3)
    stations = family("weather_station", 1, start_ms=JULY, weather=driver)
    values = run(stations, JULY, 3)
    air = column(stations, values, "air_temp_c")[:, 0]
    truth = np.array([driver.at(JULY + k * 600_000).air_temp_c for k in range(len(values))])
    assert np.abs(air - truth).max() < 1.5
    assert np.corrcoef(air, truth)[0, 1] > 0.98


def test_seed_derivation() -> None:
    assert derive_seed("city", "sm-1") == derive_seed("city", "sm-1")
    assert derive_seed("city", "sm-1") != derive_seed("city", "sm-2")
    assert 0 <= derive_seed(42, "shuocheng") < 2**63
