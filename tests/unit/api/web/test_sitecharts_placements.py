"""Site charts follow placement history: a device moved mid-period shows its readings before
the move on the old site's charts and only those after it on the new site's, on both metadata
databases and both telemetry stores (windows of whole hours, partly answered from rollups); a
retired device's readings until its retirement stay on its site's charts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.web.charts import Chart, resolve_window
from api.web.i18n import Translator
from api.web.sitecharts import field_view, greenhouse_view
from devices import fleet
from devices.registry import Site
from storage.clock import from_ms
from storage.rollups import floor_to
from tests._moved import NEW, OLD, MovedWorld, moved_world

T = Translator("en")


@pytest.fixture
def world(metadata_url: str, store_url: str) -> Iterator[MovedWorld]:
    with moved_world(metadata_url, store_url, kind="greenhouse",
                     devices={"gh-node": ("greenhouse_climate", {})}) as w:
        w.write("gh-node", "greenhouse_climate", "air_temp_c",
                lambda _ts, moved: 30.0 if moved else 10.0)
        w.write("gh-node", "greenhouse_climate", "rh_pct", lambda _ts, _moved: 60.0)
        w.move("gh-node")
        w.store.maintain(w.now_ms)  # whole hours before now - 5 min come from rollups
        yield w


def _points(chart: Chart) -> dict[int, float]:
    (series,) = chart.series
    return {x: v for x, v in zip(chart.x_ms, series.values, strict=True) if v is not None}


def _charts(world: MovedWorld, site_id: str) -> dict[str, Chart]:
    window = resolve_window("30d", None, world.now_ms)
    assert window.every_s == 7200  # 2-hour windows: the rollups answer their whole hours
    with world.sessions() as s:
        site = s.get(Site, site_id)
        assert site is not None
        return {c.id: c for c in greenhouse_view(s, world.store, site, window, T).charts}


def test_the_old_site_keeps_the_readings_before_the_move(world: MovedWorld) -> None:
    temps = _points(_charts(world, OLD)["temp"])
    cut = floor_to(world.move_ms, 7200 * 1000)
    assert min(temps) == floor_to(world.start_ms, 7200 * 1000)
    assert max(temps) == cut  # the window of the move: its part before the move
    assert set(temps.values()) == {10.0}
    assert _points(_charts(world, OLD)["vpd"]).keys() == temps.keys()


def test_the_new_site_gets_only_the_readings_after_the_move(world: MovedWorld) -> None:
    temps = _points(_charts(world, NEW)["temp"])
    cut = floor_to(world.move_ms, 7200 * 1000)
    assert min(temps) == cut  # the window of the move: its part after the move
    assert set(temps.values()) == {30.0}
    assert max(temps) >= world.now_ms - 2 * 7200 * 1000


@pytest.fixture
def field_world(metadata_url: str, store_url: str) -> Iterator[MovedWorld]:
    with moved_world(metadata_url, store_url, kind="field",
                     devices={"sm-m": ("soil_moisture", {"depth_cm": 20})}) as w:
        w.write("sm-m", "soil_moisture", "vwc_pct", lambda _ts, moved: 30.0 if moved else 20.0)
        w.move("sm-m")
        yield w


def test_a_fields_probe_chart_follows_the_move(field_world: MovedWorld) -> None:
    window = resolve_window("7d", None, field_world.now_ms)
    with field_world.sessions() as s:
        old, new = (field_view(s, field_world.store, s.get(Site, site_id), window, T)  # type: ignore[arg-type]
                    for site_id in (OLD, NEW))
    before, after = (_points(v.charts[0]) for v in (old, new))
    assert set(before.values()) == {20.0} and set(after.values()) == {30.0}
    assert max(before) <= field_world.move_ms <= min(after) + window.every_s * 1000


def test_a_retired_devices_past_stays_on_its_sites_charts(metadata_url: str,
                                                          store_url: str) -> None:
    with moved_world(metadata_url, store_url, kind="greenhouse",
                     devices={"gh-node": ("greenhouse_climate", {})}) as w:
        w.write("gh-node", "greenhouse_climate", "air_temp_c", lambda _ts, _moved: 10.0)
        w.write("gh-node", "greenhouse_climate", "rh_pct", lambda _ts, _moved: 60.0)
        with w.sessions() as s, s.begin():
            fleet.retire_device(s, "gh-node", at=from_ms(w.move_ms))
        temps = _points(_charts(w, OLD)["temp"])
    assert min(temps) == floor_to(w.start_ms, 7200 * 1000)
    assert max(temps) == floor_to(w.move_ms, 7200 * 1000)  # nothing after its retirement
