"""The analytics scheduler (APScheduler); jobs are registered here as analytics grow."""

from __future__ import annotations

from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker

from storage.telemetry import TelemetryStore


def build_scheduler(sessions: sessionmaker[Any], store: TelemetryStore) -> BackgroundScheduler:
    """A UTC background scheduler with farmtel's jobs (none yet), coalescing missed runs."""
    del sessions, store  # used by the analytics jobs to come
    return BackgroundScheduler(timezone="UTC",
                               job_defaults={"coalesce": True, "max_instances": 1})
