"""The analytics scheduler (APScheduler) and its jobs.

* ``field-water`` (hourly, and once at start): station ET0, field balances, irrigation advice
  (``analytics.field_water_job``); the day's depletion and RAW go to the alert engine.
* ``alerts-tick`` (every ``tick_interval_s``): no-data rules.
* ``indicators-monthly-snapshot`` (day 1, 00:30 UTC, and a catch-up at start): the last
  complete month's indicator snapshot, once per month (``analytics.indicators.jobs``).
* ``indicators-hourly-counts`` (every 10 minutes): readings per device and hour into the cache
  the indicator computation reads (``analytics.indicators.hourly``).

Jobs are idempotent (upserts; the alert engine ignores a day it has already seen), so a
restart that reruns them changes nothing; jobs that must run once per period claim it first
(``analytics.job_runs.claim_run``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker

from analytics.alert_service import AlertService
from analytics.field_water_job import FieldWaterRun, run_field_water
from analytics.indicators.jobs import register_hourly_counts_job, register_indicator_jobs
from devices.registry import Site
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)

CST = timedelta(hours=8)


def cst_today(now: datetime | None = None) -> date:
    """Today in China Standard Time (UTC+8)."""
    return ((now or datetime.now(UTC)) + CST).date()


def cst_midnight_ms(day: date) -> int:
    """00:00 CST of ``day`` as UTC epoch ms."""
    return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - CST).timestamp() * 1000)


def field_water_job(sessions: sessionmaker[Any], store: TelemetryStore,
                    alerts: AlertService | None,
                    today: Callable[[], date] = cst_today) -> FieldWaterRun:
    """Run the field-water computation for today and feed the depletion rule."""
    day = today()
    run = run_field_water(sessions, store, today=day)
    if alerts is None or not run.advice:
        return run
    with sessions() as session:
        where = {a.site_id: session.get(Site, a.site_id) for a in run.advice}
        items = []
        for a in run.advice:
            site = where[a.site_id]
            if site is not None:
                items.append((a.site_id, site.farm_id, site.farm.county_id,
                              cst_midnight_ms(day), a.depletion_mm, a.raw_mm))
    alerts.water_balance(items)
    return run


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
        scheduler.add_job(lambda: alerts.tick(time.time_ns() // 1_000_000), "interval",
                          seconds=tick_interval_s, id="alerts-tick", replace_existing=True)
    register_indicator_jobs(scheduler, sessions, store)
    register_hourly_counts_job(scheduler, sessions, store)
    return scheduler
