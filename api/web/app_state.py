"""Typed access to what ``create_web_app`` keeps on the sub-application's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Bounds of the server-sent alert stream."""

    poll_s: float = 2.0
    """How often a stream looks for changed alerts [s]."""
    max_age_s: float = 30.0
    """A stream ends after this long; the browser reconnects where it left off [s]. Short,
    because a server stopping gracefully waits for open streams to end."""
    max_streams: int = 100
    """Concurrent streams per process; more get 503."""
    keepalive_s: float = 15.0
    """A comment line is sent after this long without events [s]."""


def live_settings(app: Any) -> LiveSettings:
    """The live-stream bounds of the web app."""
    settings: LiveSettings = app.state.live
    return settings
