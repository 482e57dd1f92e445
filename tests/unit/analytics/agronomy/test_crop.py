"""Growing degree days and the FAO-56 single Kc curve (Allen et al., 1998, Eq. 66)."""

import dataclasses

import numpy as np
import pytest

from analytics.agronomy import (
    KC_TABLE,
    climate_adjusted_kc,
    crop_coefficient,
    growing_degree_days,
)


def test_gdd_method_1_averaging():
    # McMaster & Wilhelm (1997) method 1: max((Tmax + Tmin)/2 − Tbase, 0).
    # (30 + 14)/2 − 10 = 12; (12 + 2)/2 − 10 = −3 -> 0; (18 + 4)/2 − 10 = 1.
    gdd = growing_degree_days(t_max_c=[30.0, 12.0, 18.0], t_min_c=[14.0, 2.0, 4.0], base_c=10.0)
    assert gdd == pytest.approx([12.0, 0.0, 1.0], abs=1e-12)


def test_gdd_cap():
    # Method 1 with cap 30: Tmax 35 -> 30; (30 + 20)/2 − 10 = 15 (uncapped would be 17.5).
    assert growing_degree_days(
        t_max_c=35.0, t_min_c=20.0, base_c=10.0, cap_c=30.0
    ) == pytest.approx(15.0)
    # Both above the cap: (30 + 30)/2 − 10 = 20.
    assert growing_degree_days(
        t_max_c=38.0, t_min_c=31.0, base_c=10.0, cap_c=30.0
    ) == pytest.approx(20.0)
    # Method 1 does not raise Tmin to the base: (30 + 2)/2 − 10 = 6.
    assert growing_degree_days(t_max_c=30.0, t_min_c=2.0, base_c=10.0, cap_c=30.0) == 6.0


def test_gdd_method_2_clips_to_base_and_cap():
    # Method 2 (maize 10/30 rule): Tmin 2 -> 10; (30 + 10)/2 − 10 = 10 (method 1 gives 6).
    assert growing_degree_days(
        t_max_c=30.0, t_min_c=2.0, base_c=10.0, cap_c=30.0, method=2
    ) == pytest.approx(10.0)
    # Tmax 12, Tmin 2: method 2 -> (12 + 10)/2 − 10 = 1; method 1 -> 0.
    assert growing_degree_days(t_max_c=12.0, t_min_c=2.0, base_c=10.0, method=2) == 1.0
    assert growing_degree_days(t_max_c=12.0, t_min_c=2.0, base_c=10.0) == 0.0
    with pytest.raises(ValueError):
        growing_degree_days(t_max_c=1.0, t_min_c=0.0, base_c=0.0, method=3)  # type: ignore[arg-type]


def test_gdd_vectorised_and_season_sum():
    t_max = np.full((120, 2), 28.0)
    t_min = np.full((120, 2), 14.0)
    gdd = growing_degree_days(t_max_c=t_max, t_min_c=t_min, base_c=np.array([10.0, 0.0]))
    assert gdd.shape == (120, 2)
    assert gdd.sum(axis=0) == pytest.approx([120 * 11.0, 120 * 21.0])


MAIZE = KC_TABLE["maize_grain"]  # 0.30 / 1.20 / 0.60; 30/40/50/30 days


def test_kc_curve_stage_boundaries_maize():
    # Breakpoints: Lini = 30, +Ldev = 70, +Lmid = 120, +Llate = 150.
    days = [0, 15, 30, 50, 70, 95, 120, 135, 150, 200, -5]
    # Day 50: 0.30 + (50 − 30)/40·(1.20 − 0.30) = 0.75 (Eq. 66);
    # Day 135: 1.20 + (135 − 120)/30·(0.60 − 1.20) = 0.90.
    expected = [0.30, 0.30, 0.30, 0.75, 1.20, 1.20, 1.20, 0.90, 0.60, 0.60, 0.30]
    kc = crop_coefficient(
        day_after_planting=days,
        kc_ini=MAIZE.kc_ini,
        kc_mid=MAIZE.kc_mid,
        kc_end=MAIZE.kc_end,
        l_ini=MAIZE.l_ini,
        l_dev=MAIZE.l_dev,
        l_mid=MAIZE.l_mid,
        l_late=MAIZE.l_late,
    )
    assert kc == pytest.approx(expected, abs=1e-12)
    assert MAIZE.kc(day_after_planting=50) == pytest.approx(0.75)
    assert MAIZE.season_days == 150


def test_kc_curve_is_continuous_and_piecewise_linear():
    days = np.arange(0, 151, 0.5)
    kc = MAIZE.kc(day_after_planting=days)
    assert np.max(np.abs(np.diff(kc))) <= 0.9 / 40 * 0.5 + 1e-12  # steepest slope × step


def test_kc_curve_zero_length_stage_is_a_step():
    kc = crop_coefficient(
        day_after_planting=[9.0, 10.0, 10.5],
        kc_ini=0.4,
        kc_mid=1.0,
        kc_end=0.5,
        l_ini=10,
        l_dev=0,
        l_mid=20,
        l_late=10,
    )
    assert kc == pytest.approx([0.4, 0.4, 1.0])


def test_kc_table_contents():
    assert set(KC_TABLE) == {
        "maize_grain",
        "spring_wheat",
        "potato",
        "millet",
        "soybean",
        "tomato",
        "cucumber",
    }
    for crop in KC_TABLE.values():
        assert 0.1 <= crop.kc_ini <= crop.kc_mid <= 1.3
        assert 0.2 <= crop.kc_end <= crop.kc_mid
        assert 0.0 < crop.root_depth_m[0] < crop.root_depth_m[1] <= 2.0
        assert 0.3 <= crop.p <= 0.6
        assert crop.source
    # Spot checks of transcribed table rows.
    assert (KC_TABLE["potato"].kc_mid, KC_TABLE["potato"].p) == (1.15, 0.35)
    assert KC_TABLE["spring_wheat"].season_days == 135
    with pytest.raises(TypeError):
        KC_TABLE["x"] = MAIZE  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        MAIZE.kc_mid = 2.0  # type: ignore[misc]


def test_climate_adjusted_kc_eq_62():
    # Maize Kc_mid 1.20, h = 2 m, u2 = 3 m/s, RHmin = 30 %:
    # 1.20 + [0.04·1 − 0.004·(−15)]·(2/3)^0.3 = 1.20 + 0.10·0.885467 = 1.288547.
    kc = climate_adjusted_kc(kc_table=1.20, wind_2m_m_s=3.0, rh_min_pct=30.0, crop_height_m=2.0)
    assert kc == pytest.approx(1.288547, abs=1e-6)
    # Reference climate (u2 = 2, RHmin = 45) leaves Kc unchanged.
    assert climate_adjusted_kc(
        kc_table=1.15, wind_2m_m_s=2.0, rh_min_pct=45.0, crop_height_m=1.0
    ) == pytest.approx(1.15)
