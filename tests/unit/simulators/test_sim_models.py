"""Device families: determinism, catalogue ranges for every type, physically sensible behaviour,
for one device (N = 1) and several (N > 1)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from devices.catalogue import DEVICE_TYPES, QUANTITIES
from simulators.county_weather import CountyWeather
from simulators.models import FAMILY_CLASSES, Collars, FlowMeters, IrrigationPlan, SoilProbes
from simulators.weather_driver import WeatherDriver
from tests.unit.simulators._common import (
    DAY,
    HOUR,
    column,
    cst_ms,
    family,
    local_hour,
    plan,
    run,
)

JULY = cst_ms(2025, 7, 1)
SEASON_STARTS = {
    "winter": cst_ms(2025, 1, 8),
    "spring": cst_ms(2025, 4, 10),
    "summer": JULY,
    "autumn": cst_ms(2025, 10, 12),
}
FAMILY_TYPES = sorted(FAMILY_CLASSES)


def test_every_catalogue_type_has_a_family() -> None:
    assert set(FAMILY_CLASSES) == set(DEVICE_TYPES) - {"gateway"}


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("device_type", FAMILY_TYPES)
def test_same_seed_identical_different_seed_differs(device_type: str, n: int) -> None:
    def readings(seed: int, driver_seed: int = 1) -> np.ndarray:
        weather = WeatherDriver(driver_seed)
        irrigation = None
        if device_type == "flow_meter":  # scheduled July irrigation: the meters move
            irrigation = plan(1, weather=CountyWeather([weather]), seed=seed)
        fam = family(device_type, n, seed=seed, start_ms=JULY, weather=weather,
                     irrigation=irrigation)
        return run(fam, JULY, 4)

    np.testing.assert_array_equal(readings(5), readings(5))
    assert not np.array_equal(readings(5), readings(6))
    if device_type != "flow_meter":  # the only family not driven by the weather
        assert not np.array_equal(readings(5), readings(5, driver_seed=2))


@pytest.mark.parametrize("season", sorted(SEASON_STARTS))
@pytest.mark.parametrize("device_type", FAMILY_TYPES)
def test_week_of_readings_within_catalogue_ranges(device_type: str, season: str) -> None:
    start = SEASON_STARTS[season]
    for seed in (1, 2):
        fam = family(device_type, 2, seed=seed, start_ms=start, weather=WeatherDriver(seed + 10))
        values = run(fam, start, 7)
        assert np.isfinite(values).all()
        for j, name in enumerate(fam.quantities):
            q = QUANTITIES[name]
            assert (q.minimum <= values[:, :, j]).all() and (values[:, :, j] <= q.maximum).all()
        assert values.shape[2] == len(DEVICE_TYPES[device_type].quantities)


def test_time_must_move_forward() -> None:
    probes = family("soil_moisture", 2, start_ms=JULY)
    idx = np.arange(2)
    probes.step(idx, np.full(2, JULY, dtype=np.int64))
    with pytest.raises(ValueError, match="backwards"):
        probes.step(idx, np.full(2, JULY - 1, dtype=np.int64))


# ---------------------------------------------------------------------- soil


def _dry_hot_weeks(seed: int = 3, heat_c: float = 4.0) -> CountyWeather:
    weather = CountyWeather([WeatherDriver(seed)])
    weather.add_dry_spell(JULY, JULY + 10 * DAY, heat_c=heat_c)
    return weather


def _probes(depths: list[float], weather: CountyWeather, vwc_pct: float, *,
            field: list[int] | None = None, irrigation: IrrigationPlan | None = None
            ) -> SoilProbes:
    probes = family("soil_moisture", len(depths), start_ms=JULY, weather=weather,
                    irrigation=irrigation, depth_cm=depths,
                    field=[-1] * len(depths) if field is None else field)
    assert isinstance(probes, SoilProbes)
    probes.vwc_pct[:] = vwc_pct
    return probes


def test_soil_dries_over_rainless_hot_week_deeper_slower() -> None:
    probes = _probes([5.0, 20.0, 60.0], _dry_hot_weeks(), 30.0)
    values = run(probes, JULY, 7)
    loss = column(probes, values, "vwc_pct")[0] - probes.vwc_pct
    assert loss[0] > loss[1] > loss[2] > 0.0
    assert loss[1] > 3.0
    assert (probes.vwc_pct >= probes.wilting_point_pct).all()
    assert (column(probes, values, "vwc_pct")[-1] >= probes.wilting_point_pct - 1e-9).all()


def test_soil_dries_faster_when_hot() -> None:
    cool = _probes([10.0], _dry_hot_weeks(heat_c=-6.0), 30.0)  # rainless but cool
    hot = _probes([10.0], _dry_hot_weeks(), 30.0)
    run(cool, JULY, 7)
    run(hot, JULY, 7)
    assert hot.vwc_pct[0] < cool.vwc_pct[0] - 1.0


def test_soil_rises_after_irrigation_shallow_first_deep_later_and_damped() -> None:
    weather = _dry_hot_weeks()
    fields = plan(1, weather=weather, area_mu=1.0, months=())  # hand irrigation only
    probes = _probes([10.0, 30.0], weather, 20.0, field=[0, 0], irrigation=fields)
    idx = np.arange(2)
    probes.step(idx, np.full(2, JULY, dtype=np.int64))
    before = probes.vwc_pct.copy()
    # 60 mm over the 1 亩 field (666.67 m²) in one hour
    fields.start_irrigation(0, JULY, 3600, rate_m3_h=0.060 * 666.67)
    history = np.array([probes.vwc_pct.copy() for k in range(1, 4 * 24 + 1)
                        if probes.step(idx, np.full(2, JULY + k * 900_000,
                                                    dtype=np.int64)) is not None])
    peak = history.max(axis=0)
    t_peak = history.argmax(axis=0)
    assert peak[0] > before[0] + 8.0
    assert peak[1] > before[1] + 1.0
    assert peak[1] - before[1] < peak[0] - before[0]  # damped
    assert t_peak[1] > t_peak[0]  # later
    assert (peak <= probes.saturation_pct).all()
    np.testing.assert_allclose(probes.irrigated_mm, 60.0, rtol=1e-3)


def test_soil_rises_after_rain() -> None:
    weather = _dry_hot_weeks()
    weather.add_rain(JULY + 2 * DAY, JULY + 2 * DAY + 3 * HOUR, 30.0, county=0)
    probes = _probes([10.0], weather, 22.0)
    series = column(probes, run(probes, JULY, 3), "vwc_pct")[:, 0]
    before_rain = series[2 * 96 - 1]
    assert series[2 * 96:].max() > before_rain + 5.0


def test_soil_ec_rises_as_soil_dries_and_battery_cycles() -> None:
    probes = _probes([5.0, 5.0], _dry_hot_weeks(seed=4), 30.0)
    values = run(probes, JULY, 7)
    ec = column(probes, values, "ec_ds_m")
    assert (ec[-96:].mean(axis=0) > ec[:96].mean(axis=0)).all()
    volts = column(probes, values, "battery_v")
    assert volts.min() > 3.2 and volts.max() < 4.3
    # solar charging by day: the voltage at 15h exceeds the one at 6h on most days
    rises = sum((volts[d * 96 + 60] > volts[d * 96 + 24]).sum() for d in range(7))
    assert rises >= 5 * 2


def test_soil_temperature_damped_with_depth() -> None:
    probes = family("soil_moisture", 2, start_ms=JULY, weather=WeatherDriver(2),
                    depth_cm=[5.0, 50.0])
    temp = column(probes, run(probes, JULY, 5), "soil_temp_c")
    daily_range = np.mean([np.ptp(temp[d * 96:(d + 1) * 96], axis=0) for d in range(1, 5)],
                          axis=0)
    assert daily_range[0] > 3.0 * daily_range[1]


# ---------------------------------------------------------------------- greenhouse


@pytest.mark.parametrize(
    ("start", "co2_excess"),
    [(SEASON_STARTS["winter"], 100.0), (SEASON_STARTS["spring"], 100.0), (JULY, 10.0)],
)
def test_greenhouse_day_warmer_than_night_and_capped(start: int, co2_excess: float) -> None:
    driver = WeatherDriver(8)
    gh = family("greenhouse_climate", 2, seed=3, start_ms=start, weather=driver)
    values = run(gh, start, 7)
    hours = np.array([local_hour(start + k * 300_000) for k in range(len(values))])
    day = (hours >= 11) & (hours < 15)
    night = (hours >= 1) & (hours < 5)
    air, rh = column(gh, values, "air_temp_c"), column(gh, values, "rh_pct")
    co2, par = column(gh, values, "co2_ppm"), column(gh, values, "par_umol_m2_s")
    assert (air[day].mean(axis=0) > air[night].mean(axis=0) + 4).all()
    assert air.max() < 35.0
    assert (rh[night].mean(axis=0) > rh[day].mean(axis=0)).all()
    assert (rh[night].mean(axis=0) > 80.0).all()
    # CO2 accumulates at night (little in summer, when vents stay cracked open)
    assert (co2[night].mean(axis=0) > co2[day].mean(axis=0) + co2_excess).all()
    assert (par[night] == 0.0).all()
    assert (par[day].max(axis=0) > 300.0).all()
    outside = [driver.at(start + k * 300_000).air_temp_c for k in range(len(values))]
    assert (air.mean(axis=0) > np.mean(outside)).all()


def test_greenhouse_winter_night_co2_and_leaf_wetness() -> None:
    start = SEASON_STARTS["winter"]
    gh = family("greenhouse_climate", 1, seed=2, start_ms=start, weather=WeatherDriver(4))
    values = run(gh, start, 5)
    hours = np.array([local_hour(start + k * 300_000) for k in range(len(values))])
    co2 = column(gh, values, "co2_ppm")[:, 0]
    assert ((co2[hours == 7.0] > 550.0) & (co2[hours == 7.0] < 1100.0)).all()
    assert column(gh, values, "leaf_wetness_pct").max() > 50.0  # night condensation
    assert co2[hours == 13.0].mean() < 450.0


# ---------------------------------------------------------------------- livestock


def test_collar_normal_ranges_and_daily_patterns() -> None:
    start = SEASON_STARTS["spring"]
    cows = family("livestock_collar", 3, seed=7, start_ms=start, weather=WeatherDriver(1))
    values = run(cows, start, 7)
    temps = column(cows, values, "body_temp_c")
    assert temps.min() > 38.0 and temps.max() < 39.3
    assert 38.3 < temps.mean() < 39.0
    rum = column(cows, values, "rumination_min")
    assert ((rum > 380.0) & (rum < 600.0)).all()
    # activity peaks around milking (06:00 +- 30 min) vs the small hours
    hours = np.array([local_hour(start + k * 900_000) for k in range(len(values))])
    activity = column(cows, values, "activity_index")
    milking = activity[(hours >= 6.0) & (hours <= 6.5)].mean(axis=0)
    small_hours = activity[(hours >= 2.5) & (hours <= 4.0)].mean(axis=0)
    assert (milking > 3.0 * small_hours).all()


def test_collar_fever_episode() -> None:
    start = SEASON_STARTS["spring"]
    cows = family("livestock_collar", 2, seed=9, start_ms=start, weather=WeatherDriver(1))
    assert isinstance(cows, Collars)
    run(cows, start, 1)  # one healthy day (97 reports)
    sick = np.array([1])
    t0 = start + 97 * 900_000
    cows.start_fever(sick, t0 - 900_000, peak_c=40.5, onset_h=4.0, duration_h=72.0)
    values = run(cows, t0, 2)[:-1]  # the next 2 days
    temps = column(cows, values, "body_temp_c")
    after_onset = temps[4 * 4 + 1:, 1]
    assert (after_onset > 39.5).all()
    assert temps[:, 1].max() <= 41.0
    assert (temps[:, 0] < 39.5).all()
    rum = column(cows, values, "rumination_min")
    assert rum[-1, 1] < 0.6 * rum[-1, 0]
    activity = column(cows, values, "activity_index")
    assert activity[:, 1].mean() < activity[:, 0].mean()
    cows.recover(sick)
    assert cows.fever_severity(sick, np.array([start + 3 * DAY])).tolist() == [0.0]
    with pytest.raises(ValueError):
        cows.start_fever(sick, t0, peak_c=42.0)


def test_barn_follows_weather_plus_animal_heat() -> None:
    driver = WeatherDriver(6)
    winter = SEASON_STARTS["winter"]
    barn = family("barn_climate", 2, start_ms=winter, weather=driver)
    values = run(barn, winter, 3)
    outside = [driver.at(winter + k * 300_000).air_temp_c for k in range(len(values))]
    air, co2 = column(barn, values, "air_temp_c"), column(barn, values, "co2_ppm")
    assert (air.mean(axis=0) > np.mean(outside) + 5.0).all()
    assert (co2.mean(axis=0) > 1500.0).all()
    summer = family("barn_climate", 2, start_ms=JULY, weather=driver)
    summer_values = run(summer, JULY, 3)
    assert (column(summer, summer_values, "co2_ppm").mean(axis=0) < co2.mean(axis=0)).all()
    for fam, v in ((barn, values), (summer, summer_values)):
        nh3, c = column(fam, v, "nh3_ppm"), column(fam, v, "co2_ppm")
        assert ((nh3 > 3.0) & (nh3 < 30.0)).all()
        assert ((c > 500.0) & (c < 2800.0)).all()


# ---------------------------------------------------------------------- flow meter


def _meters(weather: CountyWeather, months: tuple[int, ...], n_fields: int = 1
            ) -> tuple[FlowMeters, IrrigationPlan]:
    fields = plan(n_fields, weather=weather, months=months)
    meters = family("flow_meter", n_fields, start_ms=JULY, weather=weather, irrigation=fields,
                    fields=[[f] for f in range(n_fields)])
    assert isinstance(meters, FlowMeters)
    return meters, fields


def test_flow_meter_counter_monotonic_and_moves_only_while_irrigating() -> None:
    weather = CountyWeather([WeatherDriver(1)])
    fields = plan(1, weather=weather, months=())
    meter = family("flow_meter", 1, seed=3, start_ms=JULY, weather=weather, irrigation=fields)
    session = fields.start_irrigation(0, JULY + 5 * HOUR, 2.5 * 3600, rate_m3_h=20.0)
    values = run(meter, JULY, 1)
    volume, flow = column(meter, values, "volume_m3")[:, 0], column(meter, values, "flow_m3_h")[:, 0]
    interval = meter.interval_ms
    for k in range(1, len(values)):
        t0, t1 = JULY + (k - 1) * interval, JULY + k * interval
        delta = volume[k] - volume[k - 1]
        overlaps = session.start_ms < t1 and session.end_ms > t0
        assert delta >= 0.0
        assert (delta > 0.0) == overlaps, k
        assert (flow[k] > 0.0) == session.active(t1)
    assert volume[-1] - volume[0] == pytest.approx(2.5 * 20.0, abs=0.002)


def test_flow_meter_schedule_and_hand_irrigation() -> None:
    weather = CountyWeather([WeatherDriver(1)])
    weather.add_dry_spell(JULY - DAY, JULY + 10 * DAY)
    meters, _ = _meters(weather, (7,), n_fields=4)
    fields = meters.irrigation
    values = run(meters, JULY, 8)
    volume, flow = column(meters, values, "volume_m3"), column(meters, values, "flow_m3_h")
    assert (np.diff(volume, axis=0) >= 0).all()
    hours = np.array([local_hour(JULY + k * meters.interval_ms) for k in range(len(values))])
    days = np.arange(len(values)) * meters.interval_ms // DAY
    for f in range(4):
        on = flow[:, f] > 0
        start_h, dur_h = fields.start_h[f], fields.duration_h[f]
        assert on.any()
        assert ((hours[on] >= start_h - 1e-9) & (hours[on] < start_h + dur_h)).all()
        irrigated = sorted(set(days[on].tolist()))
        assert all(b - a == fields.EVERY_DAYS for a, b in itertools.pairwise(irrigated))
        used = volume[-1, f] - volume[0, f]
        assert used == pytest.approx(len(irrigated) * fields.rate_m3_h[f] * dur_h, rel=0.02)
    # out of season: nothing
    winter_weather = CountyWeather([WeatherDriver(1)])
    winter, _ = _meters(winter_weather, (7,))
    w = column(winter, run(winter, JULY + 40 * DAY, 8), "volume_m3")
    assert len(set(w[:, 0].tolist())) == 1
    # a session by hand at night (no scheduled session), stopped after a minute
    t = JULY + 20 * DAY + 22 * HOUR
    f0 = np.array([0])
    fields.start_irrigation(0, t, 3600, rate_m3_h=10.0)
    assert fields.flow_m3_h(f0, np.array([t + 1]))[0] == pytest.approx(10.0)
    fields.stop_irrigation(0, t + 60_000)
    assert fields.flow_m3_h(f0, np.array([t + 120_000]))[0] == 0.0
    assert fields.delivered_m3(f0, np.array([t]), np.array([t + HOUR]))[0] == pytest.approx(
        10.0 / 60)


def test_flow_meter_schedule_skips_after_rain() -> None:
    def irrigated_days(rain_on: int | None) -> set[int]:
        weather = CountyWeather([WeatherDriver(1)])
        weather.add_dry_spell(JULY - DAY, JULY + 12 * DAY)
        if rain_on is not None:
            at = JULY + rain_on * DAY + 2 * HOUR
            weather.add_rain(at, at + 2 * HOUR, 25.0, county=0)
        meters, _ = _meters(weather, (7,))
        flow = column(meters, run(meters, JULY, 12), "flow_m3_h")[:, 0]
        days = np.arange(len(flow)) * meters.interval_ms // DAY
        return set(days[flow > 0].tolist())

    dry = irrigated_days(None)
    second = sorted(dry)[1]
    assert irrigated_days(second - 1) == dry - {second}


def test_soil_reading_rate_is_high() -> None:
    probes = family("soil_moisture", 200, start_ms=JULY, weather=WeatherDriver(1))
    began = time.perf_counter()
    values = run(probes, JULY, 49 * 900_000 / DAY)
    rate = values.shape[0] * values.shape[1] / (time.perf_counter() - began)
    assert rate > 5_000  # generous: vectorised, ~1M/s on a laptop core
