"""A field's water balance follows placement history: a flow meter and a probe moved to
another field mid-period count on the old field until the move and on the new one from it,
on both metadata databases and both telemetry stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from analytics.water import DailyWeather, FieldBalance, field_water_balance
from analytics.water.job import field_spec
from devices.registry import Site
from storage.clock import cst_date
from tests._moved import NEW, OLD, STEP_MS, MovedWorld, moved_world

M3_PER_DAY = 144.0  # the counter rises 1 m³ every 10 minutes


@pytest.fixture
def world(metadata_url: str, store_url: str) -> Iterator[MovedWorld]:
    devices: dict[str, tuple[str, dict[str, Any]]] = {
        "fm-m": ("flow_meter", {"role": "field"}), "sm-m": ("soil_moisture", {"depth_cm": 20})}
    with moved_world(metadata_url, store_url, kind="field", devices=devices,
                     planting_date=date(2020, 1, 1)) as w:
        w.write("fm-m", "flow_meter", "volume_m3",
                lambda ts, _moved: float((ts - w.start_ms) // STEP_MS))
        w.write("sm-m", "soil_moisture", "vwc_pct", lambda _ts, moved: 30.0 if moved else 20.0)
        w.move("fm-m", "sm-m")
        yield w


def _balances(world: MovedWorld) -> tuple[list[date], dict[str, FieldBalance]]:
    first = cst_date(world.start_ms) + timedelta(days=1)
    days = [first + timedelta(days=i) for i in range((cst_date(world.now_ms) - first).days)]
    weather = [DailyWeather(d, 4.0, "penman_monteith", None, None, None, None, None, None, 0.0)
               for d in days]
    out = {}
    with world.sessions() as s:
        for site_id in (OLD, NEW):
            site = s.get(Site, site_id)
            assert site is not None
            spec = field_spec(s, site, first)
            out[site_id] = field_water_balance(store=world.store, field=spec, weather=weather)
    return days, out


def test_a_moved_meter_and_probe_count_on_each_field_for_their_time_there(
        world: MovedWorld) -> None:
    days, balance = _balances(world)
    moved = days.index(cst_date(world.move_ms))
    old, new = balance[OLD], balance[NEW]
    # irrigation: whole days on the old field before the move, on the new one after it
    assert old.irrigation_m3[:moved] == pytest.approx(M3_PER_DAY)
    assert new.irrigation_m3[moved + 1:] == pytest.approx(M3_PER_DAY)
    assert not old.irrigation_m3[moved + 1:].any() and not new.irrigation_m3[:moved].any()
    # the day of the move is shared (less the 10 minutes between the two readings around it)
    assert old.irrigation_m3[moved] + new.irrigation_m3[moved] == pytest.approx(M3_PER_DAY - 1)
    assert old.irrigation_m3[moved] > 0 and new.irrigation_m3[moved] > 0
    # the probe observes the old field until the move, the new one from it
    old_obs, new_obs = (np.isfinite(b.series.observed_depletion_mm) for b in (old, new))
    assert old_obs[:moved + 1].all() and not old_obs[moved + 1:].any()
    assert new_obs[moved:].all() and not new_obs[:moved].any()
