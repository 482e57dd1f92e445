"""What the indicator and completeness use cases share: the period asked for, and settings."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Final

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.periods import Period, parse_month, range_period, rolling_period
from storage.clock import DAY_MS, now_ms, to_ms
from storage.errors import InvalidInput

MAX_PERIOD_DAYS: Final = 400


def resolve_period(*, period: str | None, start: datetime | None, end: datetime | None,
                   default_days: int) -> Period:
    """``period=2025-06`` (a CST month), or ``start``/``end``, or the last ``default_days``
    (``InvalidInput`` for anything else)."""
    try:
        if period is not None:
            if start is not None or end is not None:
                raise ValueError("give period or start/end, not both")
            return parse_month(period)
        now = now_ms()
        if start is None and end is None:
            return rolling_period(now, days=default_days)
        end_ms = to_ms(end) if end is not None else now
        start_ms = to_ms(start) if start is not None else end_ms - default_days * DAY_MS
        result = range_period(start_ms, end_ms)
        if end_ms - start_ms > MAX_PERIOD_DAYS * DAY_MS:
            raise ValueError(f"a period may span at most {MAX_PERIOD_DAYS} days")
        return result
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInput(str(exc)) from exc


def with_threshold(config: IndicatorConfig, threshold_pct: float | None) -> IndicatorConfig:
    """``config`` with the caller's activity threshold [%], if given."""
    if threshold_pct is None:
        return config
    return dataclasses.replace(config, active_threshold_pct=threshold_pct)
