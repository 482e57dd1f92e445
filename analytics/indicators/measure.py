"""Measure report completeness of a fleet from the telemetry store, with few queries.

One COUNT query per site and (representative quantity, report interval) — not one per device
and quantity. Each device type is represented by its primary quantity (the first in the
catalogue: ``vwc_pct`` for a soil probe, ``body_temp_c`` for a collar, ``volume_m3`` for a flow
meter, ...): a device that reports but never that quantity is not measuring and counts as
silent. The store groups the site's series by device and by windows of k report intervals,
so one query gives every device of the site its per-window counts, and with them expected,
received and the longest gap (:mod:`analytics.indicators.completeness`).

Trade-off: windows of one interval (k = 1) give exact gaps but one row per device and
interval; for long periods ``IndicatorConfig.max_windows_per_device`` bounds the rows (a month
is counted on hourly windows: ~744 rows per device instead of 2,976-8,928) at the price of
gap resolution (reported as ``gap_resolution_s``). A site-level query scans the site's rows of
one quantity; 200,000 devices on ~60,000 sites cost ~70,000 indexed queries per period.

Gateways report nothing of their own (their children's records carry the children's ids), so
they are left out of completeness and of every roll-up; their health shows in their children.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from analytics.indicators.completeness import (
    DeviceCompleteness,
    WindowGrid,
    device_completeness,
    window_grid,
)
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.periods import Period
from analytics.indicators.registry_view import DeviceRef, RegistryView
from devices.catalogue import DEVICE_TYPES
from storage.telemetry import Aggregation, RangeQuery, TelemetryStore

EXCLUDED_GATEWAY = "gateway: no readings of its own"
EXCLUDED_NOT_INSTALLED = "not provisioned before the end of the period"
EXCLUDED_REVOKED = "revoked before the period"
EXCLUDED_UNKNOWN_TYPE = "device type not in the catalogue"


@dataclass(frozen=True, slots=True)
class FleetCompleteness:
    """Completeness of every measured device, the devices left out and why, and the cost."""

    period: Period
    """The period as measured (clipped to "now")."""
    devices: Mapping[str, DeviceCompleteness]
    excluded: Mapping[str, str]
    store_queries: int


def representative_quantity(device_type: str) -> str | None:
    """The quantity whose reports are counted for ``device_type`` (None: nothing to count)."""
    t = DEVICE_TYPES.get(device_type)
    return t.quantities[0] if t is not None and t.quantities else None


def _exclusion(dev: DeviceRef, period: Period) -> str | None:
    if dev.device_type not in DEVICE_TYPES:
        return EXCLUDED_UNKNOWN_TYPE
    if representative_quantity(dev.device_type) is None:
        return EXCLUDED_GATEWAY
    if dev.revoked_ms is not None and dev.revoked_ms <= period.start_ms:
        return EXCLUDED_REVOKED
    if dev.created_ms is not None and dev.created_ms >= period.end_ms:
        return EXCLUDED_NOT_INSTALLED
    return None


def measure_completeness(
    *, store: TelemetryStore, view: RegistryView, period: Period, now_ms: int,
    config: IndicatorConfig,
) -> FleetCompleteness:
    """Completeness of every device of ``view`` over ``period`` (clipped to ``now_ms``)."""
    measured = period.clipped(now_ms)
    excluded: dict[str, str] = {}
    groups: dict[tuple[str, str, int], list[DeviceRef]] = defaultdict(list)
    for dev in view.devices.values():
        reason = _exclusion(dev, measured)
        if reason is not None:
            excluded[dev.device_id] = reason
            continue
        quantity = representative_quantity(dev.device_type)
        assert quantity is not None  # gateways were excluded above
        interval = DEVICE_TYPES[dev.device_type].report_interval_s
        groups[(dev.site_id, quantity, interval)].append(dev)
    grids: dict[int, WindowGrid] = {}
    results: dict[str, DeviceCompleteness] = {}
    queries = 0
    for (site_id, quantity, interval), members in sorted(groups.items()):
        grid = grids.get(interval)
        if grid is None:
            grid = grids[interval] = window_grid(
                interval_s=interval, start_ms=measured.start_ms, end_ms=measured.end_ms,
                max_windows=config.max_windows_per_device)
        counts: dict[str, dict[int, float]] = defaultdict(dict)
        if grid.n_windows > 0:
            wanted = {d.device_id for d in members}
            points = store.query(RangeQuery(
                quantity=quantity, start_ms=grid.first_ms, end_ms=grid.end_ms, site_id=site_id,
                every_s=grid.window_ms // 1000, agg=Aggregation.COUNT,
                limit=(len(members) + 1) * (grid.n_windows + 1)))
            queries += 1
            for p in points:
                if p.device_id in wanted:
                    counts[p.device_id][p.ts_ms] = p.value
        for dev in members:
            start = measured.start_ms if dev.created_ms is None else max(measured.start_ms,
                                                                         dev.created_ms)
            end = measured.end_ms if dev.revoked_ms is None else min(measured.end_ms,
                                                                     dev.revoked_ms)
            results[dev.device_id] = device_completeness(
                device_id=dev.device_id, grid=grid, counts=counts.get(dev.device_id, {}),
                life_start_ms=start, life_end_ms=end, threshold_pct=config.active_threshold_pct)
    return FleetCompleteness(measured, results, excluded, queries)
