"""Clean stops: a real ``farmtel up`` (embedded broker, SQLite) and a real ``farmtel ingest``
(Mosquitto, SQLite) stopped by SIGTERM, as ``docker stop`` and systemd send it, or SIGINT
(Ctrl-C): exit status 0, the clean-shutdown log lines, no traceback, and every reading the
broker acknowledged to a device is in the store (exactly once).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.contract import telemetry_topic
from devices.mqtt_publisher import encode_record
from storage.clock import now_ms
from storage.factory import open_store
from tests.helpers import Key, publish_all, publisher, settings_for, small_registry, wait_for
from tests.integration._faults import FARM, PROBES, QUANTITIES, stored
from tests.servers import FarmtelProcess, IngestProcess, UpProcess, farmtel_env, free_port, ingest_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RECORDS = 400


def telemetry(count: int, first: int = 0) -> tuple[list[tuple[str, bytes]], list[Key]]:
    """``count`` records round-robin over ``PROBES`` (topic, payload), and their readings."""
    t0 = now_ms() - 600_000
    messages, expected = [], []
    devices = sorted(PROBES)
    for i in range(first, first + count):
        device, ts = devices[i % len(devices)], t0 + i
        messages.append((telemetry_topic(FARM, device),
                         encode_record(ts, i, {"vwc_pct": 10 + i % 30, "battery_v": 3.6})))
        expected += [(device, q, ts) for q in QUANTITIES]
    return messages, sorted(expected)


def stop_with(process: FarmtelProcess, sig: signal.Signals, timeout_s: float = 60.0) -> int:
    """Send ``sig`` and wait for the exit; its status."""
    proc = process.proc
    assert proc is not None and proc.poll() is None, process.log_tail()
    proc.send_signal(sig)
    return proc.wait(timeout_s)


def assert_clean_stop(log_path: Path, command: str, sig: signal.Signals) -> None:
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]
    assert f"farmtel {command}: {sig.name} received, stopping" in text, text[-4000:]
    assert text.count(f"farmtel {command}: stopped\n") == 1, text[-4000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_farmtel_up_stops_cleanly_and_keeps_every_acknowledged_reading(tmp_path, sig):
    settings = settings_for(tmp_path)
    small_registry(settings, PROBES).engine.dispose()
    api_port, mqtt_port = free_port(), free_port()
    # A long batch interval, so what was published is still in ingest's batch when the signal
    # comes (the embedded broker keeps a message in flight until ingest acknowledges it).
    env = farmtel_env(data_dir=settings.data_dir, api_host="127.0.0.1", api_port=str(api_port),
                      mqtt_port=str(mqtt_port), embedded_broker_host="127.0.0.1",
                      flush_interval_ms="1500")
    up = UpProcess(env, tmp_path, tmp_path / "up.log")
    messages, expected = telemetry(RECORDS)
    client = None
    try:
        up.start()
        client = publisher(mqtt_port, "shutdown-test")
        publish_all(client, messages)  # every PUBACK received
        client.disconnect()
        client.loop_stop()
        client = None
        assert stop_with(up, sig) == 0, up.log_tail()
    finally:
        if client is not None:
            client.loop_stop()
        up.stop()
    assert_clean_stop(up.log_path, "up", sig)
    store = open_store(settings.resolved_store_url)
    try:
        assert stored(store) == expected
    finally:
        store.close()


class AckedStream:
    """A device publishing QoS 1 telemetry continuously (about ``rate`` msg/s) until its
    connection drops; it never reconnects. ``acked`` is every reading the broker acknowledged,
    ``acked_after_disconnect`` the PUBACKs that came after the connection dropped."""

    def __init__(self, port: int, client_id: str, rate: float = 300.0) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  reconnect_on_failure=False)
        self.client.max_inflight_messages_set(100)
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.rate = rate
        self.acks = 0
        self.acks_at_disconnect: int | None = None
        self.disconnected = threading.Event()
        self._sent: list[tuple[mqtt.MQTTMessageInfo, list[Key]]] = []
        self._thread = threading.Thread(target=self._run, name="acked-stream", daemon=True)

    def _on_publish(self, *_: Any) -> None:
        self.acks += 1

    def _on_disconnect(self, *_: Any) -> None:
        if self.acks_at_disconnect is None:
            self.acks_at_disconnect = self.acks
        self.disconnected.set()

    def _run(self) -> None:
        t0, devices, started = now_ms() - 600_000, sorted(PROBES), time.monotonic()
        i = 0
        while not self.disconnected.is_set():
            device, ts = devices[i % len(devices)], t0 + i
            info = self.client.publish(telemetry_topic(FARM, device), encode_record(
                ts, i, {"vwc_pct": 10 + i % 30, "battery_v": 3.6}), qos=1)
            self._sent.append((info, [(device, q, ts) for q in QUANTITIES]))
            i += 1
            ahead = i / self.rate - (time.monotonic() - started)
            if ahead > 0:
                self.disconnected.wait(ahead)

    def start(self) -> AckedStream:
        self.client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.disconnected.set()
        self._thread.join(10)
        self.client.loop_stop()

    @property
    def acked(self) -> list[Key]:
        return sorted(k for info, keys in self._sent if info.is_published() for k in keys)

    @property
    def acked_after_disconnect(self) -> int:
        assert self.acks_at_disconnect is not None, "the connection never dropped"
        return self.acks - self.acks_at_disconnect


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_farmtel_up_stopping_mid_stream_keeps_every_acknowledged_reading(tmp_path, sig):
    """Devices keep publishing while ``farmtel up`` stops: the embedded broker closes to them
    first, so every reading it acknowledged reaches the store and nothing is acknowledged
    after that (with the broker stopped last, ingest drained, then the broker went on
    acknowledging into a queue that died with it)."""
    settings = settings_for(tmp_path)
    small_registry(settings, PROBES).engine.dispose()
    api_port, mqtt_port = free_port(), free_port()
    env = farmtel_env(data_dir=settings.data_dir, api_host="127.0.0.1", api_port=str(api_port),
                      mqtt_port=str(mqtt_port), embedded_broker_host="127.0.0.1",
                      flush_interval_ms="500")
    up = UpProcess(env, tmp_path, tmp_path / "up.log")
    stream: AckedStream | None = None
    try:
        up.start()
        stream = AckedStream(mqtt_port, "stream-device").start()
        wait_for(lambda: stream is not None and stream.acks >= 600, 30, "600 PUBACKs")
        assert stop_with(up, sig) == 0, up.log_tail()
        assert stream.disconnected.wait(10), "the broker never disconnected the device"
    finally:
        if stream is not None:
            stream.stop()
        up.stop()
    assert_clean_stop(up.log_path, "up", sig)
    acked = stream.acked
    store = open_store(settings.resolved_store_url)
    try:
        kept = set(stored(store))
    finally:
        store.close()
    missing = [k for k in acked if k not in kept]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged readings lost"
    assert stream.acked_after_disconnect == 0


def test_farmtel_ingest_stops_cleanly_on_sigterm_and_loses_nothing(tmp_path, mosquitto_server):
    store_url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    settings = settings_for(tmp_path, store_url=store_url)
    small_registry(settings, PROBES).engine.dispose()
    env = ingest_env(data_dir=settings.data_dir, store_url=store_url,
                     mqtt_port=mosquitto_server.port, client_id=f"stop-{tmp_path.name}",
                     flush_interval_ms="1500")
    ingest = IngestProcess(env, tmp_path, tmp_path / "ingest.log")
    messages, expected = telemetry(RECORDS)
    store = open_store(store_url)
    client = publisher(mosquitto_server.port, f"p-stop-{tmp_path.name}")
    try:
        ingest.start()
        publish_all(client, messages)  # Mosquitto acknowledged every message
        assert stop_with(ingest, signal.SIGTERM) == 0, ingest.log_tail()
        assert_clean_stop(ingest.log_path, "ingest", signal.SIGTERM)
        # What ingest had received is stored (drained, no duplicate); anything it had not
        # received yet stays with Mosquitto (persistent session), for the next start.
        after_stop = stored(store)
        assert len(set(after_stop)) == len(after_stop)
        assert set(after_stop) <= set(expected)
        ingest.start()
        wait_for(lambda: len(stored(store)) >= len(expected), 60, "everything stored")
        assert stop_with(ingest, signal.SIGTERM) == 0, ingest.log_tail()
        assert stored(store) == expected
    finally:
        client.loop_stop()
        client.disconnect()
        ingest.stop()
        store.close()
