"""The indicator jobs: the monthly snapshot and the hourly-count cache.

* Monthly snapshot: cron on day 1 (UTC), plus a catch-up run when the scheduler starts. Both
  call :func:`~analytics.indicators.snapshots.take_monthly_snapshot`, which does nothing when
  the last complete month is already stored, so restarts never take a second snapshot of a
  month, and a scheduler that was down on day 1 catches up when it comes back. The cache is
  brought up to date first, so the month is counted from it.
* Hourly counts: every ``HOURLY_COUNTS_INTERVAL_S`` (and soon after start),
  :func:`~analytics.indicators.hourly.refresh.refresh_hourly_counts` adds the hours that ended to the
  cache the bureau page reads (:mod:`analytics.indicators.hourly`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import sessionmaker

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.hourly.refresh import RefreshReport, refresh_hourly_counts
from analytics.indicators.snapshots import take_monthly_snapshot
from storage.clock import now_ms
from storage.telemetry import TelemetryStore

MONTHLY_JOB_ID = "indicators-monthly-snapshot"
CATCH_UP_JOB_ID = "indicators-monthly-snapshot-catch-up"
HOURLY_COUNTS_JOB_ID = "indicators-hourly-counts"
HOURLY_COUNTS_INTERVAL_S = 600
"""How often the cache is refreshed [s]: the store is read for at most this much + an hour."""


def monthly_snapshot_job(sessions: sessionmaker[Any], store: TelemetryStore,
                         config: IndicatorConfig) -> int | None:
    """Take the last complete month's snapshot if missing; its id or None."""
    now = now_ms()
    refresh_hourly_counts(sessions, store, now_ms=now)
    return take_monthly_snapshot(sessions, store, now_ms=now, config=config)


def hourly_counts_job(sessions: sessionmaker[Any], store: TelemetryStore) -> RefreshReport:
    """Bring the hourly-count cache up to now."""
    return refresh_hourly_counts(sessions, store, now_ms=now_ms())


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


def register_hourly_counts_job(scheduler: Any, sessions: sessionmaker[Any], store: TelemetryStore,
                               *, interval_s: int = HOURLY_COUNTS_INTERVAL_S) -> None:
    """Add the cache refresh every ``interval_s`` [s], first run 30 s after start."""
    scheduler.add_job(hourly_counts_job, "interval", seconds=interval_s, args=(sessions, store),
                      id=HOURLY_COUNTS_JOB_ID, replace_existing=True, coalesce=True,
                      max_instances=1, misfire_grace_time=interval_s,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=30))
