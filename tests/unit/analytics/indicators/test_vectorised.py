"""The vectorised arithmetic against the one-device reference it replaces, on seeded random
cases (pure: no database)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pytest

from analytics.indicators.completeness import (
    DeviceCompleteness,
    DeviceTable,
    WindowGrid,
    active_device_ids,
    grid_completeness,
    longest_true_runs,
    window_grid,
)
from analytics.indicators.counters import window_volumes
from analytics.indicators.hourly.parts import (
    COUNTER_FIELDS,
    DECREASES,
    FIRST_TS,
    LAST_V,
    STEPS,
    DayPart,
    counter_summaries,
    decode_part,
    encode_part,
    join_counters,
    merge_parts,
    part_from_counts,
    part_from_raw,
)
from analytics.indicators.hourly.parts import N as N_READINGS
from analytics.water import daily_counter_volume_m3
from storage.clock import DAY_MS as DAY
from storage.clock import HOUR_MS as H
from storage.clock import cst_midnight_ms
from tests.unit.analytics.indicators._support import meter_readings


def _reference_edges(grid: WindowGrid, i0: int, i1: int, life_start_ms: int,
                  life_end_ms: int) -> dict[int, int]:
    """Windows the device's life covers only in part (installed or revoked mid-window), with
    the report intervals that fit into the covered part [count]."""
    edges: dict[int, int] = {}
    w = grid.window_ms
    for j in {i0 - 1, i1}:
        if not 0 <= j < grid.n_windows or i0 <= j < i1:
            continue
        start = grid.first_ms + j * w
        covered = min(start + w, life_end_ms) - max(start, life_start_ms)
        if covered > 0 and covered // grid.interval_ms > 0:
            edges[j] = covered // grid.interval_ms
    return edges


def _reference_completeness(
    *,
    device_id: str,
    grid: WindowGrid,
    counts: Mapping[int, float],
    life_start_ms: int,
    life_end_ms: int,
    threshold_pct: float,
) -> DeviceCompleteness:
    """The completeness of one device by a plain loop over its windows (the reference the
    vectorised :func:`grid_completeness` is checked against)."""
    i0, i1 = grid.index_range(life_start_ms, life_end_ms)
    edges = _reference_edges(grid, i0, i1, life_start_ms, life_end_ms)
    w = grid.window_ms
    received = 0
    longest = 0
    previous = i0 - 1  # index of the last window with a report
    for ts in sorted(counts):
        i, rem = divmod(ts - grid.first_ms, w)
        if rem or counts[ts] <= 0:
            continue
        if i in edges:
            received += min(int(counts[ts]), edges[i])
            continue
        if not i0 <= i < i1:
            continue
        received += min(int(counts[ts]), grid.k)
        longest = max(longest, i - previous - 1)
        previous = i
    longest = max(longest, i1 - previous - 1) if i1 > i0 else 0
    expected = (i1 - i0) * grid.k + sum(edges.values())
    pct = None if expected == 0 else 100.0 * received / expected
    return DeviceCompleteness(
        device_id=device_id,
        expected=expected,
        received=received,
        longest_gap_s=longest * w // 1000,
        gap_resolution_s=w // 1000,
        active=pct is not None and pct >= threshold_pct,
    )



@pytest.mark.parametrize("seed", range(30))
def test_grid_completeness_equals_a_per_window_loop(seed):
    rng = np.random.default_rng(seed)
    interval = int(rng.choice([300, 600, 900]))
    start = 1_748_736_000_000 + int(rng.integers(-3, 3)) * 3_600_000 + int(rng.integers(0, 2)) * 60_000
    end = start + int(rng.integers(1, 40)) * 3_600_000 + int(rng.integers(0, 3)) * 300_000
    grid = window_grid(interval_s=interval, start_ms=start, end_ms=end,
                       max_windows=int(rng.integers(3, 60)))
    n = 300
    counts = rng.integers(0, grid.k + 3, size=(n, grid.n_windows))
    counts[rng.random(counts.shape) < 0.3] = 0  # gaps
    counts[:20] = 0  # silent devices
    counts[20:40] = grid.k  # perfect ones
    span = grid.end_ms - grid.first_ms
    life_start = np.where(rng.random(n) < 0.5, start, grid.first_ms + rng.integers(-span, span, n))
    life_end = np.where(rng.random(n) < 0.5, end, life_start + rng.integers(0, span, n))
    life_start, life_end = np.maximum(life_start, start), np.minimum(life_end, end)
    life_end[:5] = life_start[:5]  # nothing expected
    threshold = float(rng.choice([50.0, 80.0, 100.0]))
    got = grid_completeness(grid=grid, counts=counts, life_start_ms=life_start.astype(np.int64),
                            life_end_ms=life_end.astype(np.int64), threshold_pct=threshold)
    w = grid.window_ms
    for i in range(n):
        ref = _reference_completeness(
            device_id="d", grid=grid, threshold_pct=threshold, life_start_ms=int(life_start[i]),
            life_end_ms=int(life_end[i]),
            counts={grid.first_ms + j * w: float(c) for j, c in enumerate(counts[i]) if c})
        assert (got.expected[i], got.received[i], got.longest_gap_windows[i] * w // 1000,
                bool(got.active[i])) == (ref.expected, ref.received, ref.longest_gap_s, ref.active), i


def test_grid_completeness_of_uint8_counts_above_255_intervals():
    # day windows of 300 s reports: k = 288 > 255, counts kept as uint8
    grid = window_grid(interval_s=300, start_ms=0, end_ms=10 * DAY, max_windows=10)
    assert grid.k == 288
    counts = np.array([[255] * 10, [0] * 10], np.uint8)
    got = grid_completeness(grid=grid, counts=counts, life_start_ms=np.zeros(2, np.int64),
                            life_end_ms=np.full(2, 10 * DAY, np.int64), threshold_pct=80)
    assert got.received.tolist() == [2550, 0] and got.expected.tolist() == [2880, 2880]
    assert got.longest_gap_windows.tolist() == [0, 10]


def test_longest_true_runs():
    mask = np.array([[0, 1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [0] * 7, [1, 0, 0, 0, 0, 0, 1]],
                    bool)
    assert longest_true_runs(mask).tolist() == [3, 7, 0, 1]
    assert longest_true_runs(np.zeros((2, 0), bool)).tolist() == [0, 0]


def test_device_table_is_a_mapping_of_device_completeness():
    table = DeviceTable(["b", "a"], expected=np.array([10, 4]), received=np.array([9, 0]),
                        longest_gap_s=np.array([0, 3600]), gap_resolution_s=np.array([3600, 3600]),
                        active=np.array([True, False]))
    as_dict = {"b": DeviceCompleteness("b", 10, 9, 0, 3600, True),
               "a": DeviceCompleteness("a", 4, 0, 3600, 3600, False)}
    assert table == as_dict and dict(table.items()) == as_dict and list(table) == ["b", "a"]
    assert table["a"].completeness_pct == 0.0 and "a" in table and "c" not in table
    assert list(table.values()) == list(as_dict.values())
    assert active_device_ids(table) == active_device_ids(as_dict) == {"b"}
    both = DeviceTable.concat([table, DeviceTable(["c"], expected=np.array([1]),
                                                  received=np.array([1]), longest_gap_s=np.array([0]),
                                                  gap_resolution_s=np.array([900]),
                                                  active=np.array([True]))])
    assert len(both) == 3 and both["c"] == DeviceCompleteness("c", 1, 1, 0, 900, True)
    with pytest.raises(KeyError):
        table["nope"]


# --- counter summaries and volumes ------------------------------------------------------------


def _summaries(ts: np.ndarray, values: np.ndarray, window_start: int, width: int) -> np.ndarray:
    day = (ts - window_start) // DAY
    keep = (day >= 0) & (day < width)
    return counter_summaries(day[keep], ts[keep], values[keep], width)


@pytest.mark.parametrize("seed", range(10))
def test_window_volumes_equal_daily_counter_volumes(seed):
    rng = np.random.default_rng(seed)
    first_day, n_days, margin = date(2025, 6, 1), int(rng.integers(1, 20)), 3
    window_first = first_day - timedelta(days=margin)
    window_start = cst_midnight_ms(window_first)
    width = n_days + 2 * margin
    meters = [meter_readings(rng, window_start - 2 * DAY, width + 4) for _ in range(25)]
    days = np.stack([_summaries(ts, v, window_start, width) for ts, v in meters])
    got = window_volumes(days, window_start_ms=window_start, first=margin, n_days=n_days,
                         rollover_m3=np.full(len(meters), np.nan))
    for i, (ts, v) in enumerate(meters):
        inside = (ts >= window_start) & (ts < window_start + width * DAY)  # what the store gives
        ref = daily_counter_volume_m3(ts_ms=ts[inside], values_m3=v[inside], first_day=first_day,
                                      n_days=n_days).sum()
        assert got[i] == pytest.approx(ref, rel=1e-12, abs=1e-9), i


def test_window_volumes_with_a_register_rollover_between_days():
    window_first = date(2025, 6, 1)
    start = cst_midnight_ms(window_first)
    # a 10,000 m³ register: 9,990 at the end of day 0, wraps to 15 on day 1 (+25 m³)
    ts = np.array([start + H, start + 20 * H, start + DAY + H, start + DAY + 5 * H], np.int64)
    v = np.array([9_900.0, 9_990.0, 15.0, 40.0])
    days = _summaries(ts, v, start, 7)[None]
    got = window_volumes(days, window_start_ms=start, first=3, n_days=1, rollover_m3=np.array([1e4]))
    ref_first = window_first + timedelta(days=3)
    ref = daily_counter_volume_m3(ts_ms=ts, values_m3=v, first_day=ref_first, n_days=1,
                                  rollover_m3=1e4).sum()
    assert got[0] == pytest.approx(ref) and ref == 0.0  # all of it before the period
    got = window_volumes(days, window_start_ms=start, first=0, n_days=2, rollover_m3=np.array([1e4]))
    ref = daily_counter_volume_m3(ts_ms=ts, values_m3=v, first_day=window_first, n_days=2,
                                  rollover_m3=1e4).sum()
    assert got[0] == pytest.approx(ref) == pytest.approx(90.0 + 25.0 + 25.0)


def test_counter_summaries_join_like_the_readings_they_summarise():
    rng = np.random.default_rng(3)
    ts, v = meter_readings(rng, 0, 1)
    cut = len(ts) // 2
    one = np.zeros(len(ts), np.int64)
    whole = counter_summaries(one, ts, v, 1)
    a = counter_summaries(one[:cut], ts[:cut], v[:cut], 1)
    b = counter_summaries(one[cut:], ts[cut:], v[cut:], 1)
    assert join_counters(a, b) == pytest.approx(whole)
    assert join_counters(a, np.zeros_like(b)).tolist() == a.tolist()
    assert join_counters(np.zeros_like(a), b).tolist() == b.tolist()
    steps = np.diff(v)
    assert whole[0, STEPS] == pytest.approx(steps[steps > 0].sum())
    assert whole[0, DECREASES] == (steps < 0).sum() and whole[0, N_READINGS] == len(ts)
    assert (whole[0, FIRST_TS], whole[0, LAST_V]) == (ts[0], v[-1])


def test_day_parts_merge_and_round_trip():
    day = 1_748_707_200_000  # a CST midnight
    ids = ["a", "b", "c"]
    morning = part_from_counts([("a", day, 12), ("c", day + H, 300)], day, ids)
    assert morning.counts[2, 1] == 255  # saturates
    evening = part_from_counts([("a", day + 20 * H, 11), ("d", day + 21 * H, 1)], day, ["a", "d"])
    merged = merge_parts(morning, evening)
    assert merged.device_ids == ("a", "b", "c", "d")
    assert merged.counts.sum(axis=1).tolist() == [23, 0, 255, 1]
    raw = part_from_raw([("a", day + 60_000, 1.0), ("a", day + 3 * H, 4.0), ("b", day + H, 2.0)],
                        day, ids)
    assert raw.counters is not None and raw.counts[0, 0] == 1 and raw.counts[0, 3] == 1
    assert raw.counters[:, STEPS].tolist() == [3.0, 0.0, 0.0]
    for part in (merged, raw):
        back = decode_part(*encode_part(part))
        assert back.device_ids == part.device_ids and back.counts.tolist() == part.counts.tolist()
        assert (back.counters is None) == (part.counters is None)
        if part.counters is not None:
            assert back.counters is not None and back.counters.tolist() == part.counters.tolist()
    empty = DayPart((), np.zeros((0, 24), np.uint8), np.zeros((0, len(COUNTER_FIELDS))))
    again = merge_parts(empty, raw)
    assert again.device_ids == raw.device_ids and again.counts.tolist() == raw.counts.tolist()
    assert again.counters is not None and again.counters.tolist() == raw.counters.tolist()
