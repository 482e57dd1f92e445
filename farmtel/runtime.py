"""Builds farmtel's parts from ``Settings``: metadata DB, store, consumers, alert service, API."""

from __future__ import annotations

import logging
import queue
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from devices.broker.mosquitto import ServiceAccount
from devices.contract import subscription_topics
from devices.directory import DeviceDirectory
from devices.mqtt_publisher import FlushTimeout, ReliablePublisher
from devices.registry import seed_counties
from farmtel.metrics import process_registry
from farmtel.migrate import require_head, upgrade_schema
from farmtel.settings import Settings
from ingest.alert_sink import AlertSink
from ingest.deadletters import DeadLetterStore
from ingest.decode import DecodePolicy, MessageDecoder
from ingest.metrics import IngestMetrics, merge_snapshots
from ingest.mqtt_source import Message, MqttSource, MqttSourceConfig
from ingest.pipeline import IngestPipeline
from ingest.sink import Sink
from ingest.spool import Spool
from ingest.stats_store import load_stats, save_stats
from ingest.store_sink import SpooledStoreSink
from ingest.worker import IngestWorker
from storage.clock import DAY_MS
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
                        max_future_ms=settings.max_clock_skew_future_s * 1000,
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
                 on_durable: Callable[[list[Reading]], None] | None = None) -> IngestWorker:
    """An ingest worker with production settings: validation, dedupe, manual ack, store sink.

    ``on_durable`` receives each durable batch (the alert service's ``submit_readings``).
    """
    metrics = IngestMetrics()
    sink = SpooledStoreSink(
        store,
        Spool(settings.data_dir / "spool" / settings.mqtt_client_id,
              max_bytes=settings.spool_max_bytes),
        DeadLetterStore(meta.sessions, keep=settings.dead_letter_keep,
                        payload_bytes=settings.dead_letter_payload_bytes,
                        max_age_s=settings.dead_letter_max_age_days * DAY_MS / 1000),
        metrics, on_durable=on_durable)
    worker_id = f"{socket.gethostname()}:{settings.mqtt_client_id}"
    last_saved = [0.0]

    def housekeeping() -> None:
        directory.refresh_if_stale()
        now = time.monotonic()
        if now - last_saved[0] >= settings.stats_interval_s:
            save_stats(meta.sessions, worker_id, metrics.snapshot())
            last_saved[0] = now

    return _consumer(settings, directory, sink, metrics, settings.mqtt_client_id,
                     settings.mqtt_shared_group, housekeeping)


def build_alert_feed(settings: Settings, directory: DeviceDirectory,
                     submit: Callable[[list[Reading]], None]) -> IngestWorker:
    """The ``farmtel alerts`` consumer: the ingest worker with the alert sink (``submit``)."""
    metrics = IngestMetrics()
    return _consumer(settings, directory, AlertSink(submit, metrics), metrics,
                     settings.alert_feed_client_id, settings.alert_feed_shared_group,
                     directory.refresh_if_stale)


def _consumer(settings: Settings, directory: DeviceDirectory, sink: Sink, metrics: IngestMetrics,
              client_id: str, shared_group: str | None,
              housekeeping: Callable[[], object]) -> IngestWorker:
    """A telemetry consumer: MQTT source, decode/dedupe/batch pipeline, ``sink``."""
    pipeline: IngestPipeline[Any] = IngestPipeline(
        MessageDecoder(directory.lookup, decode_policy(settings)),
        metrics=metrics,
        batch_max_readings=settings.batch_max_readings,
        flush_interval_ms=settings.flush_interval_ms,
        dedupe_capacity=settings.dedupe_capacity,
    )
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    source = MqttSource(mqtt_source_config(settings, client_id, shared_group), inbox)
    return IngestWorker(source, inbox, pipeline, sink, housekeeping=housekeeping,
                        housekeeping_interval_s=min(0.25, settings.stats_interval_s))


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
              metrics: CollectorRegistry | bool = True) -> FastAPI:
    """The API app over the metadata DB and the store.

    ``metrics``: the process's registry to serve on ``GET /metrics``, True for a fresh one,
    False for no ``/metrics``.
    """
    def stats() -> dict[str, Any]:
        if worker is not None:  # same process: exact and current
            return merge_snapshots([worker.metrics])
        return merge_snapshots(load_stats(meta.sessions))

    def broker_connected() -> bool | None:
        return worker.connected if worker is not None else None

    def spool() -> SpoolState | None:
        if worker is None:
            return None
        return SpoolState(worker.counters.spool_bytes, worker.counters.spool_full)

    if metrics is True:
        metrics = process_registry()

    services = ApiServices(
        sessions=meta.sessions, store=store, ingest_stats=stats,
        broker_connected=broker_connected, spool=spool, metrics=metrics or None,
        on_registry_change=directory.reload if directory is not None else (lambda: None),
        alerts=alerts or NoAlertControl(),
    )
    return create_app(services)


def open_telemetry(settings: Settings) -> TelemetryStore:
    """The configured telemetry store, with its retention."""
    retention = Retention(settings.raw_retention_days, settings.rollup_retention_days)
    return open_store(settings.resolved_store_url, retention=retention)
