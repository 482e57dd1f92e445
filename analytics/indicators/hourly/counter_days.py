"""Flow-meter counter summaries (``COUNTER_FIELDS``) per device and CST day for an evaluation:
cached days from the table, every other hour from the store's ``raw_series``."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from analytics.indicators.hourly._store import RowIndex, spans, uncached_runs
from analytics.indicators.hourly.parts import (
    COUNTER_FIELDS,
    COUNTER_QUANTITIES,
    HOURS_PER_DAY,
    FloatArray,
    N,
    counter_summaries,
    join_counters,
)
from analytics.indicators.hourly.table import cached_rows, per_hour
from storage.clock import DAY_MS, HOUR_MS, cst_midnight_ms
from storage.telemetry import TelemetryStore


def _summaries_by_day(rows: Sequence[tuple[str, int, float]], index: RowIndex, start_ms: int,
                      n_devices: int, n_days: int) -> FloatArray:
    """``COUNTER_FIELDS`` per device and CST day [n_devices, n_days, 7] (day 0 from
    ``start_ms``) of ``raw_series`` rows (device then time ordered)."""
    pos = index.of([r[0] for r in rows])
    ts = np.fromiter((r[1] for r in rows), np.int64, len(rows))
    values = np.fromiter((r[2] for r in rows), np.float64, len(rows))
    keep = pos >= 0
    group = pos[keep] * n_days + (ts[keep] - start_ms) // DAY_MS
    return counter_summaries(group, ts[keep], values[keep], n_devices * n_days).reshape(
        n_devices, n_days, len(COUNTER_FIELDS))


@dataclass(frozen=True, slots=True)
class CounterDays:
    """Counter summaries per device and CST day, and which hours of the days they cover."""

    device_ids: Sequence[str]
    first_day: date
    days: FloatArray
    """``COUNTER_FIELDS`` per device and day [n_devices, n_days, 7]."""
    covered: NDArray[np.bool_]
    """Hours the summaries cover, for every device [n_days * 24] (day ``h // 24``)."""


def cached_counter_days(session: Session | None, store: TelemetryStore, *, quantity: str,
                        device_ids: Sequence[str], first_day: date,
                        n_days: int) -> tuple[CounterDays, int]:
    """Counter summaries (``COUNTER_FIELDS``) of ``device_ids`` per CST day from the cache (and
    the store for devices a row does not list), with the hours they cover; the reads made.
    :func:`fill_counter_days` adds hours from the store."""
    if quantity not in COUNTER_QUANTITIES:
        raise ValueError(f"{quantity} is not a counter quantity")
    n = len(device_ids)
    out = np.zeros((n, max(n_days, 0), len(COUNTER_FIELDS)))
    covered = np.zeros(max(n_days, 0) * HOURS_PER_DAY, bool)
    result = CounterDays(device_ids, first_day, out, covered)
    if not device_ids or n_days <= 0:
        return result, 0
    index = RowIndex(device_ids)
    start0 = cst_midnight_ms(first_day)
    reads = 0
    for row in cached_rows(session, quantity, first_day, first_day + timedelta(days=n_days - 1)).values():
        j = (row.day - first_day).days
        if row.device_ids and row.counters is None:  # a counter row without summaries: unusable
            continue
        covered[j * HOURS_PER_DAY:j * HOURS_PER_DAY + row.hours] = True
        rows = index(row.device_ids)
        keep = rows >= 0
        if rows.size:
            summaries = np.frombuffer(zlib.decompress(row.counters or b""), "<f8").reshape(
                rows.size, len(COUNTER_FIELDS))
            out[rows[keep], j] = summaries[keep]
        listed = np.zeros(n, bool)
        listed[rows[keep]] = True
        if not listed.all():  # registered after the day was cached: its cached hours from the store
            missing = [device_ids[i] for i in np.flatnonzero(~listed).tolist()]
            day_start = start0 + j * DAY_MS
            late = _summaries_by_day(store.raw_series(quantity, day_start, day_start + row.hours * HOUR_MS,
                                                      device_ids=missing), index, day_start, n, 1)
            reads += 1
            has = late[:, 0, N] > 0
            out[has, j] = late[has, 0]
    return result, reads


def fill_counter_days(store: TelemetryStore, quantity: str, days: CounterDays, *,
                      rows: NDArray[np.int64] | None = None, hours: NDArray[np.bool_] | None = None,
                      now_ms: int | None = None) -> int:
    """Add to ``days`` the readings of the uncached ``hours`` (default: all uncached hours) of
    the devices at ``rows`` (default: all) from ``store.raw_series``; the reads made. Hours are
    read in runs of consecutive hours (spans bounded in rows; one span after ``now_ms``)."""
    wanted = ~days.covered if hours is None else hours & ~days.covered
    ids = list(days.device_ids) if rows is None else [days.device_ids[i] for i in rows.tolist()]
    if not ids or not wanted.any():
        return 0
    n_days = days.days.shape[1]
    index = RowIndex(ids)
    target = np.arange(len(days.device_ids)) if rows is None else rows
    start0 = cst_midnight_ms(days.first_day)
    reads = 0
    for a, b in uncached_runs(~wanted):
        for s, e in spans(start0 + a * HOUR_MS, start0 + b * HOUR_MS, len(ids) * per_hour(quantity),
                           now_ms):
            found = store.raw_series(quantity, s, e, device_ids=ids)
            reads += 1
            if not found:
                continue
            tail = _summaries_by_day(found, index, start0, len(ids), n_days)
            for j in range((s - start0) // DAY_MS, (e - 1 - start0) // DAY_MS + 1):
                days.days[target, j] = join_counters(days.days[target, j], tail[:, j])
    return reads


def counter_days(session: Session | None, store: TelemetryStore, *, quantity: str,
                 device_ids: Sequence[str], first_day: date, n_days: int,
                 now_ms: int | None = None) -> tuple[FloatArray, int]:
    """Counter summaries (``COUNTER_FIELDS``) of each of ``device_ids`` per CST day
    [len(device_ids), n_days, 7] and the store reads made: cached hours from the table, every
    other hour from ``store.raw_series``."""
    days, reads = cached_counter_days(session, store, quantity=quantity, device_ids=device_ids,
                                      first_day=first_day, n_days=n_days)
    reads += fill_counter_days(store, quantity, days, now_ms=now_ms)
    return days.days, reads
