"""The analytics scheduler (APScheduler) and its jobs.

* ``field-water`` (hourly, and once at start): station ET0, field balances, irrigation advice
  (``analytics.water.job``); the day's depletion and RAW go to the alert engine.
* ``alerts-tick`` (every ``tick_interval_s``): no-data rules.
* ``indicators-monthly-snapshot`` (day 1, 00:30 UTC, and a catch-up at start): the last
  complete month's indicator snapshot, once per month (``analytics.indicators.jobs``).
* ``indicators-hourly-counts`` (every 10 minutes): readings per device and hour into the cache
  the indicator computation reads (``analytics.indicators.hourly``).
* ``telemetry-rollup`` (every 10 minutes): the store's ``maintain()``: hourly and daily
  rollups, late hours, raw retention (``storage.rollups``).

Jobs are idempotent (upserts; the alert engine ignores a day it has already seen), so a
restart that reruns them changes nothing; jobs that must run once per period claim it first
(``analytics.scheduling.runs.claim_run``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker

from analytics.alerts.service import AlertService
from analytics.indicators.jobs import register_hourly_counts_job, register_indicator_jobs
from analytics.water.job import field_water_job
from storage.clock import now_ms
from storage.telemetry import TelemetryStore


def build_scheduler(sessions: sessionmaker[Any], store: TelemetryStore, *,
                    alerts: AlertService | None = None, field_water_interval_s: int = 3600,
                    tick_interval_s: int = 60) -> BackgroundScheduler:
    """A UTC background scheduler with farmtel's jobs, coalescing missed runs."""
    scheduler = BackgroundScheduler(timezone="UTC",
                                    job_defaults={"coalesce": True, "max_instances": 1,
                                                  "misfire_grace_time": 3600})
    scheduler.add_job(field_water_job, "interval", seconds=field_water_interval_s,
                      args=(sessions, store, alerts), id="field-water", replace_existing=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=5))
    if alerts is not None:
        scheduler.add_job(lambda: alerts.tick(now_ms()), "interval",
                          seconds=tick_interval_s, id="alerts-tick", replace_existing=True)
    register_indicator_jobs(scheduler, sessions, store)
    register_hourly_counts_job(scheduler, sessions, store)
    scheduler.add_job(lambda: store.maintain(now_ms()), "interval", minutes=10,
                      id="telemetry-rollup", replace_existing=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=30))
    return scheduler
