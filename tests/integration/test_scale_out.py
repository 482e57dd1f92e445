"""Scale-out: two ingest workers on one MQTT shared subscription, writing to one store.

Mosquitto hands each message of ``$share/<group>/...`` to one member of the group, so every
reading must be stored exactly once while both workers take part.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.contract import gateway_topic, record, telemetry_topic
from devices.directory import DeviceDirectory
from farmtel.runtime import build_ingest
from ingest.worker import IngestWorker
from storage.clock import HOUR_MS, now_ms
from storage.factory import open_store
from storage.telemetry import RangeQuery, TelemetryStore
from tests.helpers import publish_all, publisher, settings_for, small_registry, wait_for
from tests.servers import MosquittoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DEVICES = {"sm-1": "soil_moisture", "sm-2": "soil_moisture", "sm-3": "soil_moisture",
           "gw-1": "gateway", "col-1": "livestock_collar", "col-2": "livestock_collar"}
SERIES = [(d, q) for d in ("sm-1", "sm-2", "sm-3") for q in ("vwc_pct", "battery_v")] + [
    (d, q) for d in ("col-1", "col-2") for q in ("body_temp_c", "rumination_min")]
PROBE_MESSAGES = 3000  # direct probe messages
GATEWAY_MESSAGES = 300  # 2 collar records each


def workload(t0: int) -> tuple[list[tuple[str, bytes]], set[tuple[str, str, int]]]:
    """Messages (probes and a collar gateway) and the exact readings they carry."""
    messages: list[tuple[str, bytes]] = []
    expected: set[tuple[str, str, int]] = set()
    for i in range(PROBE_MESSAGES):
        did, ts = f"sm-{i % 3 + 1}", t0 + i * 100
        readings = {"vwc_pct": 20 + i % 50 / 10, "battery_v": 3.9}
        messages.append((telemetry_topic("farm-a", did), orjson.dumps(record(ts, i, readings))))
        expected |= {(did, q, ts) for q in readings}
    for i in range(GATEWAY_MESSAGES):
        ts = t0 + i * 1000
        recs = [record(ts, i, {"body_temp_c": 38.6, "rumination_min": 480}, device_id=c)
                for c in ("col-1", "col-2")]
        messages.append((gateway_topic("farm-a", "gw-1"), orjson.dumps({"records": recs})))
        expected |= {(c, q, ts) for c in ("col-1", "col-2")
                     for q in ("body_temp_c", "rumination_min")}
    return messages, expected


def stored(store: TelemetryStore, t0: int) -> list[tuple[str, str, int]]:
    """Every stored reading of the workload's series (a list: repeats would show)."""
    rows = []
    for did, q in SERIES:
        points = store.query(RangeQuery(quantity=q, start_ms=t0, end_ms=now_ms() + 60_000,
                                        device_id=did, limit=1_000_000))
        rows += [(p.device_id, p.quantity, p.ts_ms) for p in points]
    return rows


def acked(workers: list[IngestWorker], total: int, timeout_s: float) -> None:
    """Wait until the workers together acknowledged ``total`` messages."""
    wait_for(lambda: sum(w.metrics["messages_acked"] for w in workers) == total, timeout_s,
             f"{total} messages acknowledged")


def drop_session(port: int, client_id: str) -> None:
    """Clean start with session expiry 0: the broker forgets the worker's session."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect("127.0.0.1", port, clean_start=True, properties=props)
    client.loop_start()
    try:
        wait_for(client.is_connected, 10, "session cleanup connection")
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_two_workers_on_a_shared_subscription_store_every_reading_once(
        tmp_path: Path, mosquitto_server: MosquittoServer, store_url: str, protocol: str) -> None:
    group = f"scale-{tmp_path.name}"
    client_ids = [f"ingest-{tmp_path.name}-{i}" for i in range(2)]
    base = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                        store_url=store_url, mqtt_protocol=protocol, mqtt_shared_group=group)
    meta = small_registry(base, DEVICES)
    stores: list[TelemetryStore] = []
    workers: list[IngestWorker] = []
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        for client_id in client_ids:  # like two `farmtel ingest` processes: own store client
            settings = base.model_copy(update={"mqtt_client_id": client_id})
            store = open_store(settings.resolved_store_url)
            stores.append(store)
            directory = DeviceDirectory(meta.sessions)
            directory.reload()
            workers.append(build_ingest(settings, meta, store, directory))
        for worker in workers:
            worker.start()
        wait_for(lambda: all(w.connected for w in workers), 10, "both workers connected")

        t0 = now_ms() - HOUR_MS
        warm_up = 0  # until each worker has stored a message, both subscriptions are live
        while not all(w.metrics["messages_acked"] for w in workers):
            assert warm_up < 50, [w.metrics for w in workers]
            ts = t0 - 1000 - warm_up
            publish_all(pub, [(telemetry_topic("farm-a", "sm-3"),
                               orjson.dumps(record(ts, 0, {"vwc_pct": 30.0})))])
            warm_up += 1
            acked(workers, warm_up, 10)
        messages, expected = workload(t0)
        publish_all(pub, messages)

        total = warm_up + len(messages)
        acked(workers, total, 45)
        stats = [w.metrics for w in workers]
        rows = stored(stores[0], t0)
        assert len(rows) == len(set(rows))  # no reading stored twice
        assert set(rows) == expected  # none lost, none made up
        assert all(s["messages_received"] > 0 for s in stats), stats
        assert sum(s["messages_received"] for s in stats) == total  # each went to one worker
        assert sum(s["readings_stored"] for s in stats) == len(expected) + warm_up
        assert sum(s["duplicate_records"] for s in stats) == 0
        assert all(s["rejected_total"] == 0 and s["batches_spooled"] == 0 for s in stats), stats
    finally:
        pub.loop_stop()
        pub.disconnect()
        for worker in workers:
            worker.stop()
        for store in stores:
            store.close()
        for client_id in client_ids:
            drop_session(mosquitto_server.port, client_id)
