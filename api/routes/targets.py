"""Plan target sets: list (admin, bureau) and upload a newer plan's set as JSON (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from analytics.indicators.targets import TargetSet
from api.deps import Admin, BureauView, DbSession
from api.usecases import targets as uc

router = APIRouter(prefix="/targets", tags=["targets"])


class TargetIn(BaseModel):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name_zh: str = Field(min_length=1, max_length=128)
    name_en: str = Field(min_length=1, max_length=256)
    unit: str = Field(min_length=1, max_length=16)
    baseline: float | None = None
    target: float | None = None
    scope: Literal["city", "county"] = "city"
    source_ref: str = Field(min_length=1, max_length=512)


class TargetSetIn(BaseModel):
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    title: str = Field(default="", max_length=256)
    baseline_year: int = Field(ge=1990, le=2100)
    target_year: int = Field(ge=1990, le=2100)
    source: dict[str, Any] = Field(default_factory=dict)
    targets: list[TargetIn] = Field(min_length=1, max_length=200)


class TargetSetOut(TargetSetIn):
    id: int
    current: bool
    created_at: datetime
    created_by: str | None


def _out(row: TargetSet, *, current: bool) -> TargetSetOut:
    doc = row.doc().to_json()
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return TargetSetOut(**doc, id=row.id, current=current, created_at=created,
                        created_by=row.created_by)


@router.get("", response_model=list[TargetSetOut])
def list_target_sets(_: BureauView, session: DbSession) -> list[TargetSetOut]:
    """Every stored target set, newest (current) first."""
    return [_out(s, current=i == 0) for i, s in enumerate(uc.stored_sets(session))]


@router.post("", response_model=TargetSetOut, status_code=status.HTTP_201_CREATED)
def upload_target_set(body: TargetSetIn, principal: Admin, session: DbSession) -> TargetSetOut:
    """Store a new, versioned target set; it becomes current. Stored sets never change."""
    return _out(uc.upload(session, principal, body.model_dump()), current=True)
