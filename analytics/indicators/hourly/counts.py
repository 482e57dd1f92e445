"""Readings per device and hour for an evaluation: cached hours from the table, every other
hour (and devices a row does not list) from the store's ``window_counts``."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sqlalchemy.orm import Session

from analytics.indicators.hourly._store import RowIndex, spans, uncached_runs
from analytics.indicators.hourly.parts import HOURS_PER_DAY, SATURATED, CountArray
from analytics.indicators.hourly.table import CachedRow, cached_rows
from storage.clock import HOUR_MS, cst_date, cst_midnight_ms
from storage.telemetry import TelemetryStore


def hourly_counts(session: Session | None, store: TelemetryStore, *, quantity: str,
                  device_ids: Sequence[str], start_ms: int, end_ms: int,
                  now_ms: int | None = None) -> tuple[CountArray, int]:
    """Readings of each of ``device_ids`` per hour of ``[start_ms, end_ms)`` (whole hours):
    uint8 [len(device_ids), hours] saturating at 255, and the store reads made. Cached hours
    come from the table (no session: none), the others from ``store.window_counts``. Sorted
    ``device_ids`` (the rows' order) save mapping them."""
    if start_ms % HOUR_MS or end_ms % HOUR_MS or end_ms < start_ms:
        raise ValueError("hourly_counts needs whole hours")
    n_hours = (end_ms - start_ms) // HOUR_MS
    out = np.zeros((len(device_ids), n_hours), np.uint8)
    if not device_ids or n_hours == 0:
        return out, 0
    covered = np.zeros(n_hours, bool)
    index = RowIndex(device_ids)
    # days listing the same devices (usually all) are copied side by side in the rows' own
    # order, then put in the caller's order with one scatter per list, not one per day
    same_list: dict[str, list[tuple[CachedRow, int, int, int]]] = defaultdict(list)
    for row in cached_rows(session, quantity, cst_date(start_ms), cst_date(end_ms - 1)).values():
        offset = (cst_midnight_ms(row.day) - start_ms) // HOUR_MS
        a, b = max(offset, 0), min(offset + row.hours, n_hours)
        if a < b:
            covered[a:b] = True
            same_list[row.device_ids].append((row, offset, a, b))
    reads = 0
    asked = "\n".join(device_ids)
    for text, days in same_list.items():
        if text == asked:  # the caller asks for the row's devices in its order: copy as they are
            for row, offset, a, b in days:
                counts = np.frombuffer(zlib.decompress(row.counts), np.uint8).reshape(
                    len(device_ids), HOURS_PER_DAY)
                out[:, a:b] = counts[:, a - offset:b - offset]
            continue
        rows = index(text)
        keep = rows >= 0
        if rows.size:
            lo, hi = min(a for _, _, a, _ in days), max(b for _, _, _, b in days)
            block = np.zeros((rows.size, hi - lo), np.uint8)
            for row, offset, a, b in days:
                counts = np.frombuffer(zlib.decompress(row.counts), np.uint8).reshape(
                    rows.size, HOURS_PER_DAY)
                block[:, a - lo:b - lo] = counts[:, a - offset:b - offset]
            if len(same_list) == 1 and bool(keep.all()):
                out[rows, lo:hi] = block
            else:  # the lists cover different days: add each list's hours
                out[rows[keep], lo:hi] += block[keep]
        listed = np.zeros(len(device_ids), bool)
        listed[rows[keep]] = True
        if not listed.all():  # registered after these days were cached: from the store
            missing = [device_ids[i] for i in np.flatnonzero(~listed).tolist()]
            hours = np.zeros(n_hours, bool)
            for _, _, a, b in days:
                hours[a:b] = True
            for a, b in uncached_runs(~hours):
                reads += _counts_from_store(store, quantity, missing, index, out, start_ms, a, b,
                                            now_ms)
    for a, b in uncached_runs(covered):
        reads += _counts_from_store(store, quantity, device_ids, index, out, start_ms, a, b, now_ms)
    return out, reads


def _counts_from_store(store: TelemetryStore, quantity: str, device_ids: Sequence[str],
                       index: RowIndex, out: CountArray, start_ms: int, a: int, b: int,
                       now_ms: int | None) -> int:
    """Hours ``[a, b)`` of ``out`` (hour 0 at ``start_ms``) for ``device_ids`` from the store;
    the reads made."""
    reads = 0
    for s, e in spans(start_ms + a * HOUR_MS, start_ms + b * HOUR_MS, len(device_ids), now_ms):
        rows = store.window_counts(quantity, s, e, every_s=HOUR_MS // 1000, device_ids=device_ids)
        reads += 1
        if rows:
            pos = index.of([r[0] for r in rows])
            hours = (np.fromiter((r[1] for r in rows), np.int64, len(rows)) - start_ms) // HOUR_MS
            n = np.fromiter((r[2] for r in rows), np.int64, len(rows))
            keep = pos >= 0
            out[pos[keep], hours[keep]] = np.minimum(n[keep], SATURATED)
    return reads
