"""End to end: simulated fleet -> real Mosquitto -> ingest -> SQLite and InfluxDB -> HTTP API.

Everything the simulator published comes back from the API exactly once; a batch of
malformed messages shows up in dead letters with exact counts by reason.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices.contract import telemetry_topic
from devices.mqtt_publisher import ReliablePublisher
from farmtel.runtime import build_api, open_metadata
from simulators.fleet import ensure_fleet, load_fleet
from simulators.runner import FleetRunner
from storage.clock import HOUR_MS
from tests.helpers import ADMIN_TOKEN, settings_for, start_ingest, wait_for

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class RecordingPublisher(ReliablePublisher):
    """Our publisher, remembering every (device, quantity, ts, value) it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: dict[tuple[str, str, int], float] = {}

    def publish_record(self, farm_id, device_id, ts_ms, seq, readings) -> int:
        for q, v in readings.items():
            self.sent[(device_id, q, ts_ms)] = v
        return super().publish_record(farm_id, device_id, ts_ms, seq, readings)

    def publish_gateway(self, farm_id, gateway_id, records) -> int:
        from devices.contract import parse_ts_ms

        for rec in records:
            ts = parse_ts_ms(rec["ts"])
            assert ts is not None
            for q, v in rec["readings"].items():
                self.sent[(rec["device_id"], q, ts)] = v
        return super().publish_gateway(farm_id, gateway_id, records)


def test_fleet_readings_reach_the_api_exactly_once(tmp_path, mosquitto_server, store_url):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            store_url=store_url, mqtt_client_id=f"e2e-{tmp_path.name}")
    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, 300, seed=7)
    assert ensure_fleet(meta.sessions, 300, seed=7) == 0  # idempotent
    store, worker = start_ingest(settings, meta)
    devices = load_fleet(meta.sessions, 300)
    assert len(devices) == 300
    pub = RecordingPublisher("127.0.0.1", mosquitto_server.port, client_id="e2e-sim")
    start_ms = time.time_ns() // 1_000_000 - 6 * HOUR_MS
    runner = FleetRunner(devices, pub, seed=7, start_ms=start_ms)
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        pub.connect()
        t0 = time.monotonic()
        for step in range(1, 37):  # six simulated hours in 10-minute steps
            runner.step(start_ms + step * 600_000)
        pub.flush(timeout=60)
        malformed = [b"{", b"[]", b'{"ts": "soon", "readings": {"vwc_pct": 1}}']
        sm = next(d for d in devices if d.device_type == "soil_moisture")
        for payload in malformed:
            pub.publish(telemetry_topic(sm.farm_id, sm.device_id), payload)
        pub.publish(telemetry_topic(sm.farm_id, "sm-nobody"), b"{}")
        pub.flush(timeout=30)
        total = runner.messages_published + len(malformed) + 1
        wait_for(lambda: worker.metrics["messages_acked"] == total, 120, "ingest acked all")
        elapsed = time.monotonic() - t0
        m = worker.metrics
        print(f"\ne2e {store_url.split(':')[0]}: {runner.messages_published} messages, "
              f"{runner.records_published} records, {m['readings_stored']} readings in "
              f"{elapsed:.2f} s = {m['messages_received'] / elapsed:.0f} msg/s, "
              f"{m['readings_stored'] / elapsed:.0f} readings/s (publish + ingest)")
        assert m["readings_stored"] == len(pub.sent)

        client = TestClient(build_api(meta, store, worker=worker))
        got: dict[tuple[str, str, int], float] = {}
        quantities: dict[str, set[str]] = {}
        for dev_id, q, _ in pub.sent:
            quantities.setdefault(dev_id, set()).add(q)
        for dev_id, qs in quantities.items():
            for q in qs:
                r = client.get("/api/v1/telemetry", headers=ADMIN, params={
                    "device_id": dev_id, "quantity": q,
                    "start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"})
                assert r.status_code == 200, r.text
                for p in r.json()["points"]:
                    key = (p["device_id"], q, _iso_ms(p["ts"]))
                    assert key not in got, f"{key} returned twice"
                    got[key] = p["value"]
        assert got.keys() == pub.sent.keys()
        assert all(got[k] == pytest.approx(v) for k, v in pub.sent.items())

        dead = client.get("/api/v1/dead-letters", headers=ADMIN).json()
        assert dead["counts_by_reason"] == {"malformed_json": 1, "bad_schema": 1,
                                            "bad_timestamp": 1, "unknown_device": 1}
        assert {d["reason"] for d in dead["items"]} == set(dead["counts_by_reason"])
        status = client.get("/api/v1/devices", headers=ADMIN).json()
        assert sum(d["online"] for d in status) == len(status)  # incl. the gateways
    finally:
        pub.close(flush_timeout=5)
        worker.stop()
        store.close()


def _iso_ms(text: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
