"""Readings per device and hour, kept per CST day, so that a month's completeness reads a few
rows instead of every reading (200,000 devices x a month = ~1.8 billion readings).

One row per (CST day, counted quantity) in ``indicator_hourly_counts`` (metadata database):

* ``device_ids``: the registry devices of that quantity when the row was written, sorted, one
  per line (the same list day after day until the registry changes, so readers map it once);
* ``counts``: their readings per hour of the day, uint8 [n, 24] saturating at 255, zlib;
* ``counters`` (counter quantities, ``volume_m3``): per device, its readings of the covered
  hours reduced to what counter differencing needs (``COUNTER_FIELDS``: count, first and last
  time [UTC ms] and value [m³], the sum of the non-negative steps between consecutive readings
  [m³], the number of decreases), float64 [n, 7], zlib;
* ``hours``: hours covered from 00:00 CST (24 = the whole day); ``final``: recomputed in full
  once the day was ``final_after_s`` old, and never touched again.

The counted quantities are the representative quantities of the catalogue (the first of each
device type: ``vwc_pct``, ``air_temp_c``, ``body_temp_c``, ``volume_m3``). The scheduled
:func:`refresh_hourly_counts` adds the hours that ended at least ``settle_s`` ago. Readers
(:func:`hourly_counts`, :func:`counter_days`) take cached hours from here and every other hour
from the store (``window_counts``/``raw_series``), so results never depend on whether the job
has run (devices a row does not list — registered after it was written — are read from the
store too). What the cache can miss: readings stored for an hour after it was cached (more than
``settle_s`` late) count once the day is final (``final_after_s``, default 2 days, covers
gateway backlogs); readings arriving later than that do not count until
:func:`refresh_hourly_counts` is run with ``rebuild=True`` (after a backfill, for instance).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Boolean, Date, DateTime, Integer, LargeBinary, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from devices.catalogue import DEVICE_TYPES
from devices.registry import Device, utcnow
from storage.clock import DAY_MS, HOUR_MS, cst_date, cst_midnight_ms
from storage.metadata import Base
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)

HOURS_PER_DAY = 24
SATURATED = 255
"""Hourly counts are kept as uint8: at most this many readings an hour [count]."""
COUNTER_QUANTITIES = frozenset({"volume_m3"})

COUNTER_FIELDS = ("n", "first_ts_ms", "first_m3", "last_ts_ms", "last_m3", "steps_m3", "decreases")
N, FIRST_TS, FIRST_V, LAST_TS, LAST_V, STEPS, DECREASES = range(len(COUNTER_FIELDS))

DEFAULT_LOOKBACK_DAYS = 40
"""Days back the refresh keeps complete: a month, its margin days and today."""
DEFAULT_SETTLE_S = 600
"""An hour is cached once it ended this long ago [s] (ingest latency, batching)."""
DEFAULT_FINAL_AFTER_S = 2 * 86_400
"""A day is recomputed in full, then left alone, once it ended this long ago [s]."""
_MAX_ROWS_PER_READ = 1_000_000  # store rows one bulk read may return (memory bound)

_REFRESH_LOCK = threading.Lock()

FloatArray = NDArray[np.float64]
CountArray = NDArray[np.uint8]


class HourlyCountDay(Base):
    """Readings per device and hour of one quantity on one CST day (see the module docstring)."""

    __tablename__ = "indicator_hourly_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    quantity: Mapped[str] = mapped_column(String(64), primary_key=True)
    hours: Mapped[int] = mapped_column(Integer)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    n_devices: Mapped[int] = mapped_column(Integer)
    list_key: Mapped[str] = mapped_column(String(40))
    """SHA-1 of ``device_ids``: readers fetch each distinct list once."""
    device_ids: Mapped[str] = mapped_column(Text)
    counts: Mapped[bytes] = mapped_column(LargeBinary)
    counters: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def counted_quantities() -> dict[str, str]:
    """Device type → the quantity whose readings are counted for it (gateways have none)."""
    return {name: t.quantities[0] for name, t in DEVICE_TYPES.items() if t.quantities}


def _per_hour(quantity: str) -> int:
    """Most readings an hour a device counted on ``quantity`` makes (catalogue) [count]."""
    return max([3600 // t.report_interval_s for name, t in DEVICE_TYPES.items()
                if t.quantities and t.quantities[0] == quantity] or [12])


# -- one day's part: pure arrays -------------------------------------------------------------


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


def _split_ids(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def decode_part(device_ids: str, counts: bytes, counters: bytes | None) -> DayPart:
    """The part stored in a row's columns."""
    ids = _split_ids(device_ids)
    c = np.frombuffer(zlib.decompress(counts), np.uint8).reshape(len(ids), HOURS_PER_DAY)
    k = None if counters is None else np.frombuffer(zlib.decompress(counters), "<f8").reshape(
        len(ids), len(COUNTER_FIELDS)).astype(np.float64)
    return DayPart(ids, c, k)


# -- reading the store -----------------------------------------------------------------------


def _spans(start_ms: int, end_ms: int, n_devices: int,
           now_ms: int | None = None) -> Iterator[tuple[int, int]]:
    """Whole-hour spans covering [start_ms, end_ms), each short enough that a bulk read of
    ``n_devices`` devices stays under ``_MAX_ROWS_PER_READ`` rows (one row an hour each); what
    lies after ``now_ms`` (no readings but a clock running ahead) is one span."""
    step = max(1, _MAX_ROWS_PER_READ // max(n_devices, 1)) * HOUR_MS
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
    for a, b in _spans(start_ms, end_ms, len(ids) * (_per_hour(quantity) if counter else 1)):
        if counter:
            piece = part_from_raw(store.raw_series(quantity, a, b, device_ids=ids), day_start, ids)
        else:
            piece = part_from_counts(store.window_counts(quantity, a, b, every_s=HOUR_MS // 1000,
                                                         device_ids=ids), day_start, ids)
        reads += 1
        part = merge_parts(part, piece)
    return part, reads


# -- the scheduled refresh ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one refresh did."""

    rows_written: int
    hours_read: int
    """Quantity-hours read from the store."""
    store_reads: int


def _ids_by_quantity(session: Session) -> dict[str, list[str]]:
    quantity_of = counted_quantities()
    out: dict[str, list[str]] = {q: [] for q in sorted(set(quantity_of.values()))}
    for did, dtype in session.execute(select(Device.id, Device.type).order_by(Device.id)):
        q = quantity_of.get(dtype)
        if q is not None:
            out[q].append(did)
    return out


def refresh_hourly_counts(sessions: sessionmaker[Any], store: TelemetryStore, *, now_ms: int,
                          lookback_days: int = DEFAULT_LOOKBACK_DAYS,
                          settle_s: int = DEFAULT_SETTLE_S,
                          final_after_s: int = DEFAULT_FINAL_AFTER_S,
                          rebuild: bool = False) -> RefreshReport:
    """Bring the cache up to ``now_ms`` for the last ``lookback_days`` CST days and today.

    Per day and quantity: hours that ended ``settle_s`` ago are added to the row; a day that
    ended ``final_after_s`` ago is recomputed in full once and marked final. ``rebuild``
    recomputes every day of the window (after a backfill or registry import). One refresh at a
    time per process; each row is committed on its own.
    """
    with _REFRESH_LOCK:
        with sessions() as s:
            ids_by_q = _ids_by_quantity(s)
            first = cst_date(now_ms) - timedelta(days=lookback_days)
            state = {(d, q): (h, f) for d, q, h, f in s.execute(
                select(HourlyCountDay.day, HourlyCountDay.quantity, HourlyCountDay.hours,
                       HourlyCountDay.final).where(HourlyCountDay.day >= first))}
        written = hours_read = reads = 0
        day = first
        while (day_start := cst_midnight_ms(day)) <= now_ms:
            target = min(HOURS_PER_DAY, max(0, (now_ms - settle_s * 1000 - day_start) // HOUR_MS))
            final_due = target == HOURS_PER_DAY and now_ms >= day_start + DAY_MS + final_after_s * 1000
            for quantity, ids in ids_by_q.items():
                hours, final = state.get((day, quantity), (0, False))
                if target == 0 or (final and not rebuild):
                    continue
                h0 = 0 if rebuild or final_due else hours
                if h0 >= target:
                    continue
                part, n = read_part(store, quantity, ids, day_start + h0 * HOUR_MS,
                                    day_start + target * HOUR_MS)
                reads += n
                hours_read += target - h0
                if h0 > 0:  # after the cached hours, of the devices listed then and of new ones
                    cached = _load(sessions, day, quantity)
                    new_ids = sorted(set(ids) - set(cached.device_ids))
                    if new_ids:
                        early, n = read_part(store, quantity, new_ids, day_start,
                                             day_start + h0 * HOUR_MS)
                        reads += n
                        cached = merge_parts(cached, early)
                    part = merge_parts(cached, part)
                written += _save(sessions, day, quantity, part, hours=target, final=final_due)
            day += timedelta(days=1)
        if written:
            log.info("hourly counts: %d rows written, %d quantity-hours read in %d reads",
                     written, hours_read, reads)
        return RefreshReport(written, hours_read, reads)


def _load(sessions: sessionmaker[Any], day: date, quantity: str) -> DayPart:
    """The cached part of one row (an empty part if there is none)."""
    with sessions() as s:
        row = s.get(HourlyCountDay, (day, quantity))
        if row is None:
            return empty_part(quantity in COUNTER_QUANTITIES)
        return decode_part(row.device_ids, row.counts, row.counters)


def _save(sessions: sessionmaker[Any], day: date, quantity: str, part: DayPart, *, hours: int,
          final: bool) -> int:
    """Upsert one row; 1 if written."""
    with sessions() as s:
        row = s.get(HourlyCountDay, (day, quantity))
        ids, counts, counters = encode_part(part)
        values = {"hours": hours, "final": final, "n_devices": len(part.device_ids),
                  "list_key": list_key(ids), "device_ids": ids, "counts": counts, "counters": counters,
                  "updated_at": utcnow()}
        if row is None:
            s.add(HourlyCountDay(day=day, quantity=quantity, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        try:
            s.commit()
        except IntegrityError:  # another scheduler wrote it first: its row is as good
            s.rollback()
            return 0
    return 1


# -- readers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    day: date
    hours: int
    device_ids: str
    counts: bytes
    counters: bytes | None


def _cached_rows(session: Session | None, quantity: str, first_day: date,
                 last_day: date) -> dict[date, _Row]:
    """The rows of ``quantity`` from ``first_day`` to ``last_day``; each distinct device list
    is fetched once (rows listing the same devices share one string)."""
    if session is None:
        return {}
    t = HourlyCountDay
    rows = session.execute(select(t.day, t.hours, t.list_key, t.counts, t.counters).where(
        t.quantity == quantity, t.day >= first_day, t.day <= last_day)).all()
    lists: dict[str, str] = {}
    for day, _, key, _, _ in rows:
        if key not in lists:
            lists[key] = session.scalars(select(t.device_ids).where(
                t.quantity == quantity, t.day == day)).one()
    return {d: _Row(d, h, lists[key], c, k) for d, h, key, c, k in rows}


class _RowIndex:
    """Row positions of a row's device ids in the caller's order (-1: not wanted); consecutive
    days usually list the same devices, so the last list's mapping is reused."""

    def __init__(self, devices: Sequence[str]) -> None:
        self._pos = {d: i for i, d in enumerate(devices)}
        self._text: str | None = None
        self._index = np.zeros(0, np.int64)

    def __call__(self, text: str) -> NDArray[np.int64]:
        if text != self._text:
            ids = _split_ids(text)
            self._index = np.fromiter((self._pos.get(d, -1) for d in ids), np.int64, len(ids))
            self._text = text
        return self._index

    def of(self, ids: Sequence[str]) -> NDArray[np.int64]:
        """Positions of ``ids`` (-1: not wanted)."""
        return np.fromiter((self._pos.get(d, -1) for d in ids), np.int64, len(ids))


def _uncached_runs(covered: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[a, b) index runs where ``covered`` is False."""
    edges = np.diff(np.r_[0, (~covered).astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


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
    index = _RowIndex(device_ids)
    # days listing the same devices (usually all) are copied side by side in the rows' own
    # order, then put in the caller's order with one scatter per list, not one per day
    same_list: dict[str, list[tuple[_Row, int, int, int]]] = defaultdict(list)
    for row in _cached_rows(session, quantity, cst_date(start_ms), cst_date(end_ms - 1)).values():
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
            for a, b in _uncached_runs(~hours):
                reads += _counts_from_store(store, quantity, missing, index, out, start_ms, a, b,
                                            now_ms)
    for a, b in _uncached_runs(covered):
        reads += _counts_from_store(store, quantity, device_ids, index, out, start_ms, a, b, now_ms)
    return out, reads


def _counts_from_store(store: TelemetryStore, quantity: str, device_ids: Sequence[str],
                       index: _RowIndex, out: CountArray, start_ms: int, a: int, b: int,
                       now_ms: int | None) -> int:
    """Hours ``[a, b)`` of ``out`` (hour 0 at ``start_ms``) for ``device_ids`` from the store;
    the reads made."""
    reads = 0
    for s, e in _spans(start_ms + a * HOUR_MS, start_ms + b * HOUR_MS, len(device_ids), now_ms):
        rows = store.window_counts(quantity, s, e, every_s=HOUR_MS // 1000, device_ids=device_ids)
        reads += 1
        if rows:
            pos = index.of([r[0] for r in rows])
            hours = (np.fromiter((r[1] for r in rows), np.int64, len(rows)) - start_ms) // HOUR_MS
            n = np.fromiter((r[2] for r in rows), np.int64, len(rows))
            keep = pos >= 0
            out[pos[keep], hours[keep]] = np.minimum(n[keep], SATURATED)
    return reads


def _summaries_by_day(rows: Sequence[tuple[str, int, float]], index: _RowIndex, start_ms: int,
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
    index = _RowIndex(device_ids)
    start0 = cst_midnight_ms(first_day)
    reads = 0
    for row in _cached_rows(session, quantity, first_day, first_day + timedelta(days=n_days - 1)).values():
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
    index = _RowIndex(ids)
    target = np.arange(len(days.device_ids)) if rows is None else rows
    start0 = cst_midnight_ms(days.first_day)
    reads = 0
    for a, b in _uncached_runs(~wanted):
        for s, e in _spans(start0 + a * HOUR_MS, start0 + b * HOUR_MS, len(ids) * _per_hour(quantity),
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


def cache_frontier(session: Session) -> int | None:
    """The instant up to which every counted quantity is cached [UTC ms]: the end of the
    cached hours of each quantity's latest row, the earliest of them; None without rows."""
    ends = []
    for quantity in sorted(set(counted_quantities().values())):
        latest = session.execute(select(HourlyCountDay.day, HourlyCountDay.hours).where(
            HourlyCountDay.quantity == quantity).order_by(HourlyCountDay.day.desc()).limit(1)).first()
        if latest is None:
            return None
        ends.append(cst_midnight_ms(latest[0]) + latest[1] * HOUR_MS)
    return min(ends)


def cached_days(session: Session, *, first_day: date, last_day: date) -> Mapping[tuple[date, str], int]:
    """(day, quantity) → hours cached, for monitoring and tests."""
    return {(d, q): h for d, q, h in session.execute(
        select(HourlyCountDay.day, HourlyCountDay.quantity, HourlyCountDay.hours)
        .where(HourlyCountDay.day >= first_day, HourlyCountDay.day <= last_day))}
