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

Two ways to read the counts, with the same results; both fill a matrix of reports per device
and window that one judgement turns into completeness
(:func:`~analytics.indicators.completeness.grid_completeness`, all devices at once):

* hourly (:func:`measure_hourly`), whenever every grid's window is a whole number of hours:
  readings per device and hour of each counted quantity, from the hourly-count cache
  (:mod:`analytics.indicators.hourly`) and the store's ``window_counts`` for hours not cached,
  summed into windows. No per-site query, no per-window Python object: 200,000 devices over a
  month in a few seconds. With the default budget of 800 windows that is every calendar month
  and 30-day period (1-hour windows), and periods of 44-67 days (2 h) or more than 89 days
  (4 h, 8 h, days);
* per site (:func:`measure_per_site`) otherwise — windows shorter than an hour (periods under
  ~22 days) or of 80 or 160 minutes (33-44 and 67-89 days): the COUNT queries described above.

The hourly way counts a device's readings by its id; the per-site way by the site tag the
readings were stored with, so a device moved between sites counts its older readings only in
the hourly way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from analytics.indicators.completeness import (
    DeviceTable,
    IntArray,
    WindowGrid,
    grid_completeness,
    window_grid,
)
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.hourly.counts import hourly_counts
from analytics.indicators.hourly.parts import SATURATED
from analytics.indicators.periods import Period
from analytics.indicators.registry_view import DeviceRef, RegistryView
from devices.catalogue import DEVICE_TYPES
from storage.clock import HOUR_MS
from storage.telemetry import Aggregation, RangeQuery, TelemetryStore

EXCLUDED_GATEWAY = "gateway: no readings of its own"
EXCLUDED_NOT_INSTALLED = "not provisioned before the end of the period, no reports in it"
EXCLUDED_REVOKED = "revoked before the period"
EXCLUDED_UNKNOWN_TYPE = "device type not in the catalogue"


@dataclass(frozen=True, slots=True)
class FleetCompleteness:
    """Completeness of every measured device, the devices left out and why, and the cost."""

    period: Period
    """The period as measured (clipped to "now")."""
    devices: DeviceTable
    excluded: Mapping[str, str]
    store_queries: int


def representative_quantity(device_type: str) -> str | None:
    """The quantity whose reports are counted for ``device_type`` (None: nothing to count)."""
    t = DEVICE_TYPES.get(device_type)
    return t.quantities[0] if t is not None and t.quantities else None


_UNKNOWN = (EXCLUDED_UNKNOWN_TYPE, 0)
_KINDS: dict[str, tuple[str, int]] = {  # type -> (quantity, interval [s]) or (exclusion, 0)
    name: (t.quantities[0], t.report_interval_s) if t.quantities else (EXCLUDED_GATEWAY, 0)
    for name, t in DEVICE_TYPES.items()
}


def _plan(view: RegistryView, measured: Period,
          ) -> tuple[dict[str, str], list[tuple[DeviceRef, str, int]]]:
    """Devices left out and why (unknown type, gateway, revoked before the period, checked in
    that order), and the measured ones with quantity and interval [s]; both by registry view
    entry (a moved device's earlier placements count only where they meet the period). A
    device provisioned after the period is measured too: readings it backfilled into the
    period count (:func:`_judge` drops it, as not installed, when there are none)."""
    excluded: dict[str, str] = {}
    measured_devices: list[tuple[DeviceRef, str, int]] = []
    start, end = measured.start_ms, measured.end_ms
    for dev in view.devices.values():
        quantity, interval = _KINDS.get(dev.device_type, _UNKNOWN)
        if dev.entry is not None and (interval == 0 or not _overlaps(dev, start, end)):
            continue  # an earlier placement outside the period: nothing to say
        if interval == 0:
            excluded[dev.key] = quantity
        elif dev.revoked_ms is not None and dev.revoked_ms <= start:
            excluded[dev.key] = EXCLUDED_REVOKED
        else:
            measured_devices.append((dev, quantity, interval))
    return excluded, measured_devices


def _overlaps(dev: DeviceRef, start_ms: int, end_ms: int) -> bool:
    """Whether an earlier placement's span meets [start_ms, end_ms)."""
    return ((dev.created_ms is None or dev.created_ms < end_ms)
            and (dev.revoked_ms is None or dev.revoked_ms > start_ms))


def _moved(view: RegistryView) -> frozenset[str]:
    """Ids of devices with earlier placements: their current placement starts at their
    arrival, whatever they reported before (those reports belong to the earlier sites)."""
    return frozenset(d.device_id for d in view.devices.values() if d.entry is not None)


def _lives(devices: list[DeviceRef], measured: Period, grid: WindowGrid,
           counts: NDArray[Any], moved: frozenset[str]) -> tuple[IntArray, IntArray]:
    """The part of the period each device was expected to report in, as two arrays [UTC ms]:
    from its registration or its first report in the period, whichever is earlier (data
    backfilled or sent late counts in the period it covers; registration only bounds when a
    device is expected; not for devices in ``moved``, nor for earlier placements), to its
    revocation or the period's end — for a device registered only after the period, to the
    end of its last report's window (it was not expected after the data it sent)."""
    n = len(devices)
    created = np.fromiter((measured.start_ms if d.created_ms is None else d.created_ms
                           for d in devices), np.int64, n)
    revoked = np.fromiter((measured.end_ms if d.revoked_ms is None else d.revoked_ms
                           for d in devices), np.int64, n)
    start = np.minimum(np.maximum(created, measured.start_ms), measured.end_ms)
    end = np.minimum(revoked, measured.end_ms)
    if counts.shape[1]:
        fixed = np.fromiter((d.entry is not None or d.device_id in moved for d in devices),
                            bool, n)
        reported = counts > 0
        free = reported.any(axis=1) & ~fixed
        nw = counts.shape[1]
        first = np.where(free, reported.argmax(axis=1), nw)
        first_ms = grid.first_ms + first.astype(np.int64) * grid.window_ms
        start = np.minimum(start, np.maximum(first_ms, measured.start_ms))
        # registered after the period: expected only up to the end of its last report's window
        last = nw - 1 - reported[:, ::-1].argmax(axis=1)
        last_end = np.minimum(grid.first_ms + (last.astype(np.int64) + 1) * grid.window_ms, end)
        end = np.where(free & (created >= measured.end_ms), last_end, end)
    return start, end


def _grids(intervals: set[int], measured: Period, config: IndicatorConfig) -> dict[int, WindowGrid]:
    return {i: window_grid(interval_s=i, start_ms=measured.start_ms, end_ms=measured.end_ms,
                           max_windows=config.max_windows_per_device) for i in sorted(intervals)}


def measure_completeness(
    *, store: TelemetryStore, view: RegistryView, period: Period, now_ms: int,
    config: IndicatorConfig, session: Session | None = None,
) -> FleetCompleteness:
    """Completeness of every device of ``view`` over ``period`` (clipped to ``now_ms``):
    hourly when the windows allow it (cache of ``session``, if given), else per site."""
    fast = measure_hourly(store=store, view=view, period=period, now_ms=now_ms, config=config,
                          session=session)
    if fast is not None:
        return fast
    return measure_per_site(store=store, view=view, period=period, now_ms=now_ms, config=config)


def measure_hourly(
    *, store: TelemetryStore, view: RegistryView, period: Period, now_ms: int,
    config: IndicatorConfig, session: Session | None = None,
) -> FleetCompleteness | None:
    """Completeness from readings per device and hour; None when a grid's window is not a
    whole number of hours (or exceeds 255 intervals where an hour's count saturated)."""
    measured = period.clipped(now_ms)
    excluded, measured_devices = _plan(view, measured)
    moved = _moved(view)
    grids = _grids({i for _, _, i in measured_devices}, measured, config)
    if any(g.window_ms % HOUR_MS for g in grids.values()):
        return None
    blocks: dict[tuple[str, int], list[DeviceRef]] = defaultdict(list)
    for dev, quantity, interval in measured_devices:
        blocks[(quantity, interval)].append(dev)
    parts: list[DeviceTable] = []
    reads = 0
    for quantity in sorted({q for q, _ in blocks}):
        intervals = sorted(i for q, i in blocks if q == quantity)
        members = sorted({d.device_id for i in intervals for d in blocks[(quantity, i)]})
        row_of = {d: r for r, d in enumerate(members)}  # sorted ids: the cache's own order
        lo = min(grids[i].first_ms for i in intervals)
        hi = max(grids[i].end_ms for i in intervals)
        hours, n = hourly_counts(session, store, quantity=quantity, device_ids=members,
                                 start_ms=lo, end_ms=hi, now_ms=now_ms)
        reads += n
        for interval in intervals:
            block = blocks[(quantity, interval)]
            grid = grids[interval]
            cols = slice((grid.first_ms - lo) // HOUR_MS, (grid.end_ms - lo) // HOUR_MS)
            if len(intervals) == 1 and len(block) == len(members):
                block = sorted(block, key=lambda d: d.device_id)  # the rows of ``hours``
                h = hours[:, cols]
            else:
                h = hours[np.fromiter((row_of[d.device_id] for d in block), np.int64, len(block)),
                          cols]
            if grid.k > SATURATED and bool((h == SATURATED).any()):
                return None  # an hour's count saturated: its window's min(count, k) is unknown
            per_window = grid.window_ms // HOUR_MS
            counts = h if per_window == 1 else h.reshape(len(block), grid.n_windows, per_window).sum(
                axis=2, dtype=np.int64)
            parts.append(_judge(block, grid, counts, measured, config, moved))
    table = _not_installed(DeviceTable.concat(parts), view, measured, excluded)
    return FleetCompleteness(measured, table, excluded, reads)


def measure_per_site(
    *, store: TelemetryStore, view: RegistryView, period: Period, now_ms: int,
    config: IndicatorConfig,
) -> FleetCompleteness:
    """Completeness from one windowed COUNT query per site, quantity and interval."""
    measured = period.clipped(now_ms)
    excluded, measured_devices = _plan(view, measured)
    moved = _moved(view)
    groups: dict[tuple[str, str, int], list[DeviceRef]] = defaultdict(list)
    for dev, quantity, interval in measured_devices:
        groups[(dev.site_id, quantity, interval)].append(dev)
    grids = _grids({i for _, _, i in measured_devices}, measured, config)
    parts: list[DeviceTable] = []
    queries = 0
    for (site_id, quantity, interval), members in sorted(groups.items()):
        grid = grids[interval]
        counts = np.zeros((len(members), grid.n_windows), np.int64)
        if grid.n_windows > 0:
            rows_of: dict[str, list[int]] = defaultdict(list)  # a device back on a site twice
            for r, d in enumerate(members):
                rows_of[d.device_id].append(r)
            points = store.query(RangeQuery(
                quantity=quantity, start_ms=grid.first_ms, end_ms=grid.end_ms, site_id=site_id,
                every_s=grid.window_ms // 1000, agg=Aggregation.COUNT,
                limit=(len(members) + 1) * (grid.n_windows + 1)))
            queries += 1
            for p in points:
                i, rem = divmod(p.ts_ms - grid.first_ms, grid.window_ms)
                if not rem and 0 <= i < grid.n_windows and p.value > 0:
                    for r in rows_of.get(p.device_id, ()):
                        counts[r, i] = int(p.value)
        parts.append(_judge(members, grid, counts, measured, config, moved))
    table = _not_installed(DeviceTable.concat(parts), view, measured, excluded)
    return FleetCompleteness(measured, table, excluded, queries)


def _judge(devices: list[DeviceRef], grid: WindowGrid, counts: NDArray[Any], measured: Period,
           config: IndicatorConfig, moved: frozenset[str]) -> DeviceTable:
    """Completeness of ``devices`` from their reports per window of ``grid`` [n, n_windows]
    (:func:`~analytics.indicators.completeness.grid_completeness`): the one judgement both
    ways of counting end in."""
    life_start, life_end = _lives(devices, measured, grid, counts, moved)
    res = grid_completeness(grid=grid, counts=counts, life_start_ms=life_start,
                            life_end_ms=life_end, threshold_pct=config.active_threshold_pct)
    gap_s = grid.window_ms // 1000
    return DeviceTable([d.key for d in devices], expected=res.expected,
                       received=res.received, longest_gap_s=res.longest_gap_windows * gap_s,
                       gap_resolution_s=np.full(len(devices), gap_s, np.int64),
                       active=res.active)


def _not_installed(table: DeviceTable, view: RegistryView, measured: Period,
                   excluded: dict[str, str]) -> DeviceTable:
    """``table`` without the devices provisioned after the period that sent nothing for it
    (recorded in ``excluded``)."""
    devices = view.devices
    late = np.fromiter(((devices[k].created_ms or 0) >= measured.end_ms
                        for k in table.device_ids), bool, len(table))
    drop = late & (table.expected == 0)
    if not drop.any():
        return table
    for i in np.flatnonzero(drop).tolist():
        excluded[table.device_ids[i]] = EXCLUDED_NOT_INSTALLED
    keep = np.flatnonzero(~drop)
    ids = table.device_ids
    return DeviceTable([ids[i] for i in keep.tolist()], expected=table.expected[keep],
                       received=table.received[keep], longest_gap_s=table.longest_gap_s[keep],
                       gap_resolution_s=table.gap_resolution_s[keep], active=table.active[keep])
