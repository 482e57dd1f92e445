"""Device models: determinism, catalogue ranges for every type, physically sensible behaviour."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from devices.catalogue import DEVICE_TYPES, QUANTITIES
from simulators import (
    MODEL_CLASSES,
    BarnClimateModel,
    DailyIrrigation,
    DeviceModel,
    FlowMeterModel,
    GreenhouseClimateModel,
    LivestockCollarModel,
    SoilMoistureModel,
    WeatherDriver,
    create_model,
)
from tests.unit.simulators._common import DAY, HOUR, cst_ms, local_hour

JULY = cst_ms(2025, 7, 1)
SEASON_STARTS = {
    "winter": cst_ms(2025, 1, 8),
    "spring": cst_ms(2025, 4, 10),
    "summer": JULY,
    "autumn": cst_ms(2025, 10, 12),
}
MODEL_TYPES = sorted(MODEL_CLASSES)

# options exercising the catalogue attributes of each type
OPTIONS: dict[str, dict[str, Any]] = {
    "soil_moisture": {"depth_cm": 10.0},
    "weather_station": {"wind_height_m": 2.0, "elevation_m": 1250.0},
    "livestock_collar": {"animal_id": "SZ-0001"},
    "flow_meter": {"role": "field", "schedule": (DailyIrrigation(6.0, 3.0, 20.0, every_days=2),)},
}


def _run(model: DeviceModel, start: int, days: float) -> list[dict[str, float]]:
    interval = DEVICE_TYPES[model.device_type].report_interval_s * 1000
    n = int(days * DAY / interval)
    return [model.next_readings(start + k * interval) for k in range(n + 1)]


def test_every_catalogue_type_has_a_model() -> None:
    assert set(MODEL_CLASSES) == set(DEVICE_TYPES) - {"gateway"}


@pytest.mark.parametrize("device_type", MODEL_TYPES)
def test_same_seed_identical_different_seed_differs(device_type: str) -> None:
    opts = OPTIONS.get(device_type, {})

    def readings(seed: int, driver_seed: int = 1) -> list[dict[str, float]]:
        model = create_model(device_type, seed, WeatherDriver(driver_seed), **opts)
        return _run(model, JULY, 2)

    assert readings(5) == readings(5)
    assert readings(5) != readings(6)
    if device_type != "flow_meter":  # the only model not driven by the weather
        assert readings(5) != readings(5, driver_seed=2)


@pytest.mark.parametrize("season", sorted(SEASON_STARTS))
@pytest.mark.parametrize("device_type", MODEL_TYPES)
def test_week_of_readings_within_catalogue_ranges(device_type: str, season: str) -> None:
    start = SEASON_STARTS[season]
    expected = set(DEVICE_TYPES[device_type].quantities)
    for seed in (1, 2):
        model = create_model(
            device_type, seed, WeatherDriver(seed + 10), **OPTIONS.get(device_type, {})
        )
        for readings in _run(model, start, 7):
            assert set(readings) == expected
            for name, value in readings.items():
                q = QUANTITIES[name]
                assert isinstance(value, float), (name, value)
                assert q.minimum <= value <= q.maximum, (name, value)


def test_time_must_not_go_backwards() -> None:
    model = SoilMoistureModel(1, WeatherDriver(1))
    model.next_readings(JULY)
    model.next_readings(JULY)  # same instant is fine
    with pytest.raises(ValueError, match="backwards"):
        model.next_readings(JULY - 1)


# ---------------------------------------------------------------------- soil


def _dry_hot_week(seed: int = 3) -> WeatherDriver:
    driver = WeatherDriver(seed)
    driver.add_dry_spell(JULY, JULY + 10 * DAY, heat_c=4.0)
    return driver


def test_soil_dries_over_rainless_hot_week_deeper_slower() -> None:
    driver = _dry_hot_week()
    probes = {
        d: SoilMoistureModel(d, driver, depth_cm=d, initial_vwc_pct=30.0) for d in (5, 20, 60)
    }
    first = {d: m.next_readings(JULY)["vwc_pct"] for d, m in probes.items()}
    for k in range(1, 7 * 96 + 1):
        for m in probes.values():
            last = m.next_readings(JULY + k * 900_000)
    loss = {d: first[d] - m.vwc_pct for d, m in probes.items()}
    assert loss[5] > loss[20] > loss[60] > 0.0
    assert loss[20] > 3.0
    assert all(m.vwc_pct >= m.wilting_point_pct for m in probes.values())
    assert last["vwc_pct"] >= probes[60].wilting_point_pct


def test_soil_dries_faster_when_hot() -> None:
    cool = WeatherDriver(3)
    hot = _dry_hot_week()
    a = SoilMoistureModel(1, cool, depth_cm=10, initial_vwc_pct=30.0)
    b = SoilMoistureModel(1, hot, depth_cm=10, initial_vwc_pct=30.0)
    cool.add_dry_spell(JULY, JULY + 10 * DAY, heat_c=-6.0)  # rainless but cool
    for k in range(7 * 96 + 1):
        a.next_readings(JULY + k * 900_000)
        b.next_readings(JULY + k * 900_000)
    assert b.vwc_pct < a.vwc_pct - 1.0


def test_soil_rises_after_irrigation_shallow_first_deep_later_and_damped() -> None:
    driver = _dry_hot_week()
    shallow = SoilMoistureModel(1, driver, depth_cm=10, initial_vwc_pct=20.0)
    deep = SoilMoistureModel(2, driver, depth_cm=30, initial_vwc_pct=20.0)
    t = JULY
    for m in (shallow, deep):
        m.next_readings(t)
    before = (shallow.vwc_pct, deep.vwc_pct)
    shallow.irrigate(60.0)
    deep.irrigate(60.0)
    history: list[tuple[float, float]] = []
    for k in range(1, 4 * 24 + 1):  # 24 h at 15 min
        for m in (shallow, deep):
            m.next_readings(t + k * 900_000)
        history.append((shallow.vwc_pct, deep.vwc_pct))
    peak_shallow = max(h[0] for h in history)
    peak_deep = max(h[1] for h in history)
    t_peak_shallow = [h[0] for h in history].index(peak_shallow)
    t_peak_deep = [h[1] for h in history].index(peak_deep)
    assert peak_shallow > before[0] + 8.0
    assert peak_deep > before[1] + 1.0
    assert peak_deep - before[1] < peak_shallow - before[0]  # damped
    assert t_peak_deep > t_peak_shallow  # later
    assert peak_shallow <= shallow.saturation_pct


def test_soil_rises_after_rain() -> None:
    driver = _dry_hot_week()
    driver.add_rain(JULY + 2 * DAY, JULY + 2 * DAY + 3 * HOUR, 30.0)
    probe = SoilMoistureModel(1, driver, depth_cm=10, initial_vwc_pct=22.0)
    series = [probe.next_readings(JULY + k * 900_000)["vwc_pct"] for k in range(3 * 96)]
    before_rain = series[2 * 96 - 1]
    assert max(series[2 * 96 :]) > before_rain + 5.0


def test_soil_ec_rises_as_soil_dries_and_battery_cycles() -> None:
    probe = SoilMoistureModel(4, _dry_hot_week(), depth_cm=5, initial_vwc_pct=30.0)
    series = _run(probe, JULY, 7)
    assert statistics.mean(r["ec_ds_m"] for r in series[-96:]) > statistics.mean(
        r["ec_ds_m"] for r in series[:96]
    )
    volts = [r["battery_v"] for r in series]
    assert min(volts) > 3.2 and max(volts) < 4.3
    # solar charging by day: the voltage at 15h exceeds the one at 6h on most days
    rises = sum(
        series[d * 96 + 60]["battery_v"] > series[d * 96 + 24]["battery_v"] for d in range(7)
    )
    assert rises >= 5


def test_soil_temperature_damped_with_depth() -> None:
    driver = WeatherDriver(2)
    shallow = _run(SoilMoistureModel(1, driver, depth_cm=5), JULY, 5)
    deep = _run(SoilMoistureModel(1, driver, depth_cm=50), JULY, 5)

    def daily_range(series: list[dict[str, float]]) -> float:
        return statistics.mean(
            max(r["soil_temp_c"] for r in series[d * 96 : (d + 1) * 96])
            - min(r["soil_temp_c"] for r in series[d * 96 : (d + 1) * 96])
            for d in range(1, 5)
        )

    assert daily_range(shallow) > 3.0 * daily_range(deep)


# ---------------------------------------------------------------------- greenhouse


@pytest.mark.parametrize(
    ("start", "co2_excess"),
    [(SEASON_STARTS["winter"], 100.0), (SEASON_STARTS["spring"], 100.0), (JULY, 10.0)],
)
def test_greenhouse_day_warmer_than_night_and_capped(start: int, co2_excess: float) -> None:
    driver = WeatherDriver(8)
    gh = GreenhouseClimateModel(3, driver)
    series = _run(gh, start, 7)
    times = [start + k * 300_000 for k in range(len(series))]
    day = [r for r, t in zip(series, times, strict=True) if 11 <= local_hour(t) < 15]
    night = [r for r, t in zip(series, times, strict=True) if 1 <= local_hour(t) < 5]
    assert (
        statistics.mean(r["air_temp_c"] for r in day)
        > statistics.mean(r["air_temp_c"] for r in night) + 4
    )
    assert max(r["air_temp_c"] for r in series) < 35.0
    assert statistics.mean(r["rh_pct"] for r in night) > statistics.mean(r["rh_pct"] for r in day)
    assert statistics.mean(r["rh_pct"] for r in night) > 80.0
    # CO2 accumulates at night (little in summer, when vents stay cracked open)
    night_co2 = statistics.mean(r["co2_ppm"] for r in night)
    assert night_co2 > statistics.mean(r["co2_ppm"] for r in day) + co2_excess
    assert all(r["par_umol_m2_s"] == 0.0 for r in night)
    assert max(r["par_umol_m2_s"] for r in day) > 300.0
    outside = [driver.at(t).air_temp_c for t in times]
    assert statistics.mean(r["air_temp_c"] for r in series) > statistics.mean(outside)


def test_greenhouse_winter_night_co2_and_leaf_wetness() -> None:
    gh = GreenhouseClimateModel(2, WeatherDriver(4))
    start = SEASON_STARTS["winter"]
    series = _run(gh, start, 5)
    dawn = [r for k, r in enumerate(series) if local_hour(start + k * 300_000) == 7.0]
    assert all(550.0 < r["co2_ppm"] < 1100.0 for r in dawn)
    assert max(r["leaf_wetness_pct"] for r in series) > 50.0  # night condensation
    noon = [r for k, r in enumerate(series) if local_hour(start + k * 300_000) == 13.0]
    assert statistics.mean(r["co2_ppm"] for r in noon) < 450.0


# ---------------------------------------------------------------------- livestock


def test_collar_normal_ranges_and_daily_patterns() -> None:
    cow = LivestockCollarModel(7, WeatherDriver(1), animal_id="SZ-7")
    start = SEASON_STARTS["spring"]
    series = _run(cow, start, 7)
    temps = [r["body_temp_c"] for r in series]
    assert min(temps) > 38.0 and max(temps) < 39.3
    assert 38.3 < statistics.mean(temps) < 39.0
    rum = [r["rumination_min"] for r in series]
    assert all(380.0 < v < 600.0 for v in rum)
    # activity peaks around milking (06:00 +- 30 min) vs the small hours
    hours = [local_hour(start + k * 900_000) for k in range(len(series))]
    milking = [r["activity_index"] for r, h in zip(series, hours, strict=True) if 6.0 <= h <= 6.5]
    small_hours = [
        r["activity_index"] for r, h in zip(series, hours, strict=True) if 2.5 <= h <= 4.0
    ]
    assert statistics.mean(milking) > 3.0 * statistics.mean(small_hours)


def test_collar_fever_injection() -> None:
    driver = WeatherDriver(1)
    healthy = LivestockCollarModel(9, driver)
    sick = LivestockCollarModel(9, driver)
    start = SEASON_STARTS["spring"]
    for k in range(97):
        healthy.next_readings(start + k * 900_000)
        sick.next_readings(start + k * 900_000)
    sick.make_sick(peak_temp_c=40.5, onset_h=4.0, duration_h=72.0)
    h_series, s_series = [], []
    for k in range(97, 97 + 2 * 96):
        h_series.append(healthy.next_readings(start + k * 900_000))
        s_series.append(sick.next_readings(start + k * 900_000))
    after_onset = s_series[4 * 4 + 1 :]
    assert all(r["body_temp_c"] > 39.5 for r in after_onset)
    assert max(r["body_temp_c"] for r in s_series) <= 41.0
    assert all(r["body_temp_c"] < 39.5 for r in h_series)
    assert s_series[-1]["rumination_min"] < 0.6 * h_series[-1]["rumination_min"]
    assert statistics.mean(r["activity_index"] for r in s_series) < statistics.mean(
        r["activity_index"] for r in h_series
    )
    sick.recover()
    assert sick.fever_severity(start + 3 * DAY) == 0.0
    with pytest.raises(ValueError):
        sick.make_sick(peak_temp_c=42.0)


def test_barn_follows_weather_plus_animal_heat() -> None:
    driver = WeatherDriver(6)
    barn = BarnClimateModel(1, driver)
    winter = SEASON_STARTS["winter"]
    series = _run(barn, winter, 3)
    outside = [driver.at(winter + k * 300_000).air_temp_c for k in range(len(series))]
    assert statistics.mean(r["air_temp_c"] for r in series) > statistics.mean(outside) + 5.0
    assert statistics.mean(r["co2_ppm"] for r in series) > 1500.0
    summer = _run(BarnClimateModel(1, driver), JULY, 3)
    assert statistics.mean(r["co2_ppm"] for r in summer) < statistics.mean(
        r["co2_ppm"] for r in series
    )
    for r in series + summer:
        assert 3.0 < r["nh3_ppm"] < 30.0
        assert 500.0 < r["co2_ppm"] < 2800.0


# ---------------------------------------------------------------------- flow meter


def test_flow_meter_counter_monotonic_and_moves_only_while_irrigating() -> None:
    meter = FlowMeterModel(3, WeatherDriver(1), initial_volume_m3=1000.0, nominal_rate_m3_h=20.0)
    interval = 600_000
    readings = [meter.next_readings(JULY)]
    session = meter.start_irrigation(duration_s=2.5 * 3600, start_ms=JULY + 5 * HOUR)
    for k in range(1, 24 * 6 + 1):
        readings.append(meter.next_readings(JULY + k * interval))
    for k in range(1, len(readings)):
        t0, t1 = JULY + (k - 1) * interval, JULY + k * interval
        delta = readings[k]["volume_m3"] - readings[k - 1]["volume_m3"]
        overlaps = session.start_ms < t1 and session.end_ms > t0
        assert delta >= 0.0
        assert (delta > 0.0) == overlaps, k
        assert (readings[k]["flow_m3_h"] > 0.0) == session.active(t1)
    total = readings[-1]["volume_m3"] - readings[0]["volume_m3"]
    assert total == pytest.approx(2.5 * 20.0, rel=0.08)
    assert total == pytest.approx(session.rate_m3_h * 2.5, abs=0.002)


def test_flow_meter_schedule_and_default_start() -> None:
    schedule = (DailyIrrigation(start_hour=20.0, duration_h=2.0, rate_m3_h=30.0),)
    meter = FlowMeterModel(1, WeatherDriver(1), schedule=schedule, initial_volume_m3=0.0)
    day = cst_ms(2025, 6, 1)
    series = [meter.next_readings(day + k * 600_000) for k in range(6 * 24 * 2)]
    volumes = [r["volume_m3"] for r in series]
    assert volumes == sorted(volumes)
    assert volumes[-1] == pytest.approx(2 * 2 * 30.0, rel=0.05)
    flowing = [local_hour(day + k * 600_000) for k, r in enumerate(series) if r["flow_m3_h"] > 0]
    assert flowing and all(20.0 <= h < 22.0 for h in flowing)
    # out of season: nothing
    winter = FlowMeterModel(1, WeatherDriver(1), schedule=schedule, initial_volume_m3=5.0)
    w_series = _run(winter, SEASON_STARTS["winter"], 2)
    assert {r["volume_m3"] for r in w_series} == {5.0}
    # manual start defaults to the last reading's time; stop ends it
    meter.start_irrigation(duration_s=3600, rate_m3_h=10.0)
    t = day + 2 * DAY
    assert meter.is_irrigating(t)
    meter.next_readings(t)
    meter.stop_irrigation()
    assert not meter.is_irrigating(t + 1)


def test_flow_meter_schedule_skips_after_rain() -> None:
    driver = WeatherDriver(1)
    driver.add_dry_spell(JULY, JULY + 3 * DAY)
    driver.add_rain(JULY + DAY + 2 * HOUR, JULY + DAY + 4 * HOUR, 25.0)
    entry = DailyIrrigation(start_hour=8.0, duration_h=1.0, rate_m3_h=20.0, skip_after_rain_mm=10.0)
    meter = FlowMeterModel(1, driver, schedule=(entry,), initial_volume_m3=0.0)
    series = _run(meter, JULY, 3)
    irrigated_days = {
        int((JULY + k * 600_000 - JULY) // DAY) for k, r in enumerate(series) if r["flow_m3_h"]
    }
    assert irrigated_days == {0, 2}


def test_soil_reading_rate_is_high() -> None:
    driver = WeatherDriver(1)
    probes = [SoilMoistureModel(i, driver, depth_cm=20.0) for i in range(200)]
    n = 0
    began = time.perf_counter()
    for k in range(50):
        for p in probes:
            p.next_readings(JULY + k * 900_000)
            n += 1
    rate = n / (time.perf_counter() - began)
    assert rate > 5_000  # generous: ~60k/s on a laptop core
