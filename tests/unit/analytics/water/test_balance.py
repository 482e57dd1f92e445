"""Root-zone balance (hand-worked), probe nudging, flow-counter differencing, store path."""

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from analytics.water import (
    DailyWeather,
    FieldSpec,
    FlowMeterSpec,
    ProbeSpec,
    assimilate_depletion_mm,
    counter_increments_m3,
    crop_params,
    daily_counter_volume_m3,
    field_water_balance,
    irrigation_depth_mm,
    observed_depletion_mm,
    root_zone_balance,
    root_zone_theta,
)
from tests.unit.analytics.water._support import at, write_series

# Loess silt loam θFC 0.28, θWP 0.12, constant Zr = 0.5 m, p = 0.5:
# TAW = 1000 · (0.28 − 0.12) · 0.5 = 80 mm (FAO-56 Eq. 82); RAW = 0.5 · 80 = 40 mm (Eq. 83).
SOIL: dict[str, Any] = {"theta_fc": 0.28, "theta_wp": 0.12, "p": 0.5}


def test_hand_worked_five_days():
    # Dr,0 = 30 mm.
    # Day 1: ET0 5, Kc 1.0, no rain. Dr,0 30 ≤ RAW 40 -> Ks 1; ETc 5.0;
    #        Dr = 30 + 5 = 35 mm; DP 0.
    # Day 2: ET0 6, Kc 1.0, rain 1.0 mm < 0.2·ET0 = 1.2 mm -> ignored (evaporates);
    #        Dr = 35 + 6 = 41 mm.
    # Day 3: ET0 5, Kc 1.0, irrigation 30 mm. Dr,2 = 41 > RAW -> Ks = (80 − 41)/(80 − 40)
    #        = 0.975 (Eq. 84); ETc,adj = 0.975 · 5 = 4.875 (Eq. 81);
    #        DP = max(30 − 4.875 − 41, 0) = 0; Dr = 41 − 30 + 4.875 = 15.875 mm (Eq. 85).
    # Day 4: ET0 4, Kc 1.0, rain 25 mm ≥ 0.8. Ks 1, ETc 4;
    #        DP = max(25 − 4 − 15.875, 0) = 5.125 mm (Eq. 88);
    #        Dr = 15.875 − 25 + 4 + 5.125 = 0 mm.
    # Day 5: ET0 5, Kc 1.1 -> ETc 5.5; Dr = 5.5 mm.
    b = root_zone_balance(
        et0_mm=[5.0, 6.0, 5.0, 4.0, 5.0],
        kc=[1.0, 1.0, 1.0, 1.0, 1.1],
        rain_mm=[0.0, 1.0, np.nan, 25.0, 0.0],  # NaN = no report -> 0
        irrigation_mm=[0.0, 0.0, 30.0, 0.0, 0.0],
        zr_m=0.5,
        initial_depletion_mm=30.0,
        **SOIL,
    )
    assert b.taw_mm == pytest.approx([80.0] * 5)
    assert b.raw_mm == pytest.approx([40.0] * 5)
    assert b.ks == pytest.approx([1.0, 1.0, 0.975, 1.0, 1.0])
    assert b.etc_mm == pytest.approx([5.0, 6.0, 5.0, 4.0, 5.5])
    assert b.etc_adj_mm == pytest.approx([5.0, 6.0, 4.875, 4.0, 5.5])
    assert b.effective_rain_mm == pytest.approx([0.0, 0.0, 0.0, 25.0, 0.0])
    assert b.deep_percolation_mm == pytest.approx([0.0, 0.0, 0.0, 5.125, 0.0])
    assert b.depletion_mm == pytest.approx([35.0, 41.0, 15.875, 0.0, 5.5])
    assert b.depletion_model_mm == pytest.approx(b.depletion_mm)  # no probes
    assert np.isnan(b.observed_depletion_mm).all()


def test_growing_roots_raise_taw_and_keep_depletion():
    # Zr 0.2 -> 0.3 m: TAW 1000·0.16·Zr = 32 -> 48 mm; RAW (p 0.5) 16 -> 24 mm.
    # Day 1: Dr,0 20 > RAW 16 -> Ks = (32 − 20)/(32 − 16) = 0.75; ETc,adj 0.75·4 = 3;
    #        Dr = 23. Day 2: Dr 23 ≤ RAW 24 -> Ks 1; Dr = 23 + 4 = 27 mm.
    b = root_zone_balance(et0_mm=[4.0, 4.0], kc=1.0, rain_mm=0.0, irrigation_mm=0.0,
                          zr_m=[0.2, 0.3], initial_depletion_mm=20.0, **SOIL)
    assert b.taw_mm == pytest.approx([32.0, 48.0])
    assert b.ks == pytest.approx([0.75, 1.0])
    assert b.depletion_mm == pytest.approx([23.0, 27.0])


def test_probe_correction_gain():
    # θobs 0.20 at Zr 0.5 m: Dr,obs = 1000·(0.28 − 0.20)·0.5 = 40 mm (FAO-56 Eq. 87 form).
    assert observed_depletion_mm(theta=0.20, theta_fc=0.28, zr_m=0.5, taw_mm=80.0) == \
        pytest.approx(40.0)
    # Wetter than FC -> 0; drier than WP -> TAW.
    assert observed_depletion_mm(theta=[0.30, 0.05], theta_fc=0.28, zr_m=0.5, taw_mm=80.0) \
        == pytest.approx([0.0, 80.0])
    # Model 20, obs 40: k = 1 replaces (40), k = 0.5 halves the gap (30), k = 0 keeps 20.
    for k, want in ((1.0, 40.0), (0.5, 30.0), (0.0, 20.0)):
        got = assimilate_depletion_mm(dr_model_mm=20.0, dr_obs_mm=40.0, gain=k, taw_mm=80.0)
        assert got == pytest.approx(want)
    assert assimilate_depletion_mm(dr_model_mm=20.0, dr_obs_mm=np.nan, gain=1.0,
                                   taw_mm=80.0) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        assimilate_depletion_mm(dr_model_mm=1.0, dr_obs_mm=2.0, gain=1.5, taw_mm=80.0)


def test_probe_correction_inside_the_balance():
    # Dr,0 10; ET0 5, Kc 1 each day; probe θ 0.20 on day 1 only (Dr,obs 40 mm).
    # k = 1:   day 1 model 15 -> 40; day 2: 40 + 5 = 45 (Ks 1? 40 ≤ RAW 40 -> 1).
    # k = 0.5: day 1 model 15 -> 15 + 0.5·(40 − 15) = 27.5; day 2: 32.5.
    common: dict[str, Any] = {"et0_mm": [5.0, 5.0], "kc": 1.0, "rain_mm": 0.0, "irrigation_mm": 0.0,
              "zr_m": 0.5, "initial_depletion_mm": 10.0,
              "observed_theta": [0.20, np.nan], **SOIL}
    replace = root_zone_balance(gain=1.0, **common)
    assert replace.depletion_model_mm == pytest.approx([15.0, 45.0])
    assert replace.observed_depletion_mm[0] == pytest.approx(40.0)
    assert replace.depletion_mm == pytest.approx([40.0, 45.0])
    half = root_zone_balance(gain=0.5, **common)
    assert half.depletion_mm == pytest.approx([27.5, 32.5])


def test_root_zone_theta_uses_probes_within_roots():
    # Probes at 10, 30, 60 cm; Zr 0.4 m on day 1 (10 and 30 cm count), 0.6 m on day 2
    # (all three; the 30 cm one has no data that day), 0.05 m on day 3 (none).
    theta = [[0.20, 0.22, 0.25], [0.24, np.nan, 0.10], [0.30, 0.30, 0.30]]
    got = root_zone_theta(theta_by_probe=theta, depth_cm=[10, 30, 60], zr_m=[0.4, 0.6, 0.05])
    assert got[:2] == pytest.approx([(0.20 + 0.24) / 2, (0.22 + 0.30) / 2])
    assert np.isnan(got[2])


def test_counter_differencing_with_reset_and_rollover():
    # 100 -> 110 (+10) -> 125 (+15) -> 5 (backwards: reset, count from 5, +0)
    # -> 20 (+15) -> 20 (+0): total 40 m³, never negative.
    inc = counter_increments_m3(values_m3=[100, 110, 125, 5, 20, 20])
    assert inc == pytest.approx([0, 10, 15, 0, 15, 0])
    # A 5-digit register wrapping at 100 000 m³: 99 990 -> 99 998 (+8) -> 3 (wrap: +5).
    wrap = counter_increments_m3(values_m3=[99_990, 99_998, 3], rollover_m3=100_000)
    assert wrap == pytest.approx([0, 8, 5])
    # A small backwards step on a wrapping meter is still a reset, not a wrap.
    assert counter_increments_m3(values_m3=[500, 400], rollover_m3=100_000) == \
        pytest.approx([0, 0])


def test_daily_volume_spreads_gaps_over_days():
    d0 = date(2024, 7, 1)
    # 0 m³ at 12:00 on day 0, 48 m³ at 12:00 on day 2 (meter silent for 48 h):
    # 12 h of the gap on day 0 -> 12 m³, 24 h on day 1 -> 24 m³, 12 h on day 2 -> 12 m³.
    # Then a reset to 2 at 13:00 (+0) and 7 at 14:00 (+5) on day 2 -> 17 m³ on day 2.
    ts = [at(d0, 12), at(d0, 60), at(d0, 61), at(d0, 62)]
    vol = daily_counter_volume_m3(ts_ms=ts, values_m3=[0, 48, 2, 7], first_day=d0, n_days=4)
    assert vol == pytest.approx([12.0, 24.0, 17.0, 0.0])
    assert daily_counter_volume_m3(ts_ms=[at(d0, 1)], values_m3=[5.0], first_day=d0,
                                   n_days=2) == pytest.approx([0.0, 0.0])


def test_irrigation_depth_from_volume():
    # 200 m³ on 10 亩 (6 666.67 m²): 200 / 6 666.67 m = 0.03 m = 30 mm.
    assert irrigation_depth_mm(volume_m3=200.0, area_mu=10.0) == pytest.approx(30.0)


def test_field_balance_from_store(store):
    # Maize planted 2024-04-20; July 1-3 are days 72-74: mid-season, Kc 1.20,
    # Zr = Zr,max = 1.0 m (Table 22 shallow end) -> TAW = 160 mm, RAW = 0.55·160 = 88 mm.
    planted, d1 = date(2024, 4, 20), date(2024, 7, 1)
    days = [d1 + timedelta(days=i) for i in range(3)]
    field = FieldSpec(
        site_id="field-1", area_mu=10.0, crop=crop_params(crop="maize"), planting_date=planted,
        probes=(ProbeSpec("probe-30", 30.0), ProbeSpec("probe-150", 150.0)),
        meters=(FlowMeterSpec("fm-1", "field", "field-1", "well-1", "shuocheng"),),
    )
    # Field meter (10 亩 = 6 666.67 m², so 200 m³ = 30 mm, 100 m³ = 15 mm):
    # 1000 on June 30 12:00 and July 1 08:00 (no flow), 1200 at July 1 10:00 (+200, day 1);
    # reset to 50 on July 2 09:00 (+0), 150 at 11:00 (+100, day 2); 150 on July 3 12:00.
    write_series(store, "fm-1", "volume_m3", [
        (at(d1, -12), 1000.0), (at(d1, 8), 1000.0), (at(d1, 10), 1200.0),
        (at(d1, 33), 50.0), (at(d1, 35), 150.0), (at(d1, 60), 150.0)])
    # Probe at 30 cm (inside the 1 m root zone) on day 3: 20 % every hour -> θ 0.20,
    # Dr,obs = 1000·(0.28 − 0.20)·1.0 = 80 mm. The 150 cm probe is below the roots.
    write_series(store, "probe-30", "vwc_pct", [(at(d1, 48 + h), 20.0) for h in range(24)])
    write_series(store, "probe-150", "vwc_pct", [(at(d1, 48 + h), 5.0) for h in range(24)])
    weather = [
        DailyWeather(day=d, et0_mm=et0, method="missing" if et0 is None else "penman_monteith",
                     t_max_c=None,
                     t_min_c=None, rh_max_pct=None, rh_min_pct=None, wind_2m_m_s=None,
                     solar_mj_m2_day=None, rain_mm=rain)
        for d, et0, rain in zip(days, [5.0, None, 5.0], [None, 10.0, 0.5], strict=True)
    ]
    # Day 2's missing ET0 is interpolated: (5 + 5)/2 = 5 -> ETc = 1.2·5 = 6 mm every day.
    # Day 1: Dr,0 50 -> 50 − 30 + 6 = 26 mm.
    # Day 2: rain 10 mm ≥ 1 mm counts -> 26 − 10 − 15 + 6 = 7 mm.
    # Day 3: rain 0.5 mm < 0.2·5 mm ignored -> model 7 + 6 = 13 mm;
    #        probe nudge k 0.5 -> 13 + 0.5·(80 − 13) = 46.5 mm.
    fb = field_water_balance(store=store, field=field, weather=weather,
                             initial_depletion_mm=50.0)
    s = fb.series
    assert fb.days == tuple(days)
    assert fb.et0_methods == ("penman_monteith", "missing", "penman_monteith")
    assert fb.et0_mm == pytest.approx([5.0, 5.0, 5.0])
    assert fb.irrigation_m3 == pytest.approx([200.0, 100.0, 0.0])
    assert s.irrigation_mm == pytest.approx([30.0, 15.0, 0.0])
    assert s.kc == pytest.approx([1.2] * 3)
    assert s.taw_mm == pytest.approx([160.0] * 3)
    assert s.raw_mm == pytest.approx([88.0] * 3)
    assert s.effective_rain_mm == pytest.approx([0.0, 10.0, 0.0])
    assert s.depletion_model_mm == pytest.approx([26.0, 7.0, 13.0])
    assert s.observed_depletion_mm[2] == pytest.approx(80.0)
    assert s.depletion_mm == pytest.approx([26.0, 7.0, 46.5])


def test_field_balance_rejects_gaps_in_days(store):
    field = FieldSpec(site_id="f", area_mu=1.0, crop=crop_params(crop="maize"),
                      planting_date=date(2024, 4, 20))
    w = [DailyWeather(day=date(2024, 7, d), et0_mm=5.0, method="hargreaves", t_max_c=None,
                      t_min_c=None, rh_max_pct=None, rh_min_pct=None, wind_2m_m_s=None,
                      solar_mj_m2_day=None, rain_mm=None) for d in (1, 3)]
    with pytest.raises(ValueError, match="consecutive"):
        field_water_balance(store=store, field=field, weather=w)


def test_p_adjusted_for_etc_is_an_option_off_by_default():
    # FAO-56 Table 22 footnote: p = p_table + 0.04 (5 − ETc), 0.1 ≤ p ≤ 0.8. Kc 1, ET0 8 and
    # 2: ETc 8 -> p = 0.5 − 0.12 = 0.38, ETc 2 -> p = 0.62; TAW = 1000·0.16·1 = 160 mm.
    from analytics.water import BalanceSeries
    from analytics.water import root_zone_balance as rzb

    def run(adjust: bool) -> BalanceSeries:
        return rzb(et0_mm=[8.0, 2.0], kc=1.0, rain_mm=0.0, irrigation_mm=0.0, zr_m=1.0,
                   theta_fc=0.28, theta_wp=0.12, p=0.5, p_adjust_for_etc=adjust)

    plain = run(False)
    assert plain.p.tolist() == [0.5, 0.5] and plain.raw_mm.tolist() == pytest.approx([80, 80])
    adjusted = run(True)
    assert adjusted.p.tolist() == pytest.approx([0.38, 0.62])
    assert adjusted.raw_mm.tolist() == pytest.approx([60.8, 99.2])
