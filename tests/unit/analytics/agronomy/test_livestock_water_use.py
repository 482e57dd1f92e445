"""THI (NRC, 1971), water productivity and the irrigation water effective-use coefficient."""

import math

import numpy as np
import pytest

from analytics.agronomy import (
    irrigation_water_use_coefficient,
    thi_nrc,
    water_productivity_kg_m3,
)


def test_thi_nrc_by_hand():
    # THI = (1.8T + 32) − (0.55 − 0.0055RH)(1.8T − 26).
    # 30 °C, 80 %: 86 − (0.55 − 0.44)·(54 − 26) = 86 − 0.11·28 = 82.92 ("moderate" band).
    # 25 °C, 50 %: 77 − 0.275·19 = 71.775.  35 °C, 20 %: 95 − 0.44·37 = 78.72.
    thi = thi_nrc(t_c=[30.0, 25.0, 35.0], rh_pct=[80.0, 50.0, 20.0])
    assert thi == pytest.approx([82.92, 71.775, 78.72], abs=1e-9)
    # At RH = 100 % THI equals the temperature in °F.
    assert thi_nrc(t_c=20.0, rh_pct=100.0) == pytest.approx(68.0)


def test_thi_vectorised():
    t = np.linspace(10, 40, 6)[:, None]
    rh = np.array([20.0, 50.0, 90.0])
    assert thi_nrc(t_c=t, rh_pct=rh).shape == (6, 3)


def test_water_productivity_units():
    # 9000 kg/ha from 450 mm: 450 mm over 1 ha = 4500 m3 -> 2.0 kg/m3.
    assert water_productivity_kg_m3(yield_kg_ha=9000.0, water_mm=450.0) == pytest.approx(2.0)
    # 1 mm over 1 ha = 10 m3: 10 kg/ha from 1 mm -> 1 kg/m3.
    assert water_productivity_kg_m3(yield_kg_ha=10.0, water_mm=1.0) == pytest.approx(1.0)
    wp = water_productivity_kg_m3(yield_kg_ha=[6000.0, 6000.0], water_mm=[400.0, 0.0])
    assert wp[0] == pytest.approx(1.5)
    assert math.isnan(wp[1])


def test_irrigation_coefficient_head_tail():
    # Three sample fields receive 1200 + 800 + 1000 = 3000 m3 net; 5000 m3 withdrawn -> 0.6.
    eta = irrigation_water_use_coefficient(
        net_field_m3=[1200.0, 800.0, 1000.0], gross_withdrawn_m3=5000.0
    )
    assert isinstance(eta, float)
    assert eta == pytest.approx(0.6)
    # Several sources are summed as well; equal volumes give exactly 1.
    assert irrigation_water_use_coefficient(
        net_field_m3=3000.0, gross_withdrawn_m3=[2000.0, 1000.0]
    ) == pytest.approx(1.0)
    assert irrigation_water_use_coefficient(net_field_m3=0.0, gross_withdrawn_m3=10.0) == 0.0


@pytest.mark.parametrize(
    ("net", "gross", "message"),
    [
        ([3000.0, 2500.0], 5000.0, "exceeds"),  # net > gross: inconsistent data
        (100.0, 0.0, "> 0"),
        (100.0, -5.0, "non-negative"),
        ([-1.0, 50.0], 100.0, "non-negative"),
        (float("nan"), 100.0, "finite"),
        ([], 100.0, "empty"),
    ],
)
def test_irrigation_coefficient_validation(net, gross, message):
    with pytest.raises(ValueError, match=message):
        irrigation_water_use_coefficient(net_field_m3=net, gross_withdrawn_m3=gross)
