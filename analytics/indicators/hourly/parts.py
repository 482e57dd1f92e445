"""One day's hourly counts of one quantity (``DayPart``): pure arrays, merged hour runs, and
the encoding of a cache row's columns (sorted device ids, zlib'd uint8 counts and float64
counter summaries)."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from storage.clock import HOUR_MS

HOURS_PER_DAY = 24
SATURATED = 255
"""Hourly counts are kept as uint8: at most this many readings an hour [count]."""
COUNTER_QUANTITIES = frozenset({"volume_m3"})

COUNTER_FIELDS = ("n", "first_ts_ms", "first_m3", "last_ts_ms", "last_m3", "steps_m3", "decreases")
N, FIRST_TS, FIRST_V, LAST_TS, LAST_V, STEPS, DECREASES = range(len(COUNTER_FIELDS))

FloatArray = NDArray[np.float64]
CountArray = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DayPart:
    """Hourly counts (and counter summaries) of one quantity over some hours of one CST day."""

    device_ids: tuple[str, ...]
    """Sorted."""
    counts: CountArray
    """Readings per device and hour of the day, uint8 [n, 24]."""
    counters: FloatArray | None
    """Counter summaries [n, 7] (``COUNTER_FIELDS``) for counter quantities, else None."""


def empty_part(counter: bool) -> DayPart:
    """A part with no device."""
    return DayPart((), np.zeros((0, HOURS_PER_DAY), np.uint8),
                   np.zeros((0, len(COUNTER_FIELDS))) if counter else None)


def _saturate(counts: NDArray[Any]) -> CountArray:
    out: CountArray = np.minimum(counts, SATURATED).astype(np.uint8)
    return out


def _positions(ids: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> NDArray[np.int64]:
    """Index in ``ids`` of each row's device (rows of devices not in ``ids``: -1)."""
    pos = {d: i for i, d in enumerate(ids)}
    return np.fromiter((pos.get(r[0], -1) for r in rows), np.int64, len(rows))


def part_from_counts(rows: Sequence[tuple[str, int, int]], day_start_ms: int,
                     device_ids: Sequence[str]) -> DayPart:
    """A part of the sorted ``device_ids`` from ``window_counts`` rows of hourly windows of one
    day (rows of other devices are ignored)."""
    ids = tuple(device_ids)
    index = _positions(ids, rows)
    keep = index >= 0
    counts = np.zeros((len(ids), HOURS_PER_DAY), np.int64)
    hours = (np.fromiter((r[1] for r in rows), np.int64, len(rows)) - day_start_ms) // HOUR_MS
    counts[index[keep], hours[keep]] = np.fromiter((r[2] for r in rows), np.int64, len(rows))[keep]
    return DayPart(ids, _saturate(counts), None)


def counter_summaries(group: NDArray[np.int64], ts_ms: NDArray[np.int64], values: FloatArray,
                      n_groups: int) -> FloatArray:
    """``COUNTER_FIELDS`` per group of readings [n_groups, 7]; each group's readings are one
    contiguous, time-ordered run. Steps are summed in time order; a decrease adds 0."""
    out = np.zeros((n_groups, len(COUNTER_FIELDS)))
    if group.size == 0:
        return out
    out[:, N] = np.bincount(group, minlength=n_groups)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], group.size] - 1
    g = group[starts]
    out[g, FIRST_TS], out[g, FIRST_V] = ts_ms[starts], values[starts]
    out[g, LAST_TS], out[g, LAST_V] = ts_ms[ends], values[ends]
    same = group[1:] == group[:-1]
    step = values[1:] - values[:-1]
    out[:, STEPS] = np.bincount(group[1:], weights=np.where(same & (step >= 0.0), step, 0.0),
                                minlength=n_groups)
    out[:, DECREASES] = np.bincount(group[1:], weights=same & (step < 0.0), minlength=n_groups)
    return out


def part_from_raw(rows: Sequence[tuple[str, int, float]], day_start_ms: int,
                  device_ids: Sequence[str]) -> DayPart:
    """A part of ``device_ids`` from ``raw_series`` rows of one day (device then time ordered;
    rows of other devices are ignored), with counter summaries."""
    ids = tuple(device_ids)
    index = _positions(ids, rows)
    keep = index >= 0
    index = index[keep]
    ts = np.fromiter((r[1] for r in rows), np.int64, len(rows))[keep]
    values = np.fromiter((r[2] for r in rows), np.float64, len(rows))[keep]
    counts = np.bincount(index * HOURS_PER_DAY + (ts - day_start_ms) // HOUR_MS,
                         minlength=len(ids) * HOURS_PER_DAY).reshape(len(ids), HOURS_PER_DAY)
    return DayPart(ids, _saturate(counts), counter_summaries(index, ts, values, len(ids)))


def join_counters(a: FloatArray, b: FloatArray) -> FloatArray:
    """Summaries of readings ``a`` followed in time by readings ``b``, row by row."""
    out = np.where((a[:, N] > 0)[:, None], a, b)
    both = (a[:, N] > 0) & (b[:, N] > 0)
    step = b[both, FIRST_V] - a[both, LAST_V]
    out[both, N] = a[both, N] + b[both, N]
    out[both, LAST_TS], out[both, LAST_V] = b[both, LAST_TS], b[both, LAST_V]
    out[both, STEPS] = a[both, STEPS] + np.where(step >= 0.0, step, 0.0) + b[both, STEPS]
    out[both, DECREASES] = a[both, DECREASES] + (step < 0.0) + b[both, DECREASES]
    return out


def merge_parts(a: DayPart, b: DayPart) -> DayPart:
    """``a`` and a part ``b`` of later hours of the same day, as one part (of both lists)."""
    if not a.device_ids and not b.device_ids:
        return b
    ids = a.device_ids if a.device_ids == b.device_ids else tuple(
        sorted(set(a.device_ids) | set(b.device_ids)))
    pos = {d: i for i, d in enumerate(ids)}
    ia = np.fromiter((pos[d] for d in a.device_ids), np.int64, len(a.device_ids))
    ib = np.fromiter((pos[d] for d in b.device_ids), np.int64, len(b.device_ids))
    counts = np.zeros((len(ids), HOURS_PER_DAY), np.int64)
    counts[ia] += a.counts
    counts[ib] += b.counts
    counters = None
    if a.counters is not None and b.counters is not None:
        ca = np.zeros((len(ids), len(COUNTER_FIELDS)))
        cb = np.zeros_like(ca)
        ca[ia], cb[ib] = a.counters, b.counters
        counters = join_counters(ca, cb)
    return DayPart(ids, _saturate(counts), counters)


def list_key(device_ids: str) -> str:
    """The ``list_key`` of a ``device_ids`` column value."""
    return hashlib.sha1(device_ids.encode(), usedforsecurity=False).hexdigest()


def encode_part(part: DayPart) -> tuple[str, bytes, bytes | None]:
    """(device_ids, counts, counters) column values of a part."""
    counters = None if part.counters is None else zlib.compress(
        np.ascontiguousarray(part.counters, "<f8").tobytes(), 1)
    return ("\n".join(part.device_ids),
            zlib.compress(np.ascontiguousarray(part.counts).tobytes(), 1), counters)


def split_ids(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def decode_part(device_ids: str, counts: bytes, counters: bytes | None) -> DayPart:
    """The part stored in a row's columns."""
    ids = split_ids(device_ids)
    c = np.frombuffer(zlib.decompress(counts), np.uint8).reshape(len(ids), HOURS_PER_DAY)
    k = None if counters is None else np.frombuffer(zlib.decompress(counters), "<f8").reshape(
        len(ids), len(COUNTER_FIELDS)).astype(np.float64)
    return DayPart(ids, c, k)
