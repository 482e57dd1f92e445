"""Ingest counters and dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import Admin, DbSession, Services
from api.schemas import DeadLetterOut, DeadLettersOut
from ingest.deadletters import DeadLetter

router = APIRouter(tags=["ingest"])


@router.get("/ingest/stats")
def ingest_stats(_: Admin, services: Services) -> dict[str, Any]:
    """Counters summed over every ingest worker: received, accepted, duplicates, rejected."""
    return services.ingest_stats()


@router.get("/dead-letters", response_model=DeadLettersOut)
def dead_letters(
    _: Admin,
    session: DbSession,
    services: Services,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    device_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLettersOut:
    """Newest dead letters (bounded sample) and exact counts by reason."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if reason is not None:
        q = q.where(DeadLetter.reason == reason)
    if device_id is not None:
        q = q.where(DeadLetter.device_id == device_id)
    items = [
        DeadLetterOut(id=d.id, received_at=d.received_at, reason=d.reason, detail=d.detail,
                      topic=d.topic, device_id=d.device_id, quantity=d.quantity,
                      payload_excerpt=d.payload[:256].decode("utf-8", "replace"))
        for d in session.scalars(q)
    ]
    return DeadLettersOut(counts_by_reason=services.ingest_stats().get("rejected", {}),
                          items=items)
