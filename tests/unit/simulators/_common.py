"""Shared constants for the simulator tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))
HOUR = 3_600_000
DAY = 24 * HOUR


def cst_ms(year: int, month: int, day: int, hour: int = 0) -> int:
    """UTC epoch ms of a China Standard Time wall-clock instant."""
    return int(datetime(year, month, day, hour, tzinfo=CST).timestamp() * 1000)


def local_hour(ts_ms: int) -> float:
    """China Standard Time clock hour."""
    return ((ts_ms + 8 * HOUR) % DAY) / HOUR
