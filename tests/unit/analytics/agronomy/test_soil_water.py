"""Root-zone water balance (FAO-56 Chapter 8, Eqs. 82-88) and effective rainfall.

FAO-56 Chapter 8 ("ETc under soil water stress conditions") illustrates these equations
with worked examples (its February 2006 errata sheet re-issues Examples 35 and 38). Their
printed figures could not be checked offline when these tests were written, so the cases
below are worked by hand from the equations, with every step in the comments; the
expected values carry 6 significant decimals and are compared with abs = 1e-5.
"""

import numpy as np
import pytest

from analytics.agronomy import (
    adjusted_depletion_fraction,
    effective_rainfall_mm,
    readily_available_water_mm,
    root_zone_depletion_mm,
    total_available_water_mm,
    water_balance,
    water_stress_coefficient,
)

# Loam-like soil (FAO-56 Table 19 ranges: θFC 0.20-0.30, θWP 0.07-0.17) under maize:
# θFC = 0.30, θWP = 0.15, Zr = 1.0 m, p = 0.55 (Table 22, maize).
# TAW = 1000·(0.30 − 0.15)·1.0 = 150 mm (Eq. 82); RAW = 0.55·150 = 82.5 mm (Eq. 83).
TAW = 150.0
RAW = 82.5


def test_taw_raw_eq_82_83():
    taw = total_available_water_mm(theta_fc=0.30, theta_wp=0.15, root_depth_m=1.0)
    assert taw == pytest.approx(TAW, abs=1e-9)
    assert readily_available_water_mm(taw_mm=taw, p=0.55) == pytest.approx(RAW, abs=1e-9)
    # Sandy loam, shallow potato roots: 1000·(0.23 − 0.10)·0.5 = 65 mm; p 0.35 -> 22.75 mm.
    taw2 = total_available_water_mm(theta_fc=0.23, theta_wp=0.10, root_depth_m=0.5)
    assert taw2 == pytest.approx(65.0, abs=1e-9)
    assert readily_available_water_mm(taw_mm=taw2, p=0.35) == pytest.approx(22.75, abs=1e-9)


def test_depletion_fraction_adjustment_table_22_footnote():
    # p = p_table + 0.04·(5 − ETc), limited to [0.1, 0.8].
    p = adjusted_depletion_fraction(p_table=0.55, etc_mm_day=[7.0, 2.0, 5.0])
    assert p == pytest.approx([0.47, 0.67, 0.55], abs=1e-12)
    assert adjusted_depletion_fraction(p_table=0.8, etc_mm_day=1.0) == pytest.approx(0.8)
    assert adjusted_depletion_fraction(p_table=0.2, etc_mm_day=12.0) == pytest.approx(0.1)


def test_water_stress_coefficient_eq_84():
    # Dr ≤ RAW -> 1; Dr = 100 -> (150 − 100)/(150 − 82.5) = 50/67.5 = 0.740741; Dr = TAW -> 0.
    ks = water_stress_coefficient(dr_mm=[0.0, 82.5, 100.0, 150.0], taw_mm=TAW, raw_mm=RAW)
    assert ks == pytest.approx([1.0, 1.0, 0.740741, 0.0], abs=1e-6)


def test_single_step_eq_85_88():
    # Plain drying: 30 − 10 + 5 = 25 mm, no percolation.
    step = root_zone_depletion_mm(dr_prev_mm=30.0, precip_mm=10.0, etc_mm=5.0, taw_mm=TAW)
    assert step.depletion_mm == pytest.approx(25.0)
    assert step.deep_percolation_mm == pytest.approx(0.0)
    # Heavy rain: (P − RO) = 50 − 10 = 40; DP = 40 − 4 − 20 = 16 mm (Eq. 88); Dr -> 0.
    dr, dp = root_zone_depletion_mm(
        dr_prev_mm=20.0, precip_mm=50.0, runoff_mm=10.0, etc_mm=4.0, taw_mm=TAW
    )
    assert (dr, dp) == pytest.approx((0.0, 16.0))
    # Capillary rise reduces depletion: 10 − 2 + 3 = 11 mm.
    step = root_zone_depletion_mm(
        dr_prev_mm=10.0, precip_mm=0.0, capillary_rise_mm=2.0, etc_mm=3.0, taw_mm=TAW
    )
    assert step.depletion_mm == pytest.approx(11.0)
    # Upper bound: 148 + 5 = 153 -> clamped to TAW = 150.
    step = root_zone_depletion_mm(dr_prev_mm=148.0, precip_mm=0.0, etc_mm=5.0, taw_mm=TAW)
    assert step.depletion_mm == pytest.approx(TAW)


def test_water_balance_five_days_by_hand():
    # Maize at mid-season, Kc = 1.2, ET0 = 6.0 mm/day -> ETc = 7.2 mm/day; Dr,0 = 70 mm.
    # Ks,i uses Dr,i−1 (Eq. 84), ETc,adj = Ks·Kc·ET0 (Eq. 81), then Eqs. 85 and 88.
    # Day 1: Dr0 70 ≤ RAW -> Ks 1, ETc 7.2, Dr 77.2.
    # Day 2: 77.2 ≤ RAW -> Ks 1, ETc 7.2, Dr 84.4.
    # Day 3: Ks = (150 − 84.4)/67.5 = 0.971852, ETc = 6.997333, Dr = 91.397333.
    # Day 4: P 40, RO 5: Ks = (150 − 91.397333)/67.5 = 0.868188, ETc = 6.250951,
    #        Dr = 91.397333 − 35 + 6.250951 = 62.648284, DP = max(35 − 6.250951 − 91.397333, 0)
    #        = 0.
    # Day 5: I 80: Ks 1, ETc 7.2, DP = 80 − 7.2 − 62.648284 = 10.151716, Dr = 0.
    wb = water_balance(
        et0_mm=np.full(5, 6.0),
        kc=1.2,
        precip_mm=[0.0, 0.0, 0.0, 40.0, 0.0],
        runoff_mm=[0.0, 0.0, 0.0, 5.0, 0.0],
        irrigation_mm=[0.0, 0.0, 0.0, 0.0, 80.0],
        taw_mm=TAW,
        raw_mm=RAW,
        initial_depletion_mm=70.0,
    )
    assert wb.ks == pytest.approx([1.0, 1.0, 0.971852, 0.868188, 1.0], abs=1e-6)
    assert wb.etc_adj_mm == pytest.approx([7.2, 7.2, 6.997333, 6.250951, 7.2], abs=1e-5)
    assert wb.depletion_mm == pytest.approx([77.2, 84.4, 91.397333, 62.648284, 0.0], abs=1e-5)
    assert wb.deep_percolation_mm == pytest.approx([0.0, 0.0, 0.0, 0.0, 10.151716], abs=1e-5)


def test_water_balance_mass_conservation():
    # Over a season: Dr,end − Dr,0 = Σ(ETc + DP − (P − RO) − I − CR) when Dr stays < TAW.
    rng = np.random.default_rng(42)
    n = 120
    rain = np.where(rng.random(n) < 0.2, rng.gamma(2.0, 8.0, n), 0.0)
    et0 = rng.uniform(2.0, 7.0, n)
    irrigation = np.where(np.arange(n) % 10 == 0, 40.0, 0.0)
    wb = water_balance(
        et0_mm=et0, kc=1.1, precip_mm=rain, irrigation_mm=irrigation, taw_mm=TAW, raw_mm=RAW
    )
    assert np.all((wb.depletion_mm >= 0.0) & (wb.depletion_mm <= TAW))
    lhs = wb.depletion_mm[-1] - 0.0
    rhs = np.sum(wb.etc_adj_mm + wb.deep_percolation_mm - rain - irrigation)
    assert lhs == pytest.approx(rhs, abs=1e-9)


def test_water_balance_fields_in_parallel_match_single_runs():
    # Time on axis 0, three fields on axis 1 with different soils.
    et0 = np.linspace(3.0, 7.0, 30)[:, None]
    rain = np.zeros((30, 1))
    rain[10] = 30.0
    taw = np.array([150.0, 90.0, 60.0])
    raw = 0.5 * taw
    wb = water_balance(et0_mm=et0, kc=1.0, precip_mm=rain, taw_mm=taw, raw_mm=raw)
    assert wb.depletion_mm.shape == (30, 3)
    for k in range(3):
        single = water_balance(
            et0_mm=et0[:, 0], kc=1.0, precip_mm=rain[:, 0], taw_mm=taw[k], raw_mm=raw[k]
        )
        np.testing.assert_allclose(wb.depletion_mm[:, k], single.depletion_mm, rtol=0, atol=0)
    # The shallow soil hits stress first.
    assert wb.ks[-1, 2] < wb.ks[-1, 0]


def test_water_balance_without_stress_and_input_validation():
    wb = water_balance(
        et0_mm=[8.0] * 30, kc=1.2, precip_mm=0.0, taw_mm=TAW, raw_mm=RAW, apply_water_stress=False
    )
    assert np.all(wb.ks == 1.0)
    assert wb.depletion_mm[-1] == pytest.approx(TAW)  # clamped at TAW
    with pytest.raises(ValueError):
        water_balance(et0_mm=5.0, kc=1.0, precip_mm=0.0, taw_mm=TAW, raw_mm=RAW)


def test_effective_rainfall_usda_scs():
    # P ≤ 250: P(125 − 0.2P)/125 -> 100 mm: 100·105/125 = 84; P > 250: 125 + 0.1P -> 300: 155.
    # Continuity at 250 mm: 250·75/125 = 150 = 125 + 25.
    peff = effective_rainfall_mm(precip_month_mm=[0.0, 100.0, 250.0, 300.0])
    assert peff == pytest.approx([0.0, 84.0, 150.0, 155.0], abs=1e-12)


def test_effective_rainfall_fao_aglw():
    # P ≤ 70: 0.6P − 10 (floored at 0) -> 10: 0, 50: 20, 70: 32; P > 70: 0.8P − 24 -> 100: 56.
    peff = effective_rainfall_mm(precip_month_mm=[10.0, 50.0, 70.0, 100.0], method="fao_aglw")
    assert peff == pytest.approx([0.0, 20.0, 32.0, 56.0], abs=1e-12)
    with pytest.raises(ValueError):
        effective_rainfall_mm(precip_month_mm=10.0, method="nope")  # type: ignore[arg-type]


def test_missing_state_gives_missing_ks_not_full_stress():
    # FAO-56 Eq. 84 needs Dr, TAW and RAW; a NaN in any of them is unknown, not Ks = 0.
    ks = water_stress_coefficient(dr_mm=np.array([np.nan, 50.0, 50.0, 50.0]),
                                  taw_mm=np.array([100.0, np.nan, 100.0, 100.0]),
                                  raw_mm=np.array([50.0, 50.0, np.nan, 40.0]))
    assert np.isnan(ks[:3]).all()
    # Dr 50 > RAW 40: Ks = (100 − 50) / (100 − 40) = 0.833333
    assert ks[3] == pytest.approx(0.833333, abs=1e-5)


def test_one_missing_et0_does_not_zero_later_days():
    # TAW 100, RAW 50, Kc 1, Dr,0 = 60 (> RAW -> Ks = (100 − 60)/50 = 0.8). Day 1: ETc,adj =
    # 0.8·5 = 4 -> Dr 64. Day 2: ET0 missing -> outputs NaN; the carried Dr stays 64 (ET 0).
    # Day 3: Ks = (100 − 64)/50 = 0.72, ETc,adj = 3.6 -> Dr 67.6. Before the fix day 2's
    # NaN Dr gave Ks = 0 on day 3 and every later day.
    wb = water_balance(et0_mm=[5.0, np.nan, 5.0], kc=1.0, precip_mm=0.0, taw_mm=100.0,
                       raw_mm=50.0, initial_depletion_mm=60.0)
    assert wb.depletion_mm[0] == pytest.approx(64.0)
    assert np.isnan([wb.depletion_mm[1], wb.ks[1], wb.etc_adj_mm[1],
                     wb.deep_percolation_mm[1]]).all()
    assert wb.ks[2] == pytest.approx(0.72)
    assert wb.etc_adj_mm[2] == pytest.approx(3.6)
    assert wb.depletion_mm[2] == pytest.approx(67.6)
