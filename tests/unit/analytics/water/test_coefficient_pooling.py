"""灌溉水有效利用系数 per water source and pooled per county (head–tail: both factors), and the
coded reason of every missing figure; formerly the field ÷ source ratio of
``analytics.water.efficiency.irrigation_coefficients`` and
``analytics.agronomy.irrigation_water_use_coefficient`` (figures worked in the comments)."""

from __future__ import annotations

import pytest

from analytics.water.headtail import HeadTail, SourceInput, head_tail, pool
from tests.unit.analytics.water._nets import metered_field


def _factors(h: HeadTail) -> tuple[float | None, float | None, float | None]:
    return h.conveyance, h.field, h.coefficient


def test_sources_and_a_county_pooled():
    # well-A: withdrawn 1 000 m³; f-1 300 m³ of which 270 kept, f-2 350 all kept ->
    #   inlet 650, net 620: 渠系 0.65, 田间 620/650 = 0.95385, η 0.62 (the old ratio said 0.65).
    a = head_tail(SourceInput("well-A", {"src-a": 1000.0}, [
        metered_field("F1", "f-1", 300.0, 270.0), metered_field("F2", "f-2", 350.0, 350.0)]))
    assert (a.gross_m3, a.inlet_m3, a.net_m3) == pytest.approx((1000.0, 650.0, 620.0))
    assert _factors(a) == pytest.approx((0.65, 620.0 / 650.0, 0.62))
    assert a.sources_used == ("well-A",) and a.reasons == ()
    # well-B: withdrawn 500, f-3 400 of which 300 kept: 渠系 0.8, 田间 0.75, η 0.6.
    b = head_tail(SourceInput("well-B", {"src-b": 500.0}, [
        metered_field("F3", "f-3", 400.0, 300.0)]))
    assert _factors(b) == pytest.approx((0.8, 0.75, 0.6))
    # well-C: the field meter shows 250 m³, more than the 200 withdrawn: no η, meters named.
    c = head_tail(SourceInput("well-C", {"src-c": 200.0}, [
        metered_field("F4", "f-4", 250.0, 250.0)]))
    assert _factors(c) == (None, None, None)
    assert [(r.code, r.subject) for r in c.reasons] == [("inlet_exceeds_source", "well-C")]
    assert "f-4" in c.reasons[0].en and "src-c" in c.reasons[0].zh
    # Shuocheng pools A and B: gross 1 500, inlet 1 050, net 920 -> 渠系 0.7,
    # 田间 920/1 050 = 0.87619, η 920/1 500 = 0.61333 = 0.7 · 0.87619.
    sc = pool("shuocheng", [a, b])
    assert (sc.gross_m3, sc.inlet_m3, sc.net_m3) == pytest.approx((1500.0, 1050.0, 920.0))
    assert _factors(sc) == pytest.approx((0.7, 920.0 / 1050.0, 920.0 / 1500.0))
    assert sc.sources_used == ("well-A", "well-B") and sc.reasons == ()
    # a county whose only source is inconsistent: no η, with well-C's reason; one with a good
    # and a bad source: η of the good one, the bad one skipped and named.
    yy = pool("youyu", [c])
    assert yy.coefficient is None and [r.code for r in yy.reasons] == ["inlet_exceeds_source"]
    mixed = pool("mixed", [b, c])
    assert mixed.coefficient == pytest.approx(0.6) and mixed.sources_skipped == ("well-C",)
    assert [r.subject for r in mixed.reasons] == ["well-C"]
    assert [r.code for r in pool("none", []).reasons] == ["no_water_source"]


def test_every_missing_withdrawal_or_meter_has_its_reason():
    field = [metered_field("F", "fm", 100.0, 80.0)]
    # the source meter ran but recorded nothing (the old code: "gross must be > 0")
    zero = head_tail(SourceInput("w", {"src": 0.0}, field))
    assert zero.coefficient is None and [r.code for r in zero.reasons] == ["no_withdrawal"]
    # no head meter at all
    headless = head_tail(SourceInput("w", {}, field))
    assert [r.code for r in headless.reasons] == ["no_source_meter"]
    # no field meter names the source (the old code: "empty")
    alone = head_tail(SourceInput("w", {"src": 100.0}, []))
    assert [r.code for r in alone.reasons] == ["no_field_meter"]
    # a meter of the source sent nothing: the source is named by its silent meter only
    silent = head_tail(SourceInput("w", {"src": 100.0}, field, silent_meters=["fm-2"]))
    assert [(r.code, r.subject) for r in silent.reasons] == [("meter_silent", "fm-2")]


def test_bounds_of_the_coefficient():
    # nothing kept in the root zone -> η 0 (a figure, not a missing one)
    dry = head_tail(SourceInput("w", {"src": 10.0}, [metered_field("F", "fm", 10.0, 0.0)]))
    assert _factors(dry) == pytest.approx((1.0, 0.0, 0.0)) and dry.reasons == ()
    # a lossless pipe into a field that keeps every m³: η exactly 1
    full = head_tail(SourceInput("w", {"src": 2000.0, "src-2": 1000.0},
                                 [metered_field("F", "fm", 3000.0, 3000.0)]))
    assert _factors(full) == pytest.approx((1.0, 1.0, 1.0))
