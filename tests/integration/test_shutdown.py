"""Clean stops: a real ``farmtel up`` (embedded broker, SQLite) and a real ``farmtel ingest``
(Mosquitto, SQLite) stopped by SIGTERM, as ``docker stop`` and systemd send it, or SIGINT
(Ctrl-C): exit status 0, the clean-shutdown log lines, no traceback, and every reading the
broker acknowledged to a device is in the store (exactly once).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

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
    # comes; below the embedded broker's 5 s wait for ingest's PUBACK (amqtt's fixed timeout).
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
