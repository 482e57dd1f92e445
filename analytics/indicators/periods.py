"""Reporting periods: calendar months in China Standard Time, or any [start, end) range.

The bureau's months are local months: 2025-06 is [2025-06-01 00:00, 2025-07-01 00:00) CST
= [2025-05-31 16:00, 2025-06-30 16:00) UTC. Both ends are multiples of every catalogue report
interval (300, 600, 900 s), so COUNT windows of the store line up with the period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from storage.clock import DAY_MS, MINUTE_MS, cst_date, cst_midnight_ms, from_ms

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC range ``[start_ms, end_ms)`` [epoch ms] with a label (``2025-06``)."""

    start_ms: int
    end_ms: int
    label: str

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("a period must end after it starts")

    @property
    def is_month(self) -> bool:
        """True for a calendar-month period."""
        return _MONTH.fullmatch(self.label) is not None

    @property
    def end_date(self) -> date:
        """CST date of the period's last instant (used for the target trajectory)."""
        return cst_date(self.end_ms - 1)

    def clipped(self, now_ms: int) -> Period:
        """The part of the period up to ``now_ms`` (itself if it is over)."""
        if now_ms >= self.end_ms:
            return self
        return Period(self.start_ms, max(now_ms, self.start_ms + 1), self.label)


def month_period(year: int, month: int) -> Period:
    """The CST calendar month ``year-month``."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, not {month}")
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period(cst_midnight_ms(first), cst_midnight_ms(following),
                  f"{year:04d}-{month:02d}")


def parse_month(label: str) -> Period:
    """``2025-06`` → that CST month; ``ValueError`` for anything else."""
    m = _MONTH.fullmatch(label)
    if m is None:
        raise ValueError(f"a month looks like 2025-06, not {label!r}")
    return month_period(int(m.group(1)), int(m.group(2)))


def month_containing(ts_ms: int) -> Period:
    """The CST month that contains the instant ``ts_ms``."""
    d = cst_date(ts_ms)
    return month_period(d.year, d.month)


def previous_month(ts_ms: int) -> Period:
    """The CST month before the one containing ``ts_ms`` (the last complete month)."""
    first = month_containing(ts_ms)
    d = cst_date(first.start_ms) - timedelta(days=1)
    return month_period(d.year, d.month)


def range_period(start_ms: int, end_ms: int) -> Period:
    """An arbitrary period, labelled with its UTC ends in ISO 8601."""
    def iso(ms: int) -> str:
        return from_ms(ms).strftime("%Y-%m-%dT%H:%MZ")

    return Period(start_ms, end_ms, f"{iso(start_ms)}/{iso(end_ms)}")


def rolling_period(now_ms: int, *, days: int = 30) -> Period:
    """The ``days`` days up to the last full minute at ``now_ms``."""
    end = now_ms - now_ms % MINUTE_MS
    return range_period(end - days * DAY_MS, end)
