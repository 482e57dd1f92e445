"""灌溉水有效利用系数 by the head–tail method: both factors, hand-worked to the m³."""

from datetime import date, timedelta

import numpy as np
import pytest

from analytics.water import root_zone_balance
from analytics.water.headtail import (
    FieldDayRow,
    FieldInput,
    SourceInput,
    field_net,
    head_tail,
    irrigation_percolation_mm,
    pool,
)

D0 = date(2026, 7, 10)
M2_PER_MU = 10_000.0 / 15.0


def _rows(*, area_mu: float, irrigation_mm: float, dr_before: float, etc: float = 5.0,
          obs: tuple[float | None, float | None] = (None, None)) -> list[FieldDayRow]:
    """Day 0 (no water, ends at ``dr_before``), day 1 irrigated, day 2 dry: the balance's rows
    run through FAO-56 Eqs. 85/88 by ``root_zone_balance`` (Ks = 1: p = 0.99)."""
    ins = np.array([0.0, irrigation_mm, 0.0])
    s = root_zone_balance(et0_mm=[etc] * 3, kc=1.0, rain_mm=0.0, irrigation_mm=ins, zr_m=1.0,
                          theta_fc=0.30, theta_wp=0.10, p=0.99,
                          initial_depletion_mm=dr_before - etc)
    m3 = ins * area_mu * M2_PER_MU / 1000.0
    observed = (obs[0], None, obs[1])
    return [FieldDayRow(day=D0 + timedelta(days=i), irrigation_mm=float(ins[i]),
                        irrigation_m3=float(m3[i]), effective_rain_mm=0.0,
                        etc_adj_mm=float(s.etc_adj_mm[i]),
                        deep_percolation_mm=float(s.deep_percolation_mm[i]),
                        depletion_mm=float(s.depletion_mm[i]), observed_depletion_mm=observed[i])
            for i in range(3)]


def test_irrigation_percolation_splits_rain_and_irrigation():
    # Dr,i−1 = 10, Pe = 20, ETc = 5, I = 30: DP = 20 + 30 − 5 − 10 = 35 (Eq. 88); without
    # the irrigation DP0 = 20 − 5 − 10 = 5, so the irrigation caused 30 (all of it).
    assert irrigation_percolation_mm(deep_percolation_mm=35.0, effective_rain_mm=20.0,
                                     etc_adj_mm=5.0, dr_prev_mm=10.0,
                                     irrigation_mm=30.0) == pytest.approx(30.0)
    # Dry soil (Dr,i−1 = 60), no rain, I = 75, ETc = 5: DP = 10, all from irrigation.
    assert irrigation_percolation_mm(deep_percolation_mm=10.0, effective_rain_mm=0.0,
                                     etc_adj_mm=5.0, dr_prev_mm=60.0,
                                     irrigation_mm=75.0) == pytest.approx(10.0)


def test_hand_worked_source_canal_loss_and_percolation_to_the_m3():
    # Source meter 1 000 m³; the canal loses 150 m³: field meters A 500 m³, B 350 m³.
    # A: 10 亩 = 6 666.7 m², 500 m³ = 75 mm; Dr before 60 mm, ETc 5 -> DP = 75 − 5 − 60 =
    #    10 mm = 66.7 m³ -> net 433.3 m³.   B: 7 亩, 350 m³ = 75 mm; Dr before 80 -> DP 0 ->
    #    net 350 m³.   Net 783.3 m³; 渠系 850/1000 = 0.850; 田间 783.3/850 = 0.9216;
    #    η = 783.3/1000 = 0.7833 = 0.850 · 0.9216.
    a = field_net("A", _rows(area_mu=10.0, irrigation_mm=75.0, dr_before=60.0), first_day=D0)
    b = field_net("B", _rows(area_mu=7.0, irrigation_mm=75.0, dr_before=80.0), first_day=D0)
    assert (round(a.inlet_m3), round(a.net_m3), a.method) == (500, 433, "balance")
    assert (round(b.inlet_m3), round(b.net_m3)) == (350, 350)
    h = head_tail(SourceInput("well", {"src-m": 1000.0}, [
        FieldInput("A", {"fa": 500.0}, 500.0, a), FieldInput("B", {"fb": 350.0}, 350.0, b)]))
    assert (round(h.gross_m3), round(h.inlet_m3), round(h.net_m3)) == (1000, 850, 783)
    assert h.conveyance == pytest.approx(0.850)
    assert h.field == pytest.approx(783.333 / 850, abs=1e-5)
    assert h.coefficient == pytest.approx(0.78333, abs=1e-5)
    assert h.conveyance is not None and h.field is not None
    assert h.coefficient == pytest.approx(h.conveyance * h.field)
    assert h.reasons == ()


def test_a_well_feeding_one_field_through_one_meter_is_not_one():
    # A well piped to one field: source and field meter both read 400 m³ (no conveyance loss).
    # The old code gave η = field ÷ source = 1.000. 400 m³ on 10 亩 = 60 mm onto Dr 40 mm with
    # ETc 5 -> DP 15 mm = 100 m³ -> net 300 m³: 渠系 1.000, 田间 0.750, η = 0.750.
    f = field_net("F", _rows(area_mu=10.0, irrigation_mm=60.0, dr_before=40.0), first_day=D0)
    h = head_tail(SourceInput("well", {"src": 400.0}, [FieldInput("F", {"fm": 400.0}, 400.0, f)]))
    assert h.conveyance == pytest.approx(1.0)
    assert h.coefficient == pytest.approx(0.75)
    assert h.field == pytest.approx(0.75)


def test_probes_bracketing_every_event_are_used_and_said_so():
    # Field A as above; probes: Dr,obs 62 mm the day before, 4 mm the day after. Window ET =
    # ½·5 + 5 + ½·5 = 10 -> retained = 62 − 4 + 10 = 68 mm of 75 -> 453.3 m³ (balance: 433.3).
    rows = _rows(area_mu=10.0, irrigation_mm=75.0, dr_before=60.0, obs=(62.0, 4.0))
    f = field_net("A", rows, first_day=D0)
    assert (f.method, f.events, f.events_with_probes) == ("probes", 1, 1)
    assert round(f.net_m3) == 453 and round(f.balance_net_m3) == 433
    without = field_net("A", _rows(area_mu=10.0, irrigation_mm=75.0, dr_before=60.0,
                                   obs=(62.0, None)), first_day=D0)
    assert without.method == "balance" and without.probe_net_m3 is None


def test_every_missing_figure_names_its_meter():
    f = field_net("F", _rows(area_mu=10.0, irrigation_mm=60.0, dr_before=40.0), first_day=D0)
    fields = [FieldInput("F", {"fm-1": 400.0}, 400.0, f)]
    silent = head_tail(SourceInput("w1", {}, fields, silent_meters=["src-9"]))
    assert silent.coefficient is None
    assert [r.code for r in silent.reasons] == ["meter_silent"]  # not also "no source meter"
    assert "src-9" in silent.reasons[0].zh and "src-9" in silent.reasons[0].en
    unmetered = head_tail(SourceInput("w1", {}, fields))
    assert [r.code for r in unmetered.reasons] == ["no_source_meter"]
    over = head_tail(SourceInput("w1", {"src-1": 300.0}, fields))
    assert over.coefficient is None and over.conveyance is None
    assert [r.code for r in over.reasons] == ["inlet_exceeds_source"]
    assert "src-1" in over.reasons[0].zh and "fm-1" in over.reasons[0].en
    no_balance = head_tail(SourceInput("w1", {"src-1": 500.0}, [
        FieldInput("F", {"fm-1": 400.0}, 400.0, None, "season has not started")]))
    assert [r.code for r in no_balance.reasons] == ["balance_missing"]
    assert "season has not started" in no_balance.reasons[0].en
    short = head_tail(SourceInput("w1", {"src-1": 900.0}, [
        FieldInput("F", {"fm-1": 800.0}, 800.0, f)]))  # balance holds 400 of 800 m³
    assert [r.code for r in short.reasons] == ["balance_incomplete"]


def test_county_pools_valid_sources_and_lists_the_others():
    f = field_net("F", _rows(area_mu=10.0, irrigation_mm=60.0, dr_before=40.0), first_day=D0)
    ok = head_tail(SourceInput("w1", {"s1": 500.0}, [FieldInput("F", {"f1": 400.0}, 400.0, f)]))
    bad = head_tail(SourceInput("w2", {}, [FieldInput("G", {"f2": 10.0}, 10.0, None)]))
    c = pool("shuocheng", [ok, bad])
    # 400 of 500 m³ reach the field (0.8), 300 of 400 stay (0.75): η = 0.6
    assert (c.conveyance, c.field, c.coefficient) == pytest.approx((0.8, 0.75, 0.6))
    assert c.sources_used == ("w1",) and c.sources_skipped == ("w2",)
    assert {r.code for r in c.reasons} == {"no_source_meter", "balance_missing"}
    empty = pool("youyu", [])
    assert empty.coefficient is None and empty.reasons[0].code == "no_water_source"
