"""Query parameters shared by the indicator and completeness routes: period and settings."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

from fastapi import HTTPException, status

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.periods import Period, parse_month, range_period, rolling_period
from api.timeutil import to_ms

MAX_PERIOD_DAYS = 400


def now_ms() -> int:
    """Current time [UTC epoch ms]."""
    return time.time_ns() // 1_000_000


def resolve_period(*, period: str | None, start: datetime | None, end: datetime | None,
                   default_days: int) -> Period:
    """``period=2025-06`` (a CST month), or ``start``/``end``, or the last ``default_days``."""
    try:
        if period is not None:
            if start is not None or end is not None:
                raise ValueError("give period or start/end, not both")
            return parse_month(period)
        now = now_ms()
        if start is None and end is None:
            return rolling_period(now, days=default_days)
        end_ms = to_ms(end) if end is not None else now
        start_ms = to_ms(start) if start is not None else end_ms - default_days * 86_400_000
        result = range_period(start_ms, end_ms)
        if end_ms - start_ms > MAX_PERIOD_DAYS * 86_400_000:
            raise ValueError(f"a period may span at most {MAX_PERIOD_DAYS} days")
        return result
    except (ValueError, OverflowError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def with_threshold(config: IndicatorConfig, threshold_pct: float | None) -> IndicatorConfig:
    """``config`` with the caller's activity threshold [%], if given."""
    if threshold_pct is None:
        return config
    return dataclasses.replace(config, active_threshold_pct=threshold_pct)
