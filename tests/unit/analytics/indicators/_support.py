"""Random telemetry shared by the indicator tests: a flow meter's counter readings."""

from __future__ import annotations

import numpy as np

from storage.clock import CST_OFFSET_MS, DAY_MS, MINUTE_MS


def meter_readings(rng: np.random.Generator, first_ms: int, days: int,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Readings of a counter from ``first_ms`` for ``days`` days: increments, resets, gaps over
    days, some at exact CST midnights; (timestamps [UTC ms], values [m³])."""
    ts: list[int] = []
    values: list[float] = []
    v = float(rng.uniform(0, 1000))
    t = first_ms + int(rng.integers(0, DAY_MS))
    while t < first_ms + days * DAY_MS:
        ts.append(t)
        values.append(round(v, 3))
        u = rng.random()
        v = 0.0 + rng.uniform(0, 5) if u < 0.03 else v + (rng.uniform(0, 50) if u < 0.6 else 0.0)
        gap = rng.random()
        if gap < 0.03:
            t += int(rng.integers(1, 4)) * DAY_MS  # silent for days
        elif gap < 0.08:
            t = ((t + CST_OFFSET_MS) // DAY_MS + 1) * DAY_MS - CST_OFFSET_MS  # the next CST midnight
        else:
            t += 10 * MINUTE_MS
    return np.array(ts, np.int64), np.array(values)
