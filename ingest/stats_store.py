"""Each ingest worker publishes its counters to the metadata DB so the API can sum them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from devices.registry import utcnow
from storage.metadata import Base


class IngestWorkerStats(Base):
    """The latest counters of one worker."""

    __tablename__ = "ingest_worker_stats"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)


def save_stats(sessions: sessionmaker[Any], worker_id: str, stats: dict[str, Any]) -> None:
    """Upsert one worker's counters."""
    with sessions() as session, session.begin():
        row = session.get(IngestWorkerStats, worker_id)
        if row is None:
            session.add(IngestWorkerStats(worker_id=worker_id, stats=stats))
        else:
            row.stats = stats
            row.updated_at = utcnow()


def load_stats(sessions: sessionmaker[Any]) -> list[dict[str, Any]]:
    """Every worker's latest counters."""
    with sessions() as session:
        return [dict(s) for s in session.scalars(select(IngestWorkerStats.stats))]
