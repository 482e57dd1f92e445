"""The analytics scheduler (APScheduler) and its jobs.

* ``field-water`` (hourly, and once at start): station ET0, field balances, irrigation advice
  (``analytics.water.job``); the day's depletion and RAW go to the alert engine.
* ``alerts-tick`` (every ``tick_interval_s``): no-data rules.
* ``indicators-monthly-snapshot`` (day 1, 00:30 UTC, and a catch-up at start): the last
  complete month's indicator snapshot, once per month (``analytics.indicators.jobs``).
* ``indicators-hourly-counts`` (every 10 minutes): readings per device and hour into the cache
  the indicator computation reads (``analytics.indicators.hourly``).
* ``telemetry-rollup`` (every 10 minutes): the store's ``maintain()``: hourly and daily
  rollups, late hours, raw retention (``storage.rollups``); removed, with one error logged,
  on a store that refuses them (``influxdb2://``).

Jobs are idempotent (upserts; the alert engine ignores a day it has already seen), so a
restart that reruns them changes nothing; jobs that must run once per period claim it first
(``analytics.scheduling.runs.claim_run``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.orm import sessionmaker

from analytics.alerts.service import AlertService
from analytics.indicators.jobs import register_hourly_counts_job, register_indicator_jobs
from analytics.water.job import field_water_job
from storage.clock import now_ms
from storage.rollups import RollupsUnsupported
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)
ROLLUP_JOB: Final = "telemetry-rollup"


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
    scheduler.add_job(maintain_job, "interval", args=(scheduler, store), minutes=10,
                      id=ROLLUP_JOB, replace_existing=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=30))
    return scheduler


def maintain_job(scheduler: BaseScheduler, store: TelemetryStore) -> None:
    """``store.maintain(now)``; a store that cannot keep rollups (``influxdb2://``) says so
    once, as an error with its reason, and the job is removed."""
    try:
        store.maintain(now_ms())
    except RollupsUnsupported as exc:
        log.error("%s: no rollups or raw retention, job removed: %s", ROLLUP_JOB, exc)
        scheduler.remove_job(ROLLUP_JOB)
