"""Vectorised city models: catalogue ranges, plausible physics, counter-based noise."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import orjson
import pytest

from devices.catalogue import DEVICE_TYPES, QUANTITIES
from simulators.city import CitySimulator
from simulators.city_fleet import city_layout
from simulators.models import Collars, Family, FlowMeters, SoilProbes
from simulators.noise import normals, record_keys, uniforms
from tests.unit.simulators._common import DAY, cst_ms, local_hour

SEASONS = {"winter": cst_ms(2025, 1, 10), "summer": cst_ms(2025, 7, 10)}
LAYOUT = city_layout(800, seed=7)
TYPE_OF = {did: name for name, fam in LAYOUT.families.items() for did in fam.ids}


def _records(sim: CitySimulator, until_ms: int, step_ms: int = 300_000) -> list[dict]:
    """Every record handed out until ``until_ms`` (then drained), with ``device_id`` set."""
    out = []
    msgs = []
    while sim.now_ms < until_ms:
        msgs += sim.advance(min(until_ms, sim.now_ms + step_ms))
    msgs += sim.drain()
    for m in msgs:
        doc = orjson.loads(m.payload)
        sender = m.topic.split("/")[2]
        for rec in doc.get("records", [doc]):
            rec.setdefault("device_id", sender)
            out.append(rec)
    return out


@pytest.fixture(scope="module", params=sorted(SEASONS))
def season_records(request) -> tuple[str, list[dict]]:
    start = SEASONS[request.param]
    sim = CitySimulator(LAYOUT, start_ms=start, seed=7)
    return request.param, _records(sim, start + DAY)


def test_every_reading_is_in_range_finite_and_complete(season_records) -> None:
    _, records = season_records
    assert records
    for rec in records:
        dtype = TYPE_OF[rec["device_id"]]
        readings = rec["readings"]
        assert set(readings) == set(DEVICE_TYPES[dtype].quantities)
        for q, v in readings.items():
            assert isinstance(v, float), (q, v)
            assert QUANTITIES[q].minimum <= v <= QUANTITIES[q].maximum, (rec["device_id"], q, v)


def _series(records: list[dict], dtype: str, quantity: str) -> dict[str, list[tuple[int, float]]]:
    from devices.contract import parse_ts_ms

    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for rec in records:
        if TYPE_OF[rec["device_id"]] == dtype:
            ts = parse_ts_ms(rec["ts"])
            assert ts is not None
            out[rec["device_id"]].append((ts, rec["readings"][quantity]))
    return out


def _by_hour(series: dict[str, list[tuple[int, float]]], hours: range) -> float:
    values = [v for s in series.values() for ts, v in s if int(local_hour(ts)) in hours]
    return float(np.mean(values))


def test_cows_are_healthy_dairy_cows(season_records) -> None:
    _, records = season_records
    temps = _series(records, "livestock_collar", "body_temp_c")
    all_t = [v for s in temps.values() for _, v in s]
    assert 38.3 < np.median(all_t) < 39.0
    assert np.mean(np.array(all_t) > 39.5) < 0.01  # fevers are rare
    # the daily cycle: warmer in the evening than in the morning
    assert _by_hour(temps, range(18, 21)) > _by_hour(temps, range(6, 9)) + 0.15
    rum = [v for s in _series(records, "livestock_collar", "rumination_min").values()
           for _, v in s]
    assert 430 < np.mean(rum) < 530
    act = _series(records, "livestock_collar", "activity_index")
    assert _by_hour(act, range(6, 8)) > 1.5 * _by_hour(act, range(2, 4))  # walk to milking


def test_weather_and_greenhouses_follow_the_sun(season_records) -> None:
    season, records = season_records
    air = _series(records, "weather_station", "air_temp_c")
    assert _by_hour(air, range(13, 17)) > _by_hour(air, range(3, 7)) + 5.0
    mean_air = _by_hour(air, range(24))
    assert (mean_air > 15.0) if season == "summer" else (mean_air < 0.0)
    gh = _series(records, "greenhouse_climate", "air_temp_c")
    assert _by_hour(gh, range(11, 15)) > _by_hour(gh, range(2, 6)) + 5.0
    if season == "winter":  # the solar greenhouse keeps well above the frosty outside
        assert _by_hour(gh, range(24)) > mean_air + 10.0
    par = _series(records, "greenhouse_climate", "par_umol_m2_s")
    assert _by_hour(par, range(0, 4)) == 0.0
    assert _by_hour(par, range(11, 14)) > 100.0
    barn = _series(records, "barn_climate", "air_temp_c")
    co2 = _series(records, "barn_climate", "co2_ppm")
    assert _by_hour(barn, range(24)) > mean_air  # animal heat
    assert _by_hour(co2, range(24)) > (1000.0 if season == "winter" else 430.0)


def _step_all(family: Family, t0: int, t1: int) -> list[np.ndarray]:
    """Step every device of ``family`` together at each interval in (t0, t1]."""
    idx = np.arange(family.n)
    return [family.step(idx, np.full(family.n, t, dtype=np.int64))
            for t in range(t0 + family.interval_ms, t1 + 1, family.interval_ms)]


def test_summer_soil_dries_and_irrigated_fields_get_their_metered_water() -> None:
    start = cst_ms(2025, 7, 1)
    sim = CitySimulator(LAYOUT, start_ms=start, seed=7)
    sim.weather.add_dry_spell(start - DAY, start + 12 * DAY)
    soil = sim.family("soil_moisture")
    meters = sim.family("flow_meter")
    assert isinstance(soil, SoilProbes) and isinstance(meters, FlowMeters)
    assert soil.irrigation is not None
    dry = (soil.field < 0) & (soil.depth_cm == 20)
    wet = soil.field >= 0
    assert dry.any() and wet.any()
    v0 = soil.vwc_pct.copy()
    vol0 = meters.volume_m3.copy()
    _step_all(soil, start, start + 6 * DAY)
    flows = np.array(_step_all(meters, start, start + 6 * DAY))
    assert np.all(soil.vwc_pct[dry] < v0[dry])  # rain-fed surface soil dries in a dry July
    assert np.median(v0[dry] - soil.vwc_pct[dry]) > 1.0
    # every irrigated probe was watered, none of the rain-fed ones
    assert np.all(soil.irrigated_mm[wet] > 0) and np.all(soil.irrigated_mm[~wet] == 0)
    used = meters.volume_m3 - vol0
    assert np.all(used > 0)  # every meter counted water in 6 days of July (every 4 days)
    assert (flows[:, :, 1] > 0).any(axis=0).all()  # and saw the flow while it ran
    assert (flows[:, :, 1] == 0).mean() > 0.8  # most of the time nothing flows
    # the water a field meter counted is what its probes received [mm over the field]
    field_meter = ~meters.source
    f = meters.fields[field_meter, 0]
    depth_mm = used[field_meter] / (soil.irrigation.area_mu[f] * 666.67) * 1000
    probe = {int(fld): mm for fld, mm in zip(soil.field[wet], soil.irrigated_mm[wet],
                                             strict=True)}
    np.testing.assert_allclose(depth_mm, [probe[int(x)] for x in f], rtol=0.02)
    # a well's source meter counts more than the fields it feeds receive (conveyance losses)
    field_used = {int(x): u for x, u in zip(f, used[field_meter], strict=True)}
    for i in np.flatnonzero(meters.source):
        fed_m3 = sum(field_used[int(x)] for x in meters.fields[i] if x >= 0)
        assert used[i] > fed_m3


def test_a_fever_raises_temperature_and_depresses_rumination() -> None:
    start = cst_ms(2025, 5, 1)
    sim = CitySimulator(LAYOUT, start_ms=start, seed=7)
    collars = sim.family("livestock_collar")
    assert isinstance(collars, Collars)
    _step_all(collars, start, start + DAY)
    sick = np.arange(10)
    rum_before = collars.rum24[sick].copy()
    collars.start_fever(sick, start + DAY, peak_c=40.5, onset_h=6.0, duration_h=72.0)
    values = np.array(_step_all(collars, start + DAY, start + 2 * DAY))
    assert (values[:, sick, 0].max(axis=0) > 40.0).all()  # body temperature [°C]
    assert (values[:, 10:, 0].max(axis=0) < 39.6).mean() > 0.95  # the others stay healthy
    assert np.all(collars.rum24[sick] < 0.8 * rum_before)
    assert np.all(values[-1, sick, 2] < 0.8 * rum_before)  # reported rumination [min]
    assert (collars.fever_severity(sick, np.full(10, start + 2 * DAY)) == 1.0).all()


def test_noise_is_a_function_of_device_and_report_only() -> None:
    dev = np.arange(1000, dtype=np.int64)
    k = np.full(1000, 1234, dtype=np.int64)
    keys = record_keys(99, dev, k)
    u = uniforms(keys, 0)
    assert np.all((u > 0) & (u < 1))
    assert abs(u.mean() - 0.5) < 0.03
    z = normals(keys, 3)
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1
    # the same (device, report) gives the same draws in any order or subset
    np.testing.assert_array_equal(normals(record_keys(99, dev[::-1], k), 3), z[::-1])
    np.testing.assert_array_equal(normals(record_keys(99, dev[5:7], k[5:7]), 3), z[5:7])
    assert not np.array_equal(normals(record_keys(99, dev, k + 1), 3), z)
    assert not np.array_equal(normals(record_keys(98, dev, k), 3), z)
