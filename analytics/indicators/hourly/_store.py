"""Bulk reads of the store for the cache and its readers, bounded in rows per read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from analytics.indicators.hourly.parts import (
    COUNTER_FIELDS,
    COUNTER_QUANTITIES,
    HOURS_PER_DAY,
    DayPart,
    merge_parts,
    part_from_counts,
    part_from_raw,
    split_ids,
)
from analytics.indicators.hourly.table import per_hour
from storage.clock import HOUR_MS, cst_date, cst_midnight_ms
from storage.telemetry import TelemetryStore

MAX_ROWS_PER_READ = 1_000_000
"""Store rows one bulk read may return (memory bound)."""


def spans(start_ms: int, end_ms: int, n_devices: int,
           now_ms: int | None = None) -> Iterator[tuple[int, int]]:
    """Whole-hour spans covering [start_ms, end_ms), each short enough that a bulk read of
    ``n_devices`` devices stays under ``MAX_ROWS_PER_READ`` rows (one row an hour each); what
    lies after ``now_ms`` (no readings but a clock running ahead) is one span."""
    step = max(1, MAX_ROWS_PER_READ // max(n_devices, 1)) * HOUR_MS
    past_end = end_ms if now_ms is None else max(start_ms, min(end_ms, now_ms))
    for a in range(start_ms, past_end, step):
        yield a, min(a + step, past_end)
    if past_end < end_ms:
        yield past_end, end_ms


def read_part(store: TelemetryStore, quantity: str, device_ids: Sequence[str], start_ms: int,
              end_ms: int) -> tuple[DayPart, int]:
    """Hours ``[start_ms, end_ms)`` of one CST day read from the store, and the reads made."""
    day_start = cst_midnight_ms(cst_date(start_ms))
    counter = quantity in COUNTER_QUANTITIES
    ids = sorted(device_ids)
    part = DayPart(tuple(ids), np.zeros((len(ids), HOURS_PER_DAY), np.uint8),
                   np.zeros((len(ids), len(COUNTER_FIELDS))) if counter else None)
    reads = 0
    if not ids:
        return part, reads
    for a, b in spans(start_ms, end_ms, len(ids) * (per_hour(quantity) if counter else 1)):
        if counter:
            piece = part_from_raw(store.raw_series(quantity, a, b, device_ids=ids), day_start, ids)
        else:
            piece = part_from_counts(store.window_counts(quantity, a, b, every_s=HOUR_MS // 1000,
                                                         device_ids=ids), day_start, ids)
        reads += 1
        part = merge_parts(part, piece)
    return part, reads


class RowIndex:
    """Row positions of a row's device ids in the caller's order (-1: not wanted); consecutive
    days usually list the same devices, so the last list's mapping is reused."""

    def __init__(self, devices: Sequence[str]) -> None:
        self._pos = {d: i for i, d in enumerate(devices)}
        self._text: str | None = None
        self._index = np.zeros(0, np.int64)

    def __call__(self, text: str) -> NDArray[np.int64]:
        if text != self._text:
            ids = split_ids(text)
            self._index = np.fromiter((self._pos.get(d, -1) for d in ids), np.int64, len(ids))
            self._text = text
        return self._index

    def of(self, ids: Sequence[str]) -> NDArray[np.int64]:
        """Positions of ``ids`` (-1: not wanted)."""
        return np.fromiter((self._pos.get(d, -1) for d in ids), np.int64, len(ids))


def uncached_runs(covered: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[a, b) index runs where ``covered`` is False."""
    edges = np.diff(np.r_[0, (~covered).astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))
