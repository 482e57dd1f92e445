"""Fixtures for the water-management tests: a real SQLite telemetry store and writers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest

from analytics.water import local_midnight_ms
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import Reading

TEN_MIN_MS = 600_000
HOUR_MS = 3_600_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTelemetryStore]:
    """A fresh SQLite telemetry store in ``tmp_path``."""
    with SqliteTelemetryStore(tmp_path / "telemetry.db") as s:
        yield s


def at(day: date, hour: float) -> int:
    """UTC ms of ``hour`` o'clock CST on ``day``."""
    return local_midnight_ms(day=day) + round(hour * HOUR_MS)


def write_series(
    store: SqliteTelemetryStore,
    device_id: str,
    quantity: str,
    points: Sequence[tuple[int, float]],
    *,
    site_id: str = "field-1",
) -> None:
    """Write (ts_ms, value) points of one quantity."""
    store.write([
        Reading(device_id=device_id, quantity=quantity, value=v, ts_ms=ts, site_id=site_id)
        for ts, v in points
    ])


def ten_minute_day(day: date, values: Sequence[float]) -> list[tuple[int, float]]:
    """144 ten-minute points of a CST day: report k at 00:00 + 10·k min."""
    assert len(values) == 144
    start = local_midnight_ms(day=day)
    return [(start + k * TEN_MIN_MS, v) for k, v in enumerate(values)]
