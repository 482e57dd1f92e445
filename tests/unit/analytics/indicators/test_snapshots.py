"""Snapshots: monthly idempotency, immutability, targets kept per snapshot, history, the job."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from analytics.indicators import definitions as d
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.immutable import ImmutableRowError
from analytics.indicators.jobs import CATCH_UP_JOB_ID, MONTHLY_JOB_ID, register_indicator_jobs
from analytics.indicators.periods import parse_month
from analytics.indicators.service import evaluate
from analytics.indicators.snapshots import (
    MONTHLY,
    IndicatorSnapshot,
    SnapshotValue,
    history,
    store_snapshot,
    take_monthly_snapshot,
    take_snapshot,
)
from analytics.indicators.targets import (
    TargetSetExists,
    packaged_target_set,
    parse_target_set,
    store_target_set,
    target_sets,
)

CONFIG = IndicatorConfig()


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def _count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(IndicatorSnapshot))


def test_monthly_snapshot_is_taken_once_per_month(env):
    sessions, store = env
    job_time = ms(2025, 7, 1, 0, 30)  # day 1, 00:30 UTC: June (CST) is complete
    first = take_monthly_snapshot(sessions, store, now_ms=job_time, config=CONFIG)
    assert first is not None
    # a restart runs the catch-up and, later, the cron job again: no second June snapshot
    assert take_monthly_snapshot(sessions, store, now_ms=job_time + 60_000, config=CONFIG) is None
    assert take_monthly_snapshot(sessions, store, now_ms=ms(2025, 7, 15), config=CONFIG) is None
    assert _count(sessions) == 1
    with sessions() as s:
        snap = s.get(IndicatorSnapshot, first)
        assert (snap.kind, snap.month, snap.period_label) == (MONTHLY, "2025-06", "2025-06")
        assert snap.reference["target_set"]["version"] == packaged_target_set().version
        assert snap.reference["sector_weights"]["city"]["livestock"]["value"] == 0.43
        assert "shuocheng" in snap.reference["denominators"]["used"]
        # the database refuses a second monthly row for June even if a racer got past the check
        ev = evaluate(s, store, period=parse_month("2025-06"), now_ms=job_time, config=CONFIG)
        with pytest.raises(IntegrityError):
            store_snapshot(s, ev, kind=MONTHLY, created_by="racer")
        s.rollback()
    # the next month gets its own snapshot
    assert take_monthly_snapshot(sessions, store, now_ms=ms(2025, 8, 1, 0, 30), config=CONFIG)
    assert _count(sessions) == 2


def test_snapshot_rows_cannot_be_changed_or_deleted(env):
    sessions, store = env
    with sessions() as s:
        snap = take_snapshot(s, store, period=parse_month("2025-06"), now_ms=ms(2025, 7, 2),
                             config=CONFIG, created_by="test")
        value = s.scalar(select(SnapshotValue).where(SnapshotValue.snapshot_id == snap.id).limit(1))
        value.value = 99.0
        with pytest.raises(ImmutableRowError):
            s.commit()
        s.rollback()
        s.delete(s.get(IndicatorSnapshot, snap.id))
        with pytest.raises(ImmutableRowError):
            s.commit()


def test_old_snapshots_keep_their_targets(env):
    sessions, store = env
    june = parse_month("2025-06")
    with sessions() as s:
        old = take_snapshot(s, store, period=june, now_ms=ms(2025, 7, 2), config=CONFIG,
                            created_by="test").id
        newer = packaged_target_set().to_json()
        newer["version"] = "shuozhou-midterm-2023"
        for t in newer["targets"]:
            if t["key"] == d.DIGITISATION:
                t["target"] = 60
        store_target_set(s, parse_target_set(newer))
        s.commit()
        with pytest.raises(TargetSetExists):
            store_target_set(s, parse_target_set(newer))
        s.rollback()
        assert target_sets(s)[0].version == "shuozhou-midterm-2023"  # newest is current
        new = take_snapshot(s, store, period=june, now_ms=ms(2025, 7, 2), config=CONFIG,
                            created_by="test").id

        def target(snapshot_id: int) -> float:
            return s.scalar(select(SnapshotValue.target).where(
                SnapshotValue.snapshot_id == snapshot_id, SnapshotValue.key == d.DIGITISATION,
                SnapshotValue.scope == "city"))

        assert (target(old), target(new)) == (50, 60)
        assert s.get(IndicatorSnapshot, old).reference["target_set"]["version"] == \
            packaged_target_set().version


def test_history_is_ordered_by_period(env):
    sessions, store = env
    for job_time in (ms(2025, 8, 1, 0, 30), ms(2025, 7, 1, 0, 30)):  # out of order on purpose
        take_monthly_snapshot(sessions, store, now_ms=job_time, config=CONFIG)
    with sessions() as s:
        points = history(s, d.COVERAGE_FIELD, scope="shuocheng")
    assert [p.period_label for p in points] == ["2025-06", "2025-07"]
    # one day of data in a 30-day June: every probe ≤ 1/30 complete -> nothing covered
    assert points[0].value == 0.0


def test_job_registration():
    scheduler = BackgroundScheduler(timezone="UTC")
    register_indicator_jobs(scheduler, sessions=None, store=None)  # type: ignore[arg-type]
    register_indicator_jobs(scheduler, sessions=None, store=None)  # type: ignore[arg-type]
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {MONTHLY_JOB_ID, CATCH_UP_JOB_ID}  # re-registering replaces
    fields = {f.name: str(f) for f in jobs[MONTHLY_JOB_ID].trigger.fields}
    assert (fields["day"], fields["hour"], fields["minute"]) == ("1", "0", "30")
    assert str(jobs[MONTHLY_JOB_ID].trigger.timezone) == "UTC"


def test_no_monthly_snapshot_before_any_device_existed(env):
    sessions, store = env
    # the hand-built devices were installed 2025-01-01: December 2024 has nothing to report
    assert take_monthly_snapshot(sessions, store, now_ms=ms(2025, 1, 1, 0, 30), config=CONFIG) is None
    assert _count(sessions) == 0
