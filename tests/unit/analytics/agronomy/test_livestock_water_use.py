"""THI (NRC, 1971) and water productivity (灌溉水有效利用系数: tests/unit/analytics/water/
test_coefficient_pooling.py, head–tail)."""

import math

import numpy as np
import pytest

from analytics.agronomy import thi_nrc, water_productivity_kg_m3


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
