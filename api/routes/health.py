"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Services

router = APIRouter(tags=["health"])


@router.get("/health")
def health(services: Services) -> dict[str, Any]:
    """Up, with the broker connection state of the in-process ingest (``null`` if none)."""
    return {"status": "ok", "broker_connected": services.broker_connected()}
