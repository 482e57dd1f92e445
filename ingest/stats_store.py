"""Each ingest worker publishes its counters to the metadata DB so the API can sum them.

One row per worker identity (``ingest.identity``: stable across restarts and host names).
``stats`` holds the counters of the worker's current run and is its heartbeat
(``updated_at``); ``base`` holds the sum of its earlier runs, folded in by ``open_run`` when a
run starts. Totals are ``base + stats`` over every row ever written, so counters are
cumulative across restarts, and a worker that is gone for good still counts in the totals; its
gauges (spool size, ``spool_full``, latencies) leave the live view once its heartbeat is older
than ``stale_after_s`` (``ingest_totals``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from devices.registry import utcnow
from ingest.metrics import IngestMetrics, merge_snapshots
from storage.metadata import Base

GAUGES = frozenset({"spool_bytes", "spool_peak_bytes", "spool_batches", "spool_full",
                    "last_batch_latency_ms", "max_batch_latency_ms"})
"""Snapshot keys that describe a worker now (not counts since it started)."""


def counters_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The counters of a snapshot (``rejected`` included), gauges left out."""
    return {k: v for k, v in snapshot.items() if k not in GAUGES
            and (k == "rejected" or (isinstance(v, int | float) and not isinstance(v, bool)))}


def add_counters(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The counters of ``a`` plus those of ``b`` (``rejected`` by reason)."""
    out = counters_of(a)
    for key, value in counters_of(b).items():
        if key == "rejected":
            out[key] = dict(Counter(out.get(key, {})) + Counter(value))
        else:
            out[key] = out.get(key, 0) + value
    return out


class IngestWorkerStats(Base):
    """The counters of one worker identity: earlier runs (``base``) and the current one."""

    __tablename__ = "ingest_worker_stats"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)
    base: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker identity's saved counters."""

    worker_id: str
    updated_at: datetime
    base: dict[str, Any]
    stats: dict[str, Any]


def open_run(sessions: sessionmaker[Any], worker_id: str) -> None:
    """Start a run of ``worker_id``: fold the last run's counters into ``base``."""
    with sessions() as session, session.begin():
        row = session.get(IngestWorkerStats, worker_id, with_for_update=True)
        zeros = IngestMetrics().snapshot()  # every key present from the start of the run
        if row is None:
            session.add(IngestWorkerStats(worker_id=worker_id, stats=zeros, base={}))
            return
        row.base = add_counters(row.base or {}, counters_of(row.stats or {}))
        row.stats = zeros
        row.updated_at = utcnow()


def save_stats(sessions: sessionmaker[Any], worker_id: str, stats: dict[str, Any]) -> None:
    """Upsert the counters of ``worker_id``'s current run (its heartbeat)."""
    with sessions() as session, session.begin():
        row = session.get(IngestWorkerStats, worker_id)
        if row is None:
            session.add(IngestWorkerStats(worker_id=worker_id, stats=stats, base={}))
        else:
            row.stats = stats
            row.updated_at = utcnow()


def load_rows(sessions: sessionmaker[Any]) -> list[WorkerRow]:
    """Every worker identity's saved counters."""
    with sessions() as session:
        return [WorkerRow(r.worker_id, r.updated_at, dict(r.base or {}), dict(r.stats or {}))
                for r in session.scalars(select(IngestWorkerStats))]


def load_stats(sessions: sessionmaker[Any]) -> list[dict[str, Any]]:
    """Every worker's current-run counters."""
    return [row.stats for row in load_rows(sessions)]


def ingest_totals(rows: list[WorkerRow], *, stale_after_s: float,
                  now: datetime | None = None) -> dict[str, Any]:
    """Counters summed over every run of every worker; gauges of the live workers only.

    A worker is live while its heartbeat is at most ``stale_after_s`` old [s]. ``workers``
    counts the live ones, ``workers_gone`` the others (still in the counters).
    """
    now = now or utcnow()
    snapshots: list[dict[str, Any]] = []
    live = 0
    for row in rows:
        updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(
            tzinfo=now.tzinfo)
        counters = add_counters(row.base, counters_of(row.stats))
        if now - updated <= timedelta(seconds=stale_after_s):
            live += 1
            snapshots.append({**row.stats, **counters})
        else:
            snapshots.append(counters)
    total = merge_snapshots(snapshots)
    total["workers"] = live
    total["workers_gone"] = len(rows) - live
    total["stale_after_s"] = stale_after_s
    return total
