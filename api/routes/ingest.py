"""Ingest counters and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Admin, DbSession, Services
from api.schemas import DeadLetterOut, DeadLettersOut, ReplayAreaOut, ReplayIn, ReplayOut
from api.usecases import dead_letters as uc

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
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLettersOut:
    """Newest dead letters (one per refused message, bounded sample), exact counts by reason
    and the replay area's state; ``reason`` matches any of a message's reasons."""
    views = uc.dead_letters(session, uc.DeadLetterFilter(reason, device_id, since, until), limit)
    stats = services.ingest_stats()
    area = uc.replay_area(services.dead_letter_replay)
    return DeadLettersOut(
        counts_by_reason=uc.counts_by_reason(stats),
        replay_area=None if area is None else ReplayAreaOut(
            messages=area.messages, bytes=area.bytes, max_messages=area.max_messages,
            max_bytes=area.max_bytes, evicted=int(stats.get("replay_evicted", 0))),
        items=[_out(v) for v in views])


def _out(v: uc.DeadLetterView) -> DeadLetterOut:
    d = v.row
    return DeadLetterOut(
        id=d.id, received_at=d.received_at, reason=d.reason, detail=d.detail, topic=d.topic,
        device_id=d.device_id, farm_id=d.farm_id, claimed_by_topic=d.claimed_by_topic,
        quantity=d.quantity, refused=d.refused, counts=d.counts or {d.reason: d.refused},
        payload_excerpt=d.payload[:256].decode("utf-8", "replace"), replayable=v.replayable,
        replayed_at=d.replayed_at)


@router.post("/dead-letters/replay", response_model=ReplayOut)
def replay_dead_letters(_: Admin, services: Services, body: ReplayIn) -> ReplayOut:
    """Replay kept dead letters (by reason, device, time received) through the live decode
    path once their cause is fixed: stored ones leave the replay area, the rest stay."""
    outcome = uc.replay(services.dead_letter_replay,
                        uc.DeadLetterFilter(body.reason, body.device_id, body.since, body.until),
                        body.limit)
    return ReplayOut(replayed=outcome.replayed, still_refused=outcome.still_refused,
                     readings_stored=outcome.readings_stored,
                     still_refused_by_reason=dict(outcome.still_refused_by_reason))
