"""The alert service: runs the alert engine on its own thread, persists and notifies.

Ingest hands it each durable batch (``submit_readings``, a non-blocking enqueue), the
scheduler asks it to ``tick`` (no-data rules) and feeds it the water balance, the API tells it
about hand resolutions and rule overrides. The engine is single-threaded by design: every call
reaches it through one queue, in order, on one thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from analytics.alerts import AlertEngine, water_balance_readings
from analytics.alerts.notify import Notifier
from analytics.alerts.overrides import RuleOverrides
from analytics.alerts.seasons import SiteSeason
from analytics.alerts.store import AlertRepository
from analytics.alerts.transitions import Transition
from devices.directory import DeviceInfo
from devices.registry import utcnow
from storage.metadata import Base
from storage.telemetry import Reading

log = logging.getLogger(__name__)

_STOP = object()


class SiteRuleOverride(Base):
    """Per-site overrides of default alert rules: ``{rule_id: {param: value}}``."""

    __tablename__ = "site_rule_overrides"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def load_site_overrides(sessions: sessionmaker[Any]) -> dict[str, RuleOverrides]:
    """Every stored site override."""
    with sessions() as session:
        return {row.site_id: row.overrides for row in session.scalars(select(SiteRuleOverride))}


class AlertService:
    """The engine behind a queue; transitions are stored, then sent to the notifier."""

    def __init__(self, engine: AlertEngine, repo: AlertRepository, notifier: Notifier,
                 *, last_seen: Callable[[], Mapping[str, int]] | None = None,
                 seasons: Callable[[], Mapping[str, SiteSeason] | None] | None = None) -> None:
        """``seasons`` returns the site seasons when they changed (else None); it is asked on
        start and on every tick (:class:`analytics.alerts.seasons.SeasonCalendar`)."""
        self._engine = engine
        self._seasons = seasons
        self._repo = repo
        self._notifier = notifier
        self._last_seen = last_seen
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self.transitions_stored = 0
        self.errors = 0

    # -- producers (any thread, never blocking) ---------------------------------------------

    def submit_readings(self, readings: Sequence[Reading]) -> None:
        """Evaluate a durable batch (ingest's ``on_durable`` listener)."""
        self._put(("readings", list(readings)))

    def tick(self, now_ms: int) -> None:
        """Evaluate no-data rules at ``now_ms`` [UTC ms]."""
        self._put(("tick", now_ms))

    def water_balance(self, items: Sequence[tuple[str, str, str, int, float, float]]) -> None:
        """Feed (site, farm, county, ts_ms, depletion_mm, raw_mm) to the depletion rule."""
        self._put(("water", list(items)))

    def resolved_by_hand(self, rule_id: str, subject_id: str) -> None:
        """A person resolved an alert: do not reopen it until its condition has cleared."""
        self._put(("resolved", (rule_id, subject_id)))

    def announce(self, transition: Transition) -> None:
        """Notify a transition made by a person (acknowledged, resolved by hand)."""
        self._put(("announce", transition))

    def set_site_overrides(self, site_id: str, overrides: RuleOverrides) -> None:
        """Apply validated overrides of one site."""
        self._put(("overrides", (site_id, overrides)))

    def set_devices(self, devices: Mapping[str, DeviceInfo]) -> None:
        """Replace the registry view used for no-data."""
        self._put(("devices", dict(devices)))

    # -- observed by /metrics (any thread) ---------------------------------------------------

    @property
    def queued(self) -> int:
        """Work items waiting for the engine (reading batches, ticks, ...)."""
        return self._queue.qsize()

    def deliveries(self) -> Mapping[tuple[str, str], int]:
        """The notifier's delivery counts by (channel, outcome)."""
        return self._notifier.deliveries()

    def _put(self, item: Any) -> None:
        self._idle.clear()
        self._queue.put(item)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Resume the open alerts of the database, then serve the queue."""
        self._refresh_seasons()
        self._engine.restore(self._repo.active_alerts())
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far has been handled."""
        self._put(("noop", None))
        return self._idle.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Handle what is queued, then stop and close the notifier."""
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._notifier.close()

    def _refresh_seasons(self) -> None:
        fresh = self._seasons() if self._seasons is not None else None
        if fresh is not None:
            self._engine.set_seasons(fresh)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._handle(*item)
            except Exception:
                self.errors += 1
                log.exception("alert service failed on %s", item[0])
            if self._queue.empty():
                self._idle.set()

    def _handle(self, kind: str, arg: Any) -> None:
        engine = self._engine
        if kind == "readings":
            transitions = engine.observe_many(arg)
        elif kind == "tick":
            self._refresh_seasons()
            seen = dict(self._last_seen()) if self._last_seen is not None else {}
            transitions = engine.tick(arg, seen)
        elif kind == "water":
            transitions = engine.observe_many(
                r for site, farm, county, ts, dr, raw in arg
                for r in water_balance_readings(site_id=site, farm_id=farm, county=county,
                                                ts_ms=ts, depletion_mm=dr, raw_mm=raw))
        elif kind == "resolved":
            engine.resolved_by_hand(*arg)
            return
        elif kind == "announce":
            self._notifier.notify([arg])
            return
        elif kind == "overrides":
            engine.set_site_overrides(*arg)
            return
        elif kind == "devices":
            engine.set_devices(arg)
            return
        else:
            return
        if transitions:
            applied = self._repo.apply(transitions)
            self.transitions_stored += len(applied)
            if applied:
                self._notifier.notify(applied)
