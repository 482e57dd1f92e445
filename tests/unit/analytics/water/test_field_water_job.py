"""The daily field-water job over a simulated farm: ET0, balances, advice, a dry spell."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from analytics.water.job import run_field_water
from analytics.water.records import FieldAdvice, FieldDay, StationDay
from devices.registry import Site
from storage.clock import DAY_MS


def test_a_dry_spell_leads_to_irrigation_advice_that_irrigation_clears(farm):
    farm.runner.add_dry_spell(farm.now_ms, farm.now_ms + 30 * DAY_MS, heat_c=5.0,
                              county="shuocheng")
    farm.advance_days(12)
    run = run_field_water(farm.meta.sessions, farm.store, today=farm.today)
    assert run.stations == 1 and run.fields == 3 and run.skipped == {}
    dry = {a.site_id: a for a in run.advice}
    assert all(a.irrigate for a in dry.values()), [a.why for a in dry.values()]
    field = "demo-shuocheng-01-f1"
    advice = dry[field]
    assert advice.depletion_mm >= advice.raw_mm
    # the advised net depth over the field's area is the advised volume (1 亩 = 666.67 m²)
    with farm.meta.sessions() as s:
        area = s.get(Site, field).area_mu
        days = s.scalars(select(FieldDay).where(FieldDay.site_id == field)
                         .order_by(FieldDay.day)).all()
        assert s.get(FieldAdvice, (field, farm.today)).irrigate
        assert len(s.scalars(select(StationDay)).all()) >= 12
    assert advice.volume_m3 == pytest.approx(advice.net_depth_mm / 1000 * area * 10_000 / 15,
                                             abs=0.1)
    assert [d.day for d in days] == [farm.start + timedelta(days=i) for i in range(12)]
    assert days[-1].depletion_mm > days[0].depletion_mm  # the soil dried
    assert all(d.et0_method == "penman_monteith" for d in days)
    assert all(3.0 < d.et0_mm < 10.0 for d in days)  # hot dry June days on the loess plateau

    # irrigate field 1 through its flow meter: enough to refill the root zone
    meter = next(d for d in farm.runner.devices
                 if d.site_id == field and d.device_type == "flow_meter")
    rate_m3_h = advice.volume_m3 * 1.3 / 20  # 130% of the advised volume over 20 hours
    farm.runner.start_irrigation(meter.device_id, 20 * 3600, rate_m3_h=rate_m3_h,
                                 start_ms=farm.now_ms + 60_000)
    farm.advance_days(1)
    after = {a.site_id: a for a in run_field_water(farm.meta.sessions, farm.store,
                                                    today=farm.today).advice}
    assert not after[field].irrigate, after[field].why
    assert after[field].depletion_mm < advice.raw_mm
    assert after["demo-shuocheng-01-f3"].irrigate  # not irrigated, still dry
