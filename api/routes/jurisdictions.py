"""Jurisdictions (city, units with plan group, townships), official denominators and reported
indicator values. Read: admin and bureau; write: admin. Every write is a new version."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import Admin, BureauView, DbSession
from api.usecases import jurisdictions as uc

router = APIRouter(tags=["jurisdictions"])
JurisdictionParam = Annotated[str | None, Query(max_length=32)]


class DenominatorIn(BaseModel):
    jurisdiction: str | None = Field(default=None, max_length=32)
    scope: str = Field(min_length=1, max_length=32, description="city or a unit (county) id")
    key: str = Field(description="farmland_mu | facility_mu | livestock_head | service_units")
    value: float = Field(ge=0)
    year: int = Field(ge=1949, le=2100)
    document: str = Field(min_length=1, max_length=512, description="statistical yearbook, plan, ...")
    section: str = Field(default="", max_length=512, description="page, table or section")
    valid_from: date | None = Field(default=None, description="default: 1 January of year")


class ReportedIn(BaseModel):
    jurisdiction: str | None = Field(default=None, max_length=32)
    scope: str = Field(min_length=1, max_length=32)
    key: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=1949, le=2100)
    value: float
    document: str = Field(min_length=1, max_length=512)
    section: str = Field(default="", max_length=512)


@router.get("/jurisdictions")
def list_jurisdictions(_: BureauView, session: DbSession) -> list[dict[str, Any]]:
    """Every jurisdiction with its units (plan group, townships)."""
    return uc.list_all(session)


@router.post("/jurisdictions", status_code=status.HTTP_201_CREATED)
def create_jurisdiction(body: dict[str, Any], principal: Admin, session: DbSession) -> dict[str, Any]:
    """Load a jurisdiction (the format of ``analytics/data/jurisdiction.json``, target set and
    sector weights inline)."""
    return uc.create(session, principal, body)


@router.get("/denominators")
def get_denominators(_: BureauView, session: DbSession, jurisdiction: JurisdictionParam = None,
                     scope: Annotated[str | None, Query(max_length=32)] = None,
                     on: date | None = None) -> dict[str, Any]:
    """Official denominators current on ``on`` (default today) and every version."""
    return uc.denominators(session, jurisdiction, scope, on)


@router.post("/denominators", status_code=status.HTTP_201_CREATED)
def post_denominator(body: DenominatorIn, principal: Admin, session: DbSession) -> dict[str, Any]:
    """Append a version of an official figure with its provenance (never overwrites)."""
    return uc.add_denominator(session, principal, body.model_dump())


@router.get("/reported")
def get_reported(_: BureauView, session: DbSession, jurisdiction: JurisdictionParam = None,
                 key: Annotated[str | None, Query(max_length=64)] = None) -> list[dict[str, Any]]:
    """Reported (not sensed) indicator values, every version, newest first."""
    return uc.reported(session, jurisdiction, key)


@router.post("/reported", status_code=status.HTTP_201_CREATED)
def post_reported(body: ReportedIn, principal: Admin, session: DbSession) -> dict[str, Any]:
    """Append a reported value of a plan indicator for a scope and year, with provenance."""
    return uc.add_reported(session, principal, body.model_dump())
