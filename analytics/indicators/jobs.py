"""The monthly snapshot job: cron on day 1 (UTC), plus a catch-up run when the scheduler starts.

Both call :func:`~analytics.indicators.snapshots.take_monthly_snapshot`, which does nothing
when the last complete month is already stored, so restarts never take a second snapshot of a
month, and a scheduler that was down on day 1 catches up when it comes back.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import sessionmaker

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.snapshots import take_monthly_snapshot
from storage.telemetry import TelemetryStore

MONTHLY_JOB_ID = "indicators-monthly-snapshot"
CATCH_UP_JOB_ID = "indicators-monthly-snapshot-catch-up"


def monthly_snapshot_job(sessions: sessionmaker[Any], store: TelemetryStore,
                         config: IndicatorConfig) -> int | None:
    """Take the last complete month's snapshot if missing; its id or None."""
    return take_monthly_snapshot(sessions, store, now_ms=time.time_ns() // 1_000_000,
                                 config=config)


def register_indicator_jobs(scheduler: Any, sessions: sessionmaker[Any], store: TelemetryStore,
                            *, config: IndicatorConfig | None = None) -> None:
    """Add the monthly snapshot job (day 1, 00:30 UTC = 08:30 CST) and its start-up catch-up.

    ``scheduler`` is an APScheduler 3 scheduler (``add_job``).
    """
    args = (sessions, store, config or IndicatorConfig())
    scheduler.add_job(monthly_snapshot_job, "cron", day=1, hour=0, minute=30, timezone="UTC",
                      args=args, id=MONTHLY_JOB_ID, replace_existing=True,
                      misfire_grace_time=6 * 3600, coalesce=True, max_instances=1)
    scheduler.add_job(monthly_snapshot_job, "date", args=args, id=CATCH_UP_JOB_ID,
                      replace_existing=True, misfire_grace_time=None)
