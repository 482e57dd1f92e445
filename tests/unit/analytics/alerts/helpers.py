"""Shared helpers of the alert tests: readings at fixed instants, and rule shorthands."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from analytics.alerts import AlertEngine, Transition, TransitionKind
from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS
from storage.telemetry import Reading

T0 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1000)
"""2026-05-01T00:00:00Z (08:00 local, UTC+8) [ms]."""
MIN, HOUR, DAY = MINUTE_MS, HOUR_MS, DAY_MS  # [ms]


def reading(quantity: str, value: float, ts_ms: int, *, device_id: str = "dev-1",
            device_type: str = "barn_climate", site_id: str = "site-1", farm_id: str = "farm-1",
            county: str = "shuocheng", quality: int = 0) -> Reading:
    """One reading with registry tags."""
    return Reading(device_id=device_id, quantity=quantity, value=value, ts_ms=ts_ms,
                   device_type=device_type, site_id=site_id, farm_id=farm_id, county=county,
                   quality=quality)


def feed(engine: AlertEngine, readings: Iterable[Reading]) -> list[Transition]:
    """Observe readings in order; every transition emitted."""
    out: list[Transition] = []
    for r in readings:
        out += engine.observe(r)
    return out


def kinds(transitions: Iterable[Transition]) -> list[TransitionKind]:
    """The kinds, in order."""
    return [t.kind for t in transitions]
