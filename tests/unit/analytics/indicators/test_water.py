"""Water indicators on the hand-built registry: head–tail η with both factors and its reasons,
降水利用率 and 高效节水灌溉面积 (figures worked in the comments)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import partial

import numpy as np
import pytest
from sqlalchemy import delete, update

from analytics.indicators.completeness import DeviceCompleteness, DeviceTable
from analytics.indicators.periods import range_period
from analytics.indicators.registry_view import load_registry_view
from analytics.indicators.water import (
    PRECIPITATION_USE,
    WATER_SAVING_AREA,
    WaterFigures,
    coefficient_evidence,
    extra_water_values,
    irrigation_figures,
    load_irrigation_methods,
    reporting_meter_ids,
)
from analytics.water import FlowMeterSpec, MeterTotal
from analytics.water.records import FieldDay, load_field_days
from devices.registry import Site
from tests.unit.analytics.indicators.handbuilt import DAY, T0, field_day

PERIOD = range_period(T0, T0 + DAY)
ACTIVE = frozenset({"fm-w1", "fm-f1", "fm-hw1"})  # fm-hf1 is silent


def _figures(env, *, balances: bool = True, volumes: dict[str, float] | None = None,
             ) -> WaterFigures:
    sessions, store = env

    def fixed(*, store: object, meters: Sequence[FlowMeterSpec], first_day: date,
              last_day: date) -> list[MeterTotal]:
        assert volumes is not None
        return [MeterTotal(m, volumes[m.device_id]) for m in meters]

    with sessions() as s:
        view = load_registry_view(s)
        return irrigation_figures(store=store, view=view, period=PERIOD, active=ACTIVE,
                                  totals=fixed if volumes else None,
                                  field_days=partial(load_field_days, s) if balances else None)


def _set_f1(env, rows: list[tuple[date, float, float]]) -> None:
    """Replace F1's stored balance: (day, irrigation m³, deep percolation mm), Dr 40 mm."""
    sessions, _ = env
    with sessions() as s, s.begin():
        s.execute(delete(FieldDay).where(FieldDay.site_id == "F1"))
        for day, m3, dp in rows:
            s.add(field_day("F1", day, irrigation_m3=m3, area_mu=100.0, deep_percolation_mm=dp))


def test_both_factors_from_meters_and_balance(env):
    # fm-w1 1 430 m³ (143 increments of 10), fm-f1 1 001 m³ -> 渠系 0.7; F1's balance holds the
    # same 1 001 m³ with no percolation -> 田间 1.0, η 0.7.
    w = _figures(env).by_scope
    sc = w["shuocheng"]
    assert (round(sc.gross_withdrawn_m3), round(sc.inlet_m3), round(sc.net_field_m3)) == \
        (1430, 1001, 1001)
    assert (sc.conveyance, sc.field_factor, sc.coefficient) == pytest.approx((0.7, 1.0, 0.7))
    assert sc.reason is None and [f.method for f in sc.fields] == ["balance"]
    ev = coefficient_evidence(sc)
    assert ev["conveyance_coefficient"] == pytest.approx(0.7) and ev["reason"] is None
    # Huairen: fm-hf1 sent nothing -> no η, and the reason names the meter
    hr = w["huairen"]
    assert hr.coefficient is None and hr.sources_skipped == ("HW1",)
    assert hr.reason is not None and "fm-hf1" in hr.reason
    assert w["yingxian"].reason == "该范围内无计量水源"
    assert w["city"].coefficient == pytest.approx(0.7)
    # plan group 先行示范 = Shuocheng + Huairen: W1 used, HW1 skipped with its reason
    grp = w["group:先行示范"]
    assert grp.coefficient == pytest.approx(0.7) and grp.sources_skipped == ("HW1",)


def test_a_well_through_one_meter_is_not_one(env):
    # The well's meter and the field meter read the same 1 000 m³ (a pipe, no loss): the old
    # η (field ÷ source) was 1.000. F1's balance: 600 m³ (9 mm) on 06-01 of which 3 mm
    # (200 m³) percolated below the roots, 400 m³ on 06-02 all kept -> net 800 m³:
    # 渠系 1.000, 田间 0.800, η 0.800.
    _set_f1(env, [(date(2025, 5, 31), 0.0, 0.0), (date(2025, 6, 1), 600.0, 3.0),
                  (date(2025, 6, 2), 400.0, 0.0)])
    sc = _figures(env, volumes={"fm-w1": 1000.0, "fm-f1": 1000.0, "fm-hw1": 50.0}
                  ).by_scope["shuocheng"]
    assert round(sc.net_field_m3) == 800
    assert (sc.conveyance, sc.field_factor, sc.coefficient) == pytest.approx((1.0, 0.8, 0.8))


def test_missing_balance_or_inconsistent_meters_say_why(env):
    no_balance = _figures(env, balances=False).by_scope["shuocheng"]
    assert no_balance.coefficient is None and no_balance.reason is not None
    assert "F1" in no_balance.reason
    # the field meter shows more than the well's meter: named, no η
    over = _figures(env, volumes={"fm-w1": 900.0, "fm-f1": 1001.0, "fm-hw1": 50.0})
    sc = over.by_scope["shuocheng"]
    assert sc.coefficient is None and [r.code for r in sc.reasons] == ["inlet_exceeds_source"]
    assert "fm-f1" in sc.reasons[0].en and "fm-w1" in sc.reasons[0].zh
    # the balance covers only 06-01 (671.3 of 1 001 m³): incomplete, named
    _set_f1(env, [(date(2025, 6, 1), 671.3, 0.0)])
    part = _figures(env).by_scope["shuocheng"]
    assert [r.code for r in part.reasons] == ["balance_incomplete"]


def test_precipitation_use_and_high_efficiency_area(env):
    # F1 (100 亩): 06-01 rain 20 mm, Pe 20, ETc 5, Dr,i−1 (05-31) 40 -> no percolation, all
    # 20 mm used (that day ends at Dr 10); 06-02 rain 30 mm, Pe 30, Dr,i−1 10 -> DP0 =
    # 30 − 5 − 10 = 15 mm lost, 15 used. Rain 50 mm, used 35 -> 降水利用率 70 %.
    sessions, _ = env
    with sessions() as s, s.begin():
        s.execute(update(FieldDay).where(FieldDay.site_id == "F1", FieldDay.day == date(2025, 6, 1))
                  .values(rain_mm=20.0, effective_rain_mm=20.0, depletion_mm=10.0))
        s.execute(update(FieldDay).where(FieldDay.site_id == "F1", FieldDay.day == date(2025, 6, 2))
                  .values(rain_mm=30.0, effective_rain_mm=30.0))
        s.execute(update(Site).where(Site.id == "F1").values(irrigation_method="surface"))
        s.execute(update(Site).where(Site.id == "HF1").values(irrigation_method="micro"))

    def values():
        with sessions() as s:
            return extra_water_values(
                view=load_registry_view(s), period=PERIOD, active=ACTIVE,
                field_days=partial(load_field_days, s),
                irrigation_methods=load_irrigation_methods(s))

    v = values()
    assert v["shuocheng"][PRECIPITATION_USE][0] == pytest.approx(70.0)
    assert v["huairen"][PRECIPITATION_USE][0] is None
    assert v["huairen"][PRECIPITATION_USE][1]["reason"] == "无田间水量平衡的监测地块"
    # F1 is metered but flood-irrigated: not high-efficiency; HF1 is drip but its meter is
    # silent: not counted either
    assert v["shuocheng"][WATER_SAVING_AREA][0] == 0.0
    assert v["shuocheng"][WATER_SAVING_AREA][1]["metered_not_high_efficiency_mu"] == 100.0
    assert v["city"][WATER_SAVING_AREA][0] == 0.0
    with sessions() as s, s.begin():
        s.execute(update(Site).where(Site.id == "F1").values(irrigation_method="sprinkler"))
    assert values()["shuocheng"][WATER_SAVING_AREA][0] == pytest.approx(0.01)  # 100 亩


def test_a_meter_that_reported_part_of_the_period_is_not_silent() -> None:
    # A counter is cumulative: a meter with 45 % of its reports (below the 80 % activity
    # threshold) still measured all the water between its readings; only a meter with no
    # reading at all is silent for η.
    def row(did: str, received: int) -> DeviceCompleteness:
        return DeviceCompleteness(did, 100, received, 0, 600, received >= 80)

    rows = {"fm-w1": row("fm-w1", 45), "fm-f1": row("fm-f1", 100), "fm-hf1": row("fm-hf1", 0)}
    table = DeviceTable(list(rows), expected=np.array([100, 100, 100]),
                        received=np.array([45, 100, 0]), longest_gap_s=np.zeros(3, np.int64),
                        gap_resolution_s=np.full(3, 600), active=np.array([False, True, False]))
    assert reporting_meter_ids(rows) == reporting_meter_ids(table) == {"fm-w1", "fm-f1"}


def test_field_days_of_many_sites_are_read_in_chunks(env):
    # a city registry asks for tens of thousands of fields: more ids than one SQLite
    # statement may bind (32,766); F1's three stored days come back
    sessions, _ = env
    ids = [f"none-{i}" for i in range(40_000)] + ["F1"]
    with sessions() as s:
        rows = load_field_days(s, ids, date(2025, 5, 31), date(2025, 6, 2))
    assert len(rows) == 40_001 and [r.day.day for r in rows["F1"]] == [31, 1, 2]
