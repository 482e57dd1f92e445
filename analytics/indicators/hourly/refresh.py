"""The scheduled refresh that fills the cache: hours that ended are added to each day's row,
a day old enough is recomputed once in full and marked final."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from analytics.indicators.hourly._store import read_part
from analytics.indicators.hourly.parts import (
    COUNTER_QUANTITIES,
    HOURS_PER_DAY,
    DayPart,
    decode_part,
    empty_part,
    encode_part,
    list_key,
    merge_parts,
)
from analytics.indicators.hourly.table import HourlyCountDay, counted_quantities
from devices.registry import Device, utcnow
from storage.clock import DAY_MS, HOUR_MS, cst_date, cst_midnight_ms
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 40
"""Days back the refresh keeps complete: a month, its margin days and today."""
DEFAULT_SETTLE_S = 600
"""An hour is cached once it ended this long ago [s] (ingest latency, batching)."""
DEFAULT_FINAL_AFTER_S = 2 * 86_400
"""A day is recomputed in full, then left alone, once it ended this long ago [s]."""
_REFRESH_LOCK = threading.Lock()


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
