"""The one home for time: epoch milliseconds, China Standard Time days, conversions.

Every timestamp farmtel stores or passes between packages is UTC epoch milliseconds (``ts_ms``),
as in ``storage.telemetry.Reading``. People see China Standard Time (UTC+8 all year, no
daylight saving): a "local day" is [00:00, 24:00) CST = [16:00 UTC of the day before, 16:00 UTC).
Because the offset is a whole number of hours, every epoch-aligned hourly window lies inside
exactly one local day.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

__all__ = [
    "CST",
    "CST_OFFSET_MS",
    "DAY_MS",
    "HOUR_MS",
    "MINUTE_MS",
    "SECOND_MS",
    "cst_date",
    "cst_datetime",
    "cst_midnight_ms",
    "cst_today",
    "from_ms",
    "now_ms",
    "to_ms",
]

SECOND_MS: Final = 1_000
"""One second [ms]."""
MINUTE_MS: Final = 60_000
"""One minute [ms]."""
HOUR_MS: Final = 3_600_000
"""One hour [ms]."""
DAY_MS: Final = 86_400_000
"""One day [ms]."""
CST_OFFSET_MS: Final = 8 * HOUR_MS
"""China Standard Time's offset from UTC (+8 h) [ms]."""
CST: Final = timezone(timedelta(hours=8), "CST")
"""China Standard Time as a ``tzinfo``."""

_EPOCH: Final = date(1970, 1, 1)


def now_ms() -> int:
    """The current time [UTC epoch ms]."""
    return time.time_ns() // 1_000_000


def to_ms(dt: datetime) -> int:
    """Epoch milliseconds of ``dt`` (a naive datetime is taken as UTC) [ms]."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def cst_datetime(ms: int) -> datetime:
    """The aware China Standard Time datetime of epoch milliseconds ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz=CST)


def cst_date(ms: int) -> date:
    """The CST calendar day of the UTC instant ``ms`` [epoch ms]."""
    return _EPOCH + timedelta(days=(ms + CST_OFFSET_MS) // DAY_MS)


def cst_midnight_ms(day: date) -> int:
    """UTC epoch milliseconds of 00:00 CST on ``day`` [ms]."""
    return (day - _EPOCH).days * DAY_MS - CST_OFFSET_MS


def cst_today(at_ms: int | None = None) -> date:
    """Today in China Standard Time, at ``at_ms`` [epoch ms] or now."""
    return cst_date(now_ms() if at_ms is None else at_ms)
