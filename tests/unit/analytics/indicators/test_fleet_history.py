"""The indicators over a fleet that changed in the period (hand-built registry, see
``handbuilt``): a device retired mid-period is expected only until its retirement; a device
moved mid-period counts for its old site before the move and for the new one after, both when
counted hourly and per site, and in a view narrowed to the old site's farm."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.measure import measure_hourly, measure_per_site
from analytics.indicators.periods import range_period
from analytics.indicators.registry_view import load_registry_view
from analytics.indicators.rollup import Level, rollup
from devices import fleet
from storage.clock import HOUR_MS as H
from storage.clock import from_ms
from storage.telemetry import Reading
from tests.unit.analytics.indicators.handbuilt import DAY, T0, _device

PERIOD = range_period(T0, T0 + DAY)
NOW = T0 + 2 * DAY
HOURLY = IndicatorConfig(active_threshold_pct=80.0, max_windows_per_device=24)  # 1 h windows
PER_SITE = IndicatorConfig(active_threshold_pct=80.0)  # 15-minute windows
MOVE_MS = T0 + 12 * H
RETIRE_MS = T0 + 6 * H


@pytest.fixture
def changed(env):
    """sm-mv (installed with the others on F2, farm s1) reports every 15 minutes all day and
    is moved to F3 (farm s2) at 12:00Z, its readings tagged as ingest tags them; sm-f1 is
    retired at 06:00Z (it keeps its 96 readings: only its expectation ends)."""
    sessions, store = env
    with sessions() as s, s.begin():
        _device(s, "sm-mv", "soil_moisture", "F2")
        s.flush()
        fleet.move_device(s, "sm-mv", "F3", at=from_ms(MOVE_MS))
        fleet.retire_device(s, "sm-f1", at=from_ms(RETIRE_MS))
    store.write([
        Reading("sm-mv", "vwc_pct", 20.0, ts, i, 0, "soil_moisture", site, farm, "shuocheng")
        for i in range(96)
        for ts in [T0 + i * 900_000 + 60_000]
        for site, farm in [("F2", "s1") if ts < MOVE_MS else ("F3", "s2")]])
    return sessions, store


def test_the_view_has_one_entry_per_placement(changed):
    sessions, _ = changed
    with sessions() as s:
        view = load_registry_view(s)
        s1 = load_registry_view(s, farm_ids={"s1"})
    installed = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
    old = [d for d in view.devices.values() if d.device_id == "sm-mv" and d.entry is not None]
    assert [(d.site_id, d.farm_id, d.created_ms, d.revoked_ms) for d in old] == [
        ("F2", "s1", installed, MOVE_MS)]
    now = view.devices["sm-mv"]
    assert (now.site_id, now.farm_id, now.created_ms, now.revoked_ms) == ("F3", "s2", MOVE_MS, None)
    assert view.devices["sm-f1"].revoked_ms == RETIRE_MS
    # narrowed to the old site's farm: the device's time there, not its present
    assert [d.site_id for d in s1.devices.values() if d.device_id == "sm-mv"] == ["F2"]


@pytest.mark.parametrize("config", [HOURLY, PER_SITE], ids=["hourly", "per-site"])
def test_retired_and_moved_devices_count_for_their_time(changed, config):
    sessions, store = changed
    with sessions() as s:
        view = load_registry_view(s)
    measure = measure_hourly if config is HOURLY else measure_per_site
    fleet_ = measure(store=store, view=view, period=PERIOD, now_ms=NOW, config=config)
    assert fleet_ is not None
    dev = fleet_.devices
    # retired at 06:00Z: 6 hours of 4 reports expected, the readings after do not count
    assert (dev["sm-f1"].expected, dev["sm-f1"].received, dev["sm-f1"].active) == (24, 24, True)
    (old_key,) = [k for k in dev if k.startswith("sm-mv@")]
    assert (dev[old_key].expected, dev[old_key].received) == (48, 48)
    assert (dev["sm-mv"].expected, dev["sm-mv"].received) == (48, 48)
    sites = {r.key: r for r in rollup(view, fleet_, Level.SITE)}
    # F2: sm-f2 (72 of 96) and sm-mv's morning; F3: sm-f3 (84 of 96) and sm-mv's afternoon
    assert (sites["F2"].n_devices, sites["F2"].expected, sites["F2"].received) == (2, 144, 120)
    assert (sites["F3"].n_devices, sites["F3"].expected, sites["F3"].received) == (2, 144, 132)
    assert (sites["F1"].expected, sites["F1"].received) == (24 + 144, 24 + 144)  # + fm-f1
    farms = {r.key: r for r in rollup(view, fleet_, Level.FARM)}
    assert farms["s2"].expected == 144 and farms["s2"].n_devices == 2


def test_hourly_and_per_site_agree_across_the_changes(changed):
    sessions, store = changed
    with sessions() as s:
        view = load_registry_view(s)
    hourly = measure_hourly(store=store, view=view, period=PERIOD, now_ms=NOW, config=HOURLY)
    per_site = measure_per_site(store=store, view=view, period=PERIOD, now_ms=NOW, config=HOURLY)
    assert hourly is not None
    assert hourly.devices == per_site.devices and hourly.excluded == per_site.excluded
    for level in Level:
        assert rollup(view, hourly, level) == rollup(view, per_site, level), level
