"""Builders shared by the water-management tests: CST instants and series written to a store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from storage.clock import HOUR_MS, MINUTE_MS, cst_midnight_ms
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import Reading

TEN_MIN_MS = 10 * MINUTE_MS


def at(day: date, hour: float) -> int:
    """UTC ms of ``hour`` o'clock CST on ``day``."""
    return cst_midnight_ms(day) + round(hour * HOUR_MS)


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
    start = cst_midnight_ms(day)
    return [(start + k * TEN_MIN_MS, v) for k, v in enumerate(values)]
