"""The telemetry-rollup job: a store that refuses rollups (``influxdb2://``) is reported once,
with the store's reason, and the job is removed instead of failing every 10 minutes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from analytics.scheduling.scheduler import ROLLUP_JOB, maintain_job
from storage.factory import open_store


def test_a_store_without_rollups_is_reported_once_and_the_job_removed(
        caplog: pytest.LogCaptureFixture) -> None:
    store = open_store("influxdb2://t0ken@127.0.0.1:8086/farmtel/telemetry")
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(maintain_job, "interval", args=(scheduler, store), minutes=10, id=ROLLUP_JOB)
    try:
        with caplog.at_level(logging.ERROR, logger="analytics.scheduling.scheduler"):
            maintain_job(scheduler, store)
        assert scheduler.get_job(ROLLUP_JOB) is None
        (record,) = caplog.records
        assert "influxdb://" in record.getMessage() and "job removed" in record.getMessage()
    finally:
        store.close()


def test_a_store_with_rollups_keeps_its_job(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'telemetry.db'}")
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(maintain_job, "interval", args=(scheduler, store), minutes=10, id=ROLLUP_JOB)
    try:
        maintain_job(scheduler, store)
        assert scheduler.get_job(ROLLUP_JOB) is not None
    finally:
        store.close()
