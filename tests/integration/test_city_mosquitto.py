"""A small city fleet through a real Mosquitto, in accelerated time, with a gateway outage:
every record the simulator generated arrives, exactly once, the backlog included."""

from __future__ import annotations

import threading
import time

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.contract import parse_topic, parse_ts_ms, subscription_topics
from devices.mqtt_publisher import ReliablePublisher
from simulators.city import CityMessage, CitySimulator, OutageSpec
from simulators.city_fleet import city_layout
from simulators.city_runner import CityRunner, start_ms_for
from storage.clock import HOUR_MS
from tests.servers import MosquittoServer

pytestmark = pytest.mark.integration

SPEED = 1500.0  # simulated seconds per second: 6 s of running cover 2.5 h
DURATION_S = 6.0


class _Collector:
    """QoS 1 subscriber on the device topics, keeping every payload."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="city-it-collector",
                                  protocol=MQTTProtocolVersion.MQTTv311, clean_session=False)
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(t, 1) for t in subscription_topics()])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_every_generated_record_arrives_including_the_backlog(
        mosquitto_server: MosquittoServer) -> None:
    layout = city_layout(2_000, seed=11)
    now_ms = time.time_ns() // 1_000_000
    start = start_ms_for(SPEED, DURATION_S, now_ms)
    # a third of the gateways down from 20 min in, for 80 min: the backlog is partly > 1 h old
    outage = OutageSpec(fraction=1 / 3, minutes=80, start_s=20 * 60)
    sim = CitySimulator(layout, start_ms=start, seed=11, outage=outage, max_records=300)
    handed: list[CityMessage] = []
    publishers = [ReliablePublisher("127.0.0.1", mosquitto_server.port,
                                    client_id=f"city-it-pub-{k}", max_inflight=100)
                  for k in range(2)]
    collector = _Collector(mosquitto_server.port)
    try:
        runner = CityRunner(sim, publishers, speed=SPEED, duration_s=DURATION_S,
                            wall_origin=now_ms / 1000, on_message=handed.append)
        runner.run()  # drains every gateway and waits for every PUBACK
        deadline = time.monotonic() + 30
        while collector.count() < len(handed) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # a duplicate would come right behind
        received = list(collector.messages)
    finally:
        collector.close()

    c = sim.counters
    assert runner.error is None
    assert sim.pending_records() == 0
    assert sum(p.acked for p in publishers) == len(handed) == c.messages + c.backlog_messages
    # the same messages, byte for byte, each once
    assert sorted(received) == sorted((m.topic, m.payload) for m in handed)
    records = []
    for topic, payload in received:
        t = parse_topic(topic)
        assert t is not None
        doc = orjson.loads(payload)
        for r in doc["records"] if t.kind == "gateway" else [doc]:
            records.append((r.get("device_id", t.sender_id), parse_ts_ms(r["ts"])))
    assert len(records) == len(set(records)) == c.records_out
    assert c.records_out == c.records_generated - c.warmup_records_dropped
    # the burst: every cut-off gateway flushed its backlog in bounded messages, timestamps kept
    backlog = [m for m in handed if m.backlog]
    assert len(backlog) == c.backlog_messages > len({m.topic for m in backlog})
    assert {m.topic.split("/")[2] for m in backlog} == {
        layout.gateways[g].id for g in np.flatnonzero(sim.outage_gateways)}
    assert max(m.records for m in backlog) <= 300
    stamps = [ts for m in backlog for r in orjson.loads(m.payload)["records"]
              if (ts := parse_ts_ms(r["ts"])) is not None]
    assert len(stamps) == c.backlog_records
    assert min(stamps) < sim.outage_end_ms - HOUR_MS < max(stamps) <= sim.outage_end_ms
    assert runner.burst.messages == c.backlog_messages and runner.burst.acked_wall is not None
    # accelerated time never ran ahead of the wall clock (ingest refuses the future)
    assert max(ts for _, ts in records if ts is not None) <= time.time() * 1000
