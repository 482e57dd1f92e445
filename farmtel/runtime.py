"""Builds farmtel's parts from ``Settings``: metadata DB, store, consumers, alert service, API."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import FastAPI
from paho.mqtt.client import MQTTv5, MQTTv311
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from analytics.alerts import AlertEngine, default_rules
from analytics.alerts.notify import FanoutNotifier, MqttAlertPublisher, Notifier, WebhookNotifier
from analytics.alerts.seasons import SeasonCalendar
from analytics.alerts.service import AlertService, load_site_overrides
from analytics.alerts.store import AlertRepository
from api.app import create_app
from api.auth import ensure_admin_token
from api.services import AlertControl, ApiServices, NoAlertControl, SpoolState
from api.sessions import SessionPolicy
from devices.broker.mosquitto import ServiceAccount
from devices.contract import subscription_topics
from devices.directory import DeviceDirectory
from devices.mqtt_publisher import FlushTimeout, ReliablePublisher
from devices.registry import seed_counties, utcnow
from farmtel.metrics import process_registry
from farmtel.migrate import require_head, upgrade_schema
from farmtel.settings import Settings
from ingest.adoption import (
    Adopter,
    end_session,
    mark_session_ended,
    session_ended,
    session_started,
)
from ingest.alert_sink import AlertSink
from ingest.deadletters import DeadLetterStore
from ingest.decode import DecodePolicy, MessageDecoder
from ingest.identity import Claim, claim_slot
from ingest.metrics import IngestMetrics, merge_snapshots
from ingest.mqtt_source import Message, MqttSource, MqttSourceConfig
from ingest.pipeline import IngestPipeline
from ingest.replay import DeadLetterReplayer
from ingest.sink import Sink
from ingest.spool import Spool
from ingest.stats_store import WorkerRow, ingest_totals, load_rows, open_run, save_stats
from ingest.store_sink import SpooledStoreSink
from ingest.worker import IngestWorker
from storage.clock import DAY_MS, now_ms
from storage.factory import open_store
from storage.metadata import make_engine, make_session_factory
from storage.rollups import Retention
from storage.telemetry import Reading, TelemetryStore

log = logging.getLogger(__name__)

ALERT_MAX_INFLIGHT = 1000
"""Alert transitions published but not yet acknowledged by the broker, at most [messages]."""
ALERT_PUBLISH_TIMEOUT_S = 5.0
"""How long an alert publish waits for room in that window before it counts as failed [s]."""


@dataclass
class Metadata:
    """The metadata database, schema created and counties seeded."""

    engine: Engine
    sessions: sessionmaker[Any]


def open_metadata(settings: Settings, *, upgrade: bool = True) -> Metadata:
    """Open (and initialise) the metadata database; prints a generated admin token once.

    With ``upgrade`` its schema is brought to head first (``farmtel.migrate.upgrade_schema``);
    without, a database not at head is refused (``SchemaBehind``: run ``farmtel db upgrade``).
    A database newer than this farmtel is refused either way (``SchemaTooNew``).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        if upgrade:
            upgrade_schema(engine)
        else:
            require_head(engine)
    except BaseException:
        engine.dispose()
        raise
    sessions = make_session_factory(engine)
    for attempt in (1, 2):  # services started together race to seed: the loser finds the rows
        try:
            with sessions() as session, session.begin():
                seed_counties(session)
                token = ensure_admin_token(session, settings.admin_token)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    if token is not None:
        print(f"farmtel: generated admin token (shown once, keep it): {token}", flush=True)
    return Metadata(engine, sessions)


def decode_policy(settings: Settings) -> DecodePolicy:
    """Decoding limits from the settings."""
    return DecodePolicy(max_payload_bytes=settings.max_payload_bytes,
                        suspect_future_ms=settings.max_clock_skew_future_s * 1000,
                        max_future_ms=max(settings.max_clock_future_s,
                                          settings.max_clock_skew_future_s) * 1000,
                        max_age_ms=settings.max_age_days * DAY_MS)


def mqtt_source_config(settings: Settings, client_id: str,
                       shared_group: str | None) -> MqttSourceConfig:
    """A telemetry subscriber's connection settings (ingest's account and TLS)."""
    return MqttSourceConfig(
        host=settings.broker_host, port=settings.mqtt_port, client_id=client_id,
        topics=tuple(subscription_topics(shared_group)),
        username=settings.mqtt_username, password=settings.mqtt_password,
        protocol=MQTTv5 if settings.mqtt_protocol == "5" else MQTTv311,
        tls_ca_file=settings.mqtt_tls_ca_file, tls_cert_file=settings.mqtt_tls_cert_file,
        tls_key_file=settings.mqtt_tls_key_file,
    )


def build_ingest(settings: Settings, meta: Metadata, store: TelemetryStore,
                 directory: DeviceDirectory, *,
                 on_durable: Callable[[list[Reading]], None] | None = None,
                 clock_ms: Callable[[], int] = now_ms) -> IngestWorker:
    """An ingest worker with production settings: validation, dedupe, manual ack, store sink.

    It claims the lowest free identity slot of ``mqtt_client_id`` under the spool root
    (``ingest.identity``): its MQTT client id, spool folder and counters row, the same after a
    restart under any host name. While it runs it adopts orphaned identities
    (``ingest.adoption``). ``on_durable`` receives each durable batch (the alert service's
    ``submit_readings``); ``clock_ms`` is the server clock that received messages are judged
    by [UTC ms].
    """
    root = settings.data_dir / "spool"
    claim = claim_slot(root, settings.mqtt_client_id)
    try:
        session_started(claim.directory)
        open_run(meta.sessions, claim.client_id)
        metrics = IngestMetrics()
        sink = _store_sink(settings, meta, store, claim, metrics, on_durable)
    except BaseException:
        claim.release()
        raise
    last_saved = [0.0]

    def save() -> None:
        save_stats(meta.sessions, claim.client_id, metrics.snapshot())

    def housekeeping() -> None:
        directory.refresh_if_stale()
        now = time.monotonic()
        if now - last_saved[0] >= settings.stats_interval_s:
            save()
            last_saved[0] = now

    def adopt(orphan: Claim, stopping: threading.Event) -> None:
        _adopt_orphan(settings, meta, store, directory, orphan, stopping, clock_ms)

    adopter = Adopter(root, claim.client_id, adopt)

    def stopped() -> None:
        adopter.stop()
        try:
            save()  # the last counters of this run
        except Exception:
            log.exception("could not save the last ingest counters")
        claim.release()

    return _consumer(settings, directory, sink, metrics, claim.client_id,
                     settings.mqtt_shared_group, housekeeping, clock_ms,
                     identity=claim.client_id, on_start=adopter.start, on_stop=stopped)


def _store_sink(settings: Settings, meta: Metadata, store: TelemetryStore, claim: Claim,
                metrics: IngestMetrics,
                on_durable: Callable[[list[Reading]], None] | None = None) -> SpooledStoreSink:
    """The store sink of an ingest identity: its spool folder, dead letters, counters."""
    return SpooledStoreSink(
        store,
        Spool(claim.directory, max_bytes=settings.spool_max_bytes),
        DeadLetterStore(meta.sessions, keep=settings.dead_letter_keep,
                        payload_bytes=settings.dead_letter_payload_bytes,
                        max_age_s=settings.dead_letter_max_age_days * DAY_MS / 1000,
                        replay_keep=settings.dead_letter_replay_keep,
                        replay_max_bytes=settings.dead_letter_replay_max_bytes,
                        metrics=metrics),
        metrics, on_durable=on_durable)


ADOPT_DRAIN_TIMEOUT_S = 120.0
"""How long an adoption may take to store an orphaned session's queue [s]."""


def _adopt_orphan(settings: Settings, meta: Metadata, store: TelemetryStore,
                  directory: DeviceDirectory, orphan: Claim, stopping: threading.Event,
                  clock_ms: Callable[[], int]) -> None:
    """Store what an orphaned identity left: its broker session's queue, then its spool.

    The session is drained under the orphan's client id, unsubscribed from the shared group
    at once, and ended only once every message it delivered was made durable.
    """
    has_session = not session_ended(orphan.directory)
    if not has_session and not any(orphan.directory.glob("*.batch")):
        return
    log.warning("adopting orphaned ingest identity %s", orphan.client_id)
    open_run(meta.sessions, orphan.client_id)
    metrics = IngestMetrics()
    sink = _store_sink(settings, meta, store, orphan, metrics)
    drained = True
    if has_session:
        config = replace(mqtt_source_config(settings, orphan.client_id,
                                            settings.mqtt_shared_group), unsubscribe=True)
        worker = _consumer(settings, directory, sink, metrics, orphan.client_id,
                           settings.mqtt_shared_group, lambda: None, clock_ms,
                           source_config=config)
        worker.start()
        drained = (_wait(lambda: worker.connected, 10.0, stopping)
                   and worker.wait_idle(quiet_s=1.0, timeout_s=ADOPT_DRAIN_TIMEOUT_S))
        drained = worker.stop() and drained
        if drained:
            end_session(config)
            mark_session_ended(orphan.directory)
    while sink.replay_spool() > 0:
        pass
    save_stats(meta.sessions, orphan.client_id, metrics.snapshot())
    log.warning("orphaned ingest identity %s: %d messages from its session stored, %d spooled "
                "batches replayed, %d left%s", orphan.client_id, metrics.messages_acked,
                metrics.batches_replayed, metrics.spool_batches,
                "" if drained else "; its session is not drained yet, will retry")


def _wait(predicate: Callable[[], bool], timeout_s: float, stopping: threading.Event) -> bool:
    """Poll ``predicate`` until true (True), ``timeout_s`` passes or ``stopping`` (False)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline or stopping.wait(0.05):
            return False
    return True


def build_alert_feed(settings: Settings, directory: DeviceDirectory,
                     submit: Callable[[list[Reading]], None]) -> IngestWorker:
    """The ``farmtel alerts`` consumer: the ingest worker with the alert sink (``submit``)."""
    metrics = IngestMetrics()
    return _consumer(settings, directory, AlertSink(submit, metrics), metrics,
                     settings.alert_feed_client_id, settings.alert_feed_shared_group,
                     directory.refresh_if_stale)


def _consumer(settings: Settings, directory: DeviceDirectory, sink: Sink, metrics: IngestMetrics,
              client_id: str, shared_group: str | None,
              housekeeping: Callable[[], object],
              clock_ms: Callable[[], int] = now_ms, *,
              source_config: MqttSourceConfig | None = None, identity: str | None = None,
              on_start: Callable[[], object] | None = None,
              on_stop: Callable[[], object] | None = None) -> IngestWorker:
    """A telemetry consumer: MQTT source, decode/dedupe/batch pipeline, ``sink``."""
    pipeline: IngestPipeline[Any] = IngestPipeline(
        MessageDecoder(directory.lookup, decode_policy(settings)),
        metrics=metrics,
        batch_max_readings=settings.batch_max_readings,
        flush_interval_ms=settings.flush_interval_ms,
        dedupe_capacity=settings.dedupe_capacity,
        clock_ms=clock_ms,
    )
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    source = MqttSource(source_config or mqtt_source_config(settings, client_id, shared_group),
                        inbox)
    return IngestWorker(source, inbox, pipeline, sink, housekeeping=housekeeping,
                        housekeeping_interval_s=min(0.25, settings.stats_interval_s),
                        identity=identity, on_start=on_start, on_stop=on_stop)


def build_alert_service(settings: Settings, meta: Metadata, store: TelemetryStore,
                        directory: DeviceDirectory | None = None, *,
                        publish_mqtt: bool = True) -> tuple[AlertService, Callable[[], None]]:
    """The alert service (engine with stored site overrides, repository, notifiers) and a
    function that closes its notifiers' connections.

    Transitions go to webhooks and, with ``publish_mqtt``, to MQTT through the shared
    :class:`~devices.mqtt_publisher.ReliablePublisher` (ingest's account): a bounded in-flight
    window, and a message counts as published only when the broker acknowledged it.
    """
    engine = AlertEngine(default_rules(), site_overrides=load_site_overrides(meta.sessions),
                         devices=directory.snapshot() if directory is not None else None)
    notifiers: list[Notifier] = []
    closers: list[Callable[[], None]] = []
    if publish_mqtt:
        publisher = ReliablePublisher(settings.broker_host, settings.mqtt_port,
                                      client_id=f"{settings.mqtt_client_id}-alerts",
                                      username=settings.mqtt_username,
                                      password=settings.mqtt_password,
                                      max_inflight=ALERT_MAX_INFLIGHT,
                                      publish_timeout=ALERT_PUBLISH_TIMEOUT_S)
        publisher.connect(wait=False)

        def publish(topic: str, payload: bytes) -> None:
            publisher.publish(topic, payload)

        notifiers.append(MqttAlertPublisher(publish))

        def close_publisher() -> None:
            try:
                publisher.close(flush_timeout=ALERT_PUBLISH_TIMEOUT_S)
            except FlushTimeout as exc:
                log.error("alert notifications not acknowledged by the broker: %s", exc)

        closers.append(close_publisher)
    if settings.alert_webhooks:
        notifiers.append(WebhookNotifier(settings.alert_webhooks))

    def last_seen() -> dict[str, int]:
        seen: dict[str, int] = {}
        for r in store.latest():
            seen[r.device_id] = max(seen.get(r.device_id, 0), r.ts_ms)
        return seen

    service = AlertService(engine, AlertRepository(meta.sessions), FanoutNotifier(notifiers),
                           last_seen=last_seen, seasons=SeasonCalendar(meta.sessions).changed)

    def close() -> None:
        for c in closers:
            c()

    return service, close


def service_accounts(settings: Settings) -> list[ServiceAccount]:
    """The broker service accounts configured in the settings (ingest, simulator)."""
    out = []
    if settings.mqtt_username and settings.mqtt_password:
        out.append(ServiceAccount(settings.mqtt_username, settings.mqtt_password, "ingest"))
    if settings.sim_mqtt_username and settings.sim_mqtt_password:
        out.append(ServiceAccount(settings.sim_mqtt_username, settings.sim_mqtt_password,
                                  "simulator"))
    return out


def build_api(meta: Metadata, store: TelemetryStore, *,
              directory: DeviceDirectory | None = None,
              worker: IngestWorker | None = None,
              alerts: AlertControl | None = None,
              metrics: CollectorRegistry | bool = True,
              settings: Settings | None = None) -> FastAPI:
    """The API app over the metadata DB and the store.

    ``metrics``: the process's registry to serve on ``GET /metrics``, True for a fresh one,
    False for no ``/metrics``. ``settings``: the decode policy and replay-area bounds the
    dead-letter replay uses (defaults without).
    """
    config = settings or _defaults()
    stale_after_s = config.ingest_stale_after_s

    def stats() -> dict[str, Any]:
        if worker is not None and worker.identity is None:  # a bare worker: its counters alone
            return merge_snapshots([worker.metrics])
        return ingest_totals(_worker_rows(meta, worker), stale_after_s=stale_after_s)

    def broker_connected() -> bool | None:
        return worker.connected if worker is not None else None

    def spool() -> SpoolState | None:
        if worker is not None:
            return SpoolState(worker.counters.spool_bytes, worker.counters.spool_full)
        try:  # the live ingest workers' spools, from their heartbeats
            totals = ingest_totals(_worker_rows(meta, None), stale_after_s=stale_after_s)
        except Exception:  # the metadata check reports the database
            return None
        if not totals["workers"]:
            return None
        return SpoolState(totals["spool_bytes"], totals["spool_full"])

    if metrics is True:
        metrics = process_registry()

    services = ApiServices(
        sessions=meta.sessions, store=store, ingest_stats=stats,
        broker_connected=broker_connected, spool=spool, metrics=metrics or None,
        on_registry_change=directory.reload if directory is not None else (lambda: None),
        alerts=alerts or NoAlertControl(),
        dead_letter_replay=build_replayer(config, meta, store, directory),
        web_sessions=SessionPolicy(idle_s=config.web_session_idle_s,
                                   max_age_s=config.web_session_max_age_s),
        trusted_proxies=tuple(config.trusted_proxies),
    )
    return create_app(services)


def _worker_rows(meta: Metadata, worker: IngestWorker | None) -> list[WorkerRow]:
    """Every ingest identity's saved counters; this process's worker's current ones live."""
    rows = load_rows(meta.sessions)
    if worker is None or worker.identity is None:
        return rows
    own = WorkerRow(worker.identity, utcnow(), {}, worker.metrics)
    for i, row in enumerate(rows):
        if row.worker_id == worker.identity:
            rows[i] = replace(own, base=row.base)
            return rows
    return [*rows, own]


def _defaults() -> Settings:
    """Settings without a .env file (the environment still applies)."""
    return Settings(_env_file=None)  # type: ignore[call-arg]


def build_replayer(settings: Settings, meta: Metadata, store: TelemetryStore,
                   directory: DeviceDirectory | None = None) -> DeadLetterReplayer:
    """The dead-letter replay: the live decode policy, the registry as it is now."""
    lookup = (directory or DeviceDirectory(meta.sessions)).lookup
    return DeadLetterReplayer(meta.sessions, store, lookup, decode_policy(settings),
                              max_messages=settings.dead_letter_replay_keep,
                              max_bytes=settings.dead_letter_replay_max_bytes)


def open_telemetry(settings: Settings) -> TelemetryStore:
    """The configured telemetry store, with its retention."""
    retention = Retention(settings.raw_retention_days, settings.rollup_retention_days)
    return open_store(settings.resolved_store_url, retention=retention)
