"""Liveness and readiness (no token: the answer carries no secrets)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response, status

from api.deps import Services
from api.usecases.health import readiness

router = APIRouter(tags=["health"])


@router.get("/health")
def health(services: Services, response: Response) -> dict[str, Any]:
    """Readiness per dependency (metadata DB, store; broker and spool where ingest runs in
    this process): 200 when ready (``ok``, or ``degraded`` when only the broker or the spool is
    not), 503 when the metadata database or the store does not answer."""
    r = readiness(services)
    if not r.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": r.status, "broker_connected": services.broker_connected(),
            "checks": [asdict(c) for c in r.checks]}
