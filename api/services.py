"""What the API needs from the composition root: sessions, the store, the alert engine's ear."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from sqlalchemy.orm import sessionmaker

from analytics.alerts.transitions import Transition
from analytics.indicators.config import IndicatorConfig
from api.sessions import SessionPolicy
from ingest.replay import DeadLetterReplayer
from storage.telemetry import TelemetryStore


class AlertControl(Protocol):
    """What the API tells the alert engine (in-process); a no-op where none runs."""

    def resolved_by_hand(self, rule_id: str, subject_id: str) -> None: ...

    def announce(self, transition: Transition) -> None: ...

    def set_site_overrides(self, site_id: str,
                           overrides: Mapping[str, Mapping[str, Any]]) -> None: ...


class NoAlertControl:
    """No engine in this process: the database is the only state to change."""

    def resolved_by_hand(self, rule_id: str, subject_id: str) -> None:
        """Nothing to tell."""

    def announce(self, transition: Transition) -> None:
        """No notifier in this process."""

    def set_site_overrides(self, site_id: str,
                           overrides: Mapping[str, Mapping[str, Any]]) -> None:
        """Nothing to tell."""


@dataclass(frozen=True, slots=True)
class SpoolState:
    """The in-process ingest worker's on-disk spool."""

    size_bytes: int
    full: bool


@dataclass
class ApiServices:
    """What the API needs, built by the composition root and handed to ``create_app``."""

    sessions: sessionmaker[Any]
    store: TelemetryStore
    ingest_stats: Callable[[], dict[str, Any]]
    broker_connected: Callable[[], bool | None] = field(default=lambda: None)
    spool: Callable[[], SpoolState | None] = field(default=lambda: None)
    metrics: CollectorRegistry | None = None  # served on GET /metrics when set
    on_registry_change: Callable[[], None] = field(default=lambda: None)
    alerts: AlertControl = field(default_factory=NoAlertControl)
    indicators: IndicatorConfig = field(default_factory=IndicatorConfig)
    web_sessions: SessionPolicy = field(default_factory=SessionPolicy)  # page session lifetimes
    trusted_proxies: tuple[str, ...] = ()
    """Addresses/networks whose X-Forwarded-Proto/-For the app believes (FARMTEL_TRUSTED_PROXIES)."""
    dead_letter_replay: DeadLetterReplayer | None = None  # None: nothing can be replayed
