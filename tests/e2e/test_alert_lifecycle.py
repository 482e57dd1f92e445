"""Alert lifecycle end to end through a real Mosquitto: readings -> ingest -> alert engine ->
database -> API and MQTT alert topic; acknowledge by hand; resolve automatically.

Both topologies: the engine fed by ingest's durable batches (``farmtel up``, and ``farmtel
ingest`` by default), and fed by its own MQTT consumer (``farmtel alerts``, ingest storing only).
"""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from devices.contract import record, telemetry_topic
from devices.directory import DeviceDirectory
from farmtel.runtime import build_alert_feed, build_alert_service, build_api, build_ingest
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, publish_all, publisher, settings_for, small_registry, wait_for

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MIN_MS = 60_000


class AlertListener:
    """Collects what farmtel publishes on farmtel/alerts/#."""

    def __init__(self, port: int) -> None:
        self.messages: list[dict] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alert-listener")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("farmtel/alerts/#", qos=1)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        with self._lock:
            self.messages.append({"topic": msg.topic, **orjson.loads(msg.payload)})

    def kinds(self, rule_id: str) -> list[str]:
        with self._lock:
            return [m["kind"] for m in self.messages if m["rule_id"] == rule_id]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(params=["in-ingest", "alert-feed"])
def farmtel_stack(request, tmp_path, mosquitto_server):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"alerts-{tmp_path.name}",
                            alert_feed_client_id=f"feed-{tmp_path.name}")
    meta = small_registry(settings, {"col-1": "livestock_collar", "barn-1": "barn_climate"})
    store = open_store(settings.resolved_store_url)
    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    alerts, close_alerts = build_alert_service(settings, meta, store, directory)
    alerts.start()
    feed = None
    if request.param == "alert-feed":
        feed = build_alert_feed(settings, directory, alerts.submit_readings)
        feed.start()
        worker = build_ingest(settings, meta, store, directory)
    else:
        worker = build_ingest(settings, meta, store, directory, on_durable=alerts.submit_readings)
    worker.start()
    listener = AlertListener(mosquitto_server.port)
    pub = publisher(mosquitto_server.port, f"dev-{tmp_path.name}")
    client = TestClient(build_api(meta, store, worker=worker, alerts=alerts))
    wait_for(lambda: worker.connected, 10, "ingest connected")
    if feed is not None:
        wait_for(lambda: feed.connected, 10, "alert feed connected")
    yield client, pub, listener
    pub.loop_stop()
    pub.disconnect()
    listener.close()
    worker.stop()
    if feed is not None:
        feed.stop()
        assert feed.metrics["readings_stored"] > 0 and feed.metrics["store_failures"] == 0
    alerts.stop()
    close_alerts()
    store.close()


def collar(ts: int, seq: int, temp: float) -> tuple[str, bytes]:
    return (telemetry_topic("farm-a", "col-1"),
            orjson.dumps(record(ts, seq, {"body_temp_c": temp, "activity_index": 40,
                                          "rumination_min": 480})))


def open_alerts(client, rule_id):
    return [a for a in client.get("/api/v1/alerts", headers=ADMIN).json()
            if a["rule_id"] == rule_id]


def test_fever_opens_is_acknowledged_and_clears(farmtel_stack):
    client, pub, listener = farmtel_stack
    t0 = time.time_ns() // 1_000_000 - 120 * MIN_MS
    temps = [38.6, 38.7, 40.1, 40.3]  # fever: >= 39.5 on two consecutive reports
    publish_all(pub, [collar(t0 + i * 15 * MIN_MS, i, t) for i, t in enumerate(temps)])

    wait_for(lambda: open_alerts(client, "collar.fever"), 10, "fever alert in the API")
    [alert] = open_alerts(client, "collar.fever")
    assert (alert["state"], alert["severity"], alert["device_id"]) == ("open", "critical",
                                                                      "col-1")
    assert alert["value"] == pytest.approx(40.3)
    wait_for(lambda: listener.kinds("collar.fever") == ["opened"], 10, "MQTT 'opened'")
    assert listener.messages[0]["topic"] == "farmtel/alerts/farm-a/barn-1"

    r = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=ADMIN,
                    json={"note": "vet called"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=ADMIN,
                       json={}).status_code == 409
    wait_for(lambda: listener.kinds("collar.fever") == ["opened", "acknowledged"], 10,
             "MQTT 'acknowledged'")

    # back to normal for longer than the clear hold (600 s of reading time): auto-resolve
    normal = [collar(t0 + (4 + i) * 15 * MIN_MS, 4 + i, 38.7) for i in range(3)]
    publish_all(pub, normal)
    wait_for(lambda: client.get(f"/api/v1/alerts/{alert['id']}",
                                headers=ADMIN).json()["state"] == "resolved", 10, "resolved")
    detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=ADMIN).json()
    assert [(e["from_state"], e["to_state"]) for e in detail["events"]] == [
        (None, "open"), ("open", "acknowledged"), ("acknowledged", "resolved")]
    assert detail["events"][1]["actor"] == "admin (FARMTEL_ADMIN_TOKEN)"
    assert detail["events"][1]["note"] == "vet called"
    wait_for(lambda: listener.kinds("collar.fever") == ["opened", "acknowledged", "resolved"],
             10, "MQTT 'resolved'")

    # a repeat of the same fever readings (redelivery) opens nothing new
    publish_all(pub, [collar(t0 + i * 15 * MIN_MS, i, t) for i, t in enumerate(temps)])
    time.sleep(0.5)
    assert len([a for a in client.get("/api/v1/alerts", headers=ADMIN).json()
                if a["rule_id"] == "collar.fever"]) == 1


def test_hot_humid_afternoon_raises_barn_thi(farmtel_stack):
    client, pub, _ = farmtel_stack
    t0 = time.time_ns() // 1_000_000 - 90 * MIN_MS
    # 33 °C, 70 % RH: THI = 91.4 - 0.165 * 33.4 = 85.9 (NRC 1971) -> "warning" band (>= 79)
    msgs = [(telemetry_topic("farm-a", "barn-1"),
             orjson.dumps(record(t0 + i * 5 * MIN_MS, i, {"air_temp_c": 33.0, "rh_pct": 70.0,
                                                          "nh3_ppm": 12.0, "co2_ppm": 1500})))
            for i in range(9)]  # 40 minutes: longer than the 30-minute minimum duration
    publish_all(pub, msgs)
    wait_for(lambda: open_alerts(client, "barn.thi"), 10, "THI alert")
    [alert] = open_alerts(client, "barn.thi")
    assert alert["severity"] == "warning" and alert["value"] == pytest.approx(85.9, abs=0.05)
    summary = client.get("/api/v1/alerts/summary", headers=ADMIN).json()
    assert {"county_id": "shuocheng", "severity": "warning", "state": "open",
            "count": 1} in summary
