"""Dead letters (admin only): the newest refusals with exact counts, the replay area, replay.

Filters are checked here (an unknown reason, an inverted time range: ``InvalidInput``), so the
JSON routes and any page answer the same way through ``api.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ingest.deadletters import DeadLetter, DeadLetterReplay, ReplayArea, reasons_key
from ingest.rejections import REPLAYABLE, Reason
from ingest.replay import DeadLetterReplayer, ReplayFilter, ReplayOutcome
from storage.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: any of whose reasons is ``reason``, of ``device_id`` (the device the
    refusal is attributed to, or the topic's), received in ``[since, until)``."""

    reason: str | None = None
    device_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One dead letter and whether its whole payload waits in the replay area."""

    row: DeadLetter
    replayable: bool


def _reason(value: str | None) -> Reason | None:
    if value is None:
        return None
    try:
        return Reason(value)
    except ValueError:
        raise InvalidInput(f"unknown reason {value!r}; one of "
                           f"{', '.join(r.value for r in Reason)}") from None


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _checked(f: DeadLetterFilter) -> DeadLetterFilter:
    since, until = _aware(f.since), _aware(f.until)
    if since is not None and until is not None and since >= until:
        raise InvalidInput("since must be before until")
    _reason(f.reason)
    if f.device_id is not None and "\x00" in f.device_id:
        raise InvalidInput("device_id must not contain NUL")
    return DeadLetterFilter(f.reason, f.device_id, since, until)


def dead_letters(session: Session, f: DeadLetterFilter, limit: int) -> list[DeadLetterView]:
    """The newest ``limit`` dead letters ``f`` selects."""
    f = _checked(f)
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if f.reason is not None:
        q = q.where(or_(DeadLetter.reason == f.reason,
                        DeadLetter.reasons.contains(reasons_key([f.reason]), autoescape=True)))
    if f.device_id is not None:
        q = q.where(DeadLetter.device_id == f.device_id)
    if f.since is not None:
        q = q.where(DeadLetter.received_at >= f.since)
    if f.until is not None:
        q = q.where(DeadLetter.received_at < f.until)
    rows: Sequence[DeadLetter] = session.scalars(q).all()
    kept = set(session.scalars(select(DeadLetterReplay.dead_letter_id).where(
        DeadLetterReplay.dead_letter_id.in_([r.id for r in rows])))) if rows else set()
    return [DeadLetterView(r, r.id in kept) for r in rows]


def counts_by_reason(stats: Mapping[str, object]) -> dict[str, int]:
    """Exact refusals by reason from the ingest counters."""
    rejected = stats.get("rejected", {})
    return dict(rejected) if isinstance(rejected, Mapping) else {}


def replay_area(replayer: DeadLetterReplayer | None) -> ReplayArea | None:
    """What the replay area holds (``None`` where nothing can be replayed)."""
    return replayer.area() if replayer is not None else None


def replay(replayer: DeadLetterReplayer | None, f: DeadLetterFilter,
           limit: int) -> ReplayOutcome:
    """Replay the kept messages ``f`` selects (reason: a replayable one), oldest first,
    through the live decode path; ``StoreUnavailable`` (503) leaves the rest kept."""
    f = _checked(f)
    reason = _reason(f.reason)
    if reason is not None and reason not in REPLAYABLE:
        raise InvalidInput(f"{reason.value} dead letters are not kept for replay; replayable: "
                           f"{', '.join(sorted(r.value for r in REPLAYABLE))}")
    if replayer is None:
        raise InvalidInput("no replay area in this process")
    return replayer.replay(ReplayFilter(reason, f.device_id, f.since, f.until, limit))
