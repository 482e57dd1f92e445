"""Builds the alert service: engine (defaults + stored site overrides), repository, notifiers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from analytics.alerts import AlertEngine, default_rules
from analytics.alerts.notify import FanoutNotifier, MqttAlertPublisher, Notifier, WebhookNotifier
from analytics.alerts.service import AlertService, load_site_overrides
from analytics.alerts.store import AlertRepository
from devices.directory import DeviceDirectory
from farmtel.runtime import Metadata
from farmtel.settings import Settings
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)


class AlertMqttClient:
    """A QoS 1 publisher for alert transitions; connects in the background, reconnects."""

    def __init__(self, settings: Settings) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"{settings.mqtt_client_id}-alerts")
        if settings.mqtt_username is not None:
            self._client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        self._client.reconnect_delay_set(1, 30)
        self._client.connect_async(settings.broker_host, settings.mqtt_port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one message (paho resends it after a reconnect)."""
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"alert publish refused: {mqtt.error_string(info.rc)}")

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def build_alert_service(settings: Settings, meta: Metadata, store: TelemetryStore,
                        directory: DeviceDirectory | None = None, *,
                        publish_mqtt: bool = True) -> tuple[AlertService, Callable[[], None]]:
    """The alert service and a function that closes its MQTT client."""
    engine = AlertEngine(default_rules(), site_overrides=load_site_overrides(meta.sessions),
                         devices=directory.snapshot() if directory is not None else None)
    notifiers: list[Notifier] = []
    closers: list[Callable[[], None]] = []
    if publish_mqtt:
        client = AlertMqttClient(settings)
        notifiers.append(MqttAlertPublisher(client.publish))
        closers.append(client.close)
    if settings.alert_webhooks:
        notifiers.append(WebhookNotifier(settings.alert_webhooks))

    def last_seen() -> dict[str, int]:
        seen: dict[str, int] = {}
        for r in store.latest():
            seen[r.device_id] = max(seen.get(r.device_id, 0), r.ts_ms)
        return seen

    service = AlertService(engine, AlertRepository(meta.sessions), FanoutNotifier(notifiers),
                           last_seen=last_seen)

    def close() -> None:
        for c in closers:
            c()

    return service, close


def now_ms() -> int:
    """Wall-clock UTC epoch ms."""
    return time.time_ns() // 1_000_000
