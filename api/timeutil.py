"""Conversions between API datetimes and store epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime


def to_ms(dt: datetime) -> int:
    """Epoch milliseconds of ``dt`` (naive datetimes are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
