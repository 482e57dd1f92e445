"""Once-per-period job guard: a job claims (job id, period) in the metadata DB before running.

The primary key makes the claim atomic across restarts and across several scheduler
processes, so a restart (or a second scheduler) never runs the same period twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from devices.registry import utcnow
from storage.metadata import Base


class JobRun(Base):
    """A claimed run of a periodic job."""

    __tablename__ = "job_runs"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def claim_run(sessions: sessionmaker[Any], job_id: str, period: str) -> bool:
    """True if this caller may run ``job_id`` for ``period`` (nobody claimed it before)."""
    try:
        with sessions() as session, session.begin():
            session.add(JobRun(job_id=job_id, period=period))
    except IntegrityError:
        return False
    return True
