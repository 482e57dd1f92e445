"""Atmosphere, humidity and wind against FAO-56 worked examples.

Reference: Allen et al. (1998), FAO Irrigation and Drainage Paper 56 ("FAO-56"), Chapter 3.
Page numbers are those of the printed 1998 edition (pp. 56, 72 and 75 are corroborated by
independent implementations; the others are given to about ±1 page).
Tolerances: half a unit of the last digit printed in the example, unless stated.
"""

import numpy as np
import pytest

from analytics.agronomy import (
    actual_vapour_pressure_kpa,
    atmospheric_pressure_kpa,
    dew_point_c,
    mean_saturation_vapour_pressure_kpa,
    psychrometric_constant_kpa_c,
    saturation_vapour_pressure_kpa,
    slope_vapour_pressure_curve_kpa_c,
    vapour_pressure_deficit_kpa,
    wind_speed_2m_m_s,
)


def test_example_2_pressure_and_psychrometric_constant():
    # FAO-56 Example 2 (p. ≈32): z = 1800 m -> P = 81.8 kPa, γ = 0.054 kPa/°C.
    p = atmospheric_pressure_kpa(elevation_m=1800)
    assert p == pytest.approx(81.8, abs=0.05)
    assert psychrometric_constant_kpa_c(pressure_kpa=p) == pytest.approx(0.054, abs=0.0005)


def test_example_3_saturation_vapour_pressure():
    # FAO-56 Example 3 (p. ≈36): Tmax 24.5 °C, Tmin 15 °C -> e°(24.5) = 3.075 kPa,
    # e°(15) = 1.705 kPa, es = 2.39 kPa.
    assert saturation_vapour_pressure_kpa(t_c=24.5) == pytest.approx(3.075, abs=0.0005)
    assert saturation_vapour_pressure_kpa(t_c=15.0) == pytest.approx(1.705, abs=0.0005)
    es = mean_saturation_vapour_pressure_kpa(t_max_c=24.5, t_min_c=15.0)
    assert es == pytest.approx(2.39, abs=0.005)


def test_example_5_actual_vapour_pressure_from_rh_max_min():
    # FAO-56 Example 5 (p. ≈39): Tmin 18 °C, Tmax 25 °C, RHmax 82 %, RHmin 54 %.
    # e°(18) = 2.064, e°(25) = 3.168 kPa -> ea = (2.064·0.82 + 3.168·0.54)/2 = 1.70 kPa.
    assert saturation_vapour_pressure_kpa(t_c=18.0) == pytest.approx(2.064, abs=0.0005)
    assert saturation_vapour_pressure_kpa(t_c=25.0) == pytest.approx(3.168, abs=0.0005)
    ea = actual_vapour_pressure_kpa(t_max_c=25.0, t_min_c=18.0, rh_max_pct=82, rh_min_pct=54)
    assert ea == pytest.approx(1.70, abs=0.005)


def test_example_20_ea_from_dew_point_equal_to_tmin():
    # FAO-56 Example 20 (p. ≈78, ETo with missing data, Lyon): Tdew ≈ Tmin = 14.8 °C
    # -> ea = e°(14.8) = 1.68 kPa (Eq. 48 / Eq. 14).
    assert saturation_vapour_pressure_kpa(t_c=14.8) == pytest.approx(1.68, abs=0.005)


def test_slope_of_vapour_pressure_curve_examples_17_18():
    # FAO-56 Example 17 (p. ≈70): T = 30.2 °C -> Δ = 0.246 kPa/°C.
    # FAO-56 Example 18 (p. 72): T = 16.9 °C -> Δ = 0.122 kPa/°C.
    assert slope_vapour_pressure_curve_kpa_c(t_c=30.2) == pytest.approx(0.246, abs=0.0005)
    assert slope_vapour_pressure_curve_kpa_c(t_c=16.9) == pytest.approx(0.122, abs=0.0005)


def test_example_14_wind_speed_at_2m():
    # FAO-56 Example 14 (p. 56): 3.2 m/s at 10 m -> u2 = 3.2·4.87/ln(672.58) = 2.4 m/s.
    assert wind_speed_2m_m_s(wind_m_s=3.2, height_m=10) == pytest.approx(2.4, abs=0.05)
    # Example 18 (p. 72): 10 km/h = 2.78 m/s at 10 m -> 2.078 m/s.
    assert wind_speed_2m_m_s(wind_m_s=10 / 3.6, height_m=10) == pytest.approx(2.078, abs=0.0005)
    # At 2 m the log profile returns the input: 4.87/ln(130.18) = 1.000.
    assert wind_speed_2m_m_s(wind_m_s=3.0, height_m=2.0) == pytest.approx(3.0, rel=1e-3)


def test_vapour_pressure_deficit_by_hand():
    # es(30 °C) = 0.6108·exp(17.27·30/267.3) = 4.2431 kPa; VPD at 50 % = 2.1216 kPa.
    assert vapour_pressure_deficit_kpa(t_c=30.0, rh_pct=50.0) == pytest.approx(2.1216, abs=1e-4)
    assert vapour_pressure_deficit_kpa(t_c=30.0, rh_pct=100.0) == pytest.approx(0.0, abs=1e-12)


def test_dew_point_magnus_against_table_values():
    # Psychrometric tables: 20 °C / 50 % -> Td 9.3 °C; 30 °C / 80 % -> Td 26.2 °C (0.1 °C
    # resolution, so abs = 0.05). Magnus (a = 17.625, b = 243.04 °C) gives 9.26 and 26.17.
    td = dew_point_c(t_c=[20.0, 30.0], rh_pct=[50.0, 80.0])
    assert td == pytest.approx([9.3, 26.2], abs=0.05)
    # Saturated air: Td = T exactly.
    assert dew_point_c(t_c=12.5, rh_pct=100.0) == pytest.approx(12.5, abs=1e-12)
    # RH = 0 is undefined.
    assert np.isnan(dew_point_c(t_c=20.0, rh_pct=0.0))


def test_dew_point_consistent_with_fao_vapour_pressure():
    # e°(Td) (FAO-56 Eq. 11, Tetens) should reproduce ea = e°(T)·RH within ~0.5 % although the
    # Magnus coefficients differ.
    t = np.array([5.0, 15.0, 25.0, 35.0])
    rh = np.array([90.0, 60.0, 40.0, 20.0])
    ea = saturation_vapour_pressure_kpa(t_c=t) * rh / 100.0
    ea_back = saturation_vapour_pressure_kpa(t_c=dew_point_c(t_c=t, rh_pct=rh))
    np.testing.assert_allclose(ea_back, ea, rtol=5e-3)


def test_vectorised_shapes_and_scalars():
    t = np.linspace(-10.0, 40.0, 12).reshape(3, 4)
    rh = np.full((3, 4), 55.0)
    for out in (
        saturation_vapour_pressure_kpa(t_c=t),
        slope_vapour_pressure_curve_kpa_c(t_c=t),
        vapour_pressure_deficit_kpa(t_c=t, rh_pct=rh),
        dew_point_c(t_c=t, rh_pct=rh),
        atmospheric_pressure_kpa(elevation_m=t * 100),
    ):
        assert isinstance(out, np.ndarray)
        assert out.shape == (3, 4)
        assert out.dtype == np.float64
    # Broadcasting: (3, 1) temperatures with (4,) humidities -> (3, 4).
    assert dew_point_c(t_c=[[0.0], [10.0], [20.0]], rh_pct=[40, 60, 80, 100]).shape == (3, 4)
    # Scalars in -> numpy float64 (a Python float) out.
    assert isinstance(saturation_vapour_pressure_kpa(t_c=20.0), float)
    assert isinstance(dew_point_c(t_c=20.0, rh_pct=50.0), float)


def test_keyword_only():
    with pytest.raises(TypeError):
        saturation_vapour_pressure_kpa(20.0)  # type: ignore[call-arg]
