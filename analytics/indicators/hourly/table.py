"""The cache table ``indicator_hourly_counts`` (one row per CST day and counted quantity), the
quantities counted, and reading its rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from devices.catalogue import DEVICE_TYPES
from devices.registry import utcnow
from storage.clock import HOUR_MS, cst_midnight_ms
from storage.metadata import Base


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


def per_hour(quantity: str) -> int:
    """Most readings an hour a device counted on ``quantity`` makes (catalogue) [count]."""
    return max([3600 // t.report_interval_s for name, t in DEVICE_TYPES.items()
                if t.quantities and t.quantities[0] == quantity] or [12])


@dataclass(frozen=True, slots=True)
class CachedRow:
    """The columns of one cached row an evaluation reads."""

    day: date
    hours: int
    device_ids: str
    counts: bytes
    counters: bytes | None


def cached_rows(session: Session | None, quantity: str, first_day: date,
                 last_day: date) -> dict[date, CachedRow]:
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
    return {d: CachedRow(d, h, lists[key], c, k) for d, h, key, c, k in rows}


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
