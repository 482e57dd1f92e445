"""Clock faults end to end (Mosquitto -> ingest -> SQLite -> API): a device whose clock is
off is flagged or refused by the documented policy (``ingest.decode``), never silently
stored at the wrong time.

Policy: more than 5 min ahead of the receive time -> stored with the ``CLOCK_SUSPECT`` flag;
more than 15 min ahead -> dead letter ``clock_future``, its message kept whole for replay;
older than 365 days -> ``too_old``; older than 1 h -> stored at its own timestamp with the
``LATE`` flag. Refusals whose cause is fixed later (the server's clock, a device registered
late) are replayed through the API and then stored exactly once.
"""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from devices.contract import gateway_topic, record, telemetry_topic
from farmtel.runtime import build_api
from storage.clock import HOUR_MS, MINUTE_MS, now_ms
from storage.telemetry import Quality
from tests.helpers import (
    ADMIN_TOKEN,
    publish_all,
    publisher,
    settings_for,
    small_registry,
    start_ingest,
    wait_for,
)
from tests.integration._faults import PROBES, stored

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEVICES = {"ahead": "soil_moisture", "behind": "soil_moisture", "ancient": "soil_moisture",
           "slight": "soil_moisture", "good": "soil_moisture", "gw-1": "gateway",
           "col-1": "livestock_collar"}


def test_devices_with_wrong_clocks_are_flagged_or_dead_lettered(tmp_path, mosquitto_server):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"clock-{tmp_path.name}")
    meta = small_registry(settings, DEVICES)
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        now = now_ms()
        offsets = {"ahead": 3 * HOUR_MS, "behind": -3 * HOUR_MS, "ancient": -400 * 24 * HOUR_MS,
                   "slight": 4 * 60_000, "good": -1_000}
        messages = []
        for i in range(5):  # five reports per device, one a second by its own clock
            for device, offset in offsets.items():
                ts = now + offset + i * 1000
                messages.append((telemetry_topic("farm-a", device),
                                 orjson.dumps(record(ts, i, {"vwc_pct": 20.0 + i}))))
        # a gateway forwarding a collar whose clock jumped a day ahead, and one fine record
        recs = [record(now + 24 * HOUR_MS, 1, {"body_temp_c": 38.5}, device_id="col-1"),
                record(now - 2_000, 2, {"body_temp_c": 38.6}, device_id="col-1")]
        messages.append((gateway_topic("farm-a", "gw-1"), orjson.dumps({"records": recs})))
        publish_all(pub, messages)
        wait_for(lambda: worker.metrics["messages_acked"] == len(messages), 30, "all acked")

        def keys(device: str, offset: int) -> list[tuple[str, str, int]]:
            return [(device, "vwc_pct", now + offset + i * 1000) for i in range(5)]

        # stored: exactly the acceptable clocks, at the devices' own timestamps
        assert stored(store, ("ahead", "ancient")) == []
        assert stored(store, ("behind", "slight", "good")) == sorted(
            keys("behind", offsets["behind"]) + keys("slight", offsets["slight"])
            + keys("good", offsets["good"]))
        m = worker.metrics
        assert m["rejected"] == {"clock_future": 6, "too_old": 5}

        api = TestClient(build_api(meta, store, worker=worker))
        latest = {d: api.get(f"/api/v1/devices/{d}/latest", headers=ADMIN).json()
                  for d in ("behind", "slight", "good", "col-1", "ahead")}
        assert [x["quality"] for x in latest["behind"]] == [int(Quality.LATE)]
        assert [x["quality"] for x in latest["slight"]] == [int(Quality.GOOD)]
        assert [x["quality"] for x in latest["good"]] == [int(Quality.GOOD)]
        assert latest["ahead"] == []
        assert [x["value"] for x in latest["col-1"]] == [38.6]  # not the future record
        dead = api.get("/api/v1/dead-letters", headers=ADMIN,
                       params={"reason": "clock_future"}).json()
        assert dead["counts_by_reason"] == {"clock_future": 6, "too_old": 5}
        assert {d["device_id"] for d in dead["items"]} == {"ahead", "col-1"}
        assert all("ahead of receive time" in d["detail"] for d in dead["items"])
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()


class ServerClock:
    """The ingest server's clock: the real time plus an offset a test steps [ms]."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def __call__(self) -> int:
        return now_ms() + self.offset_ms


def readings(devices: tuple[str, ...], count: int, first_ts: int
             ) -> tuple[list[tuple[str, bytes]], list[tuple[str, str, int]]]:
    """``count`` correct one-reading messages round-robin over ``devices`` and their keys."""
    messages, keys = [], []
    for i in range(count):
        device = devices[i % len(devices)]
        messages.append((telemetry_topic("farm-a", device),
                         orjson.dumps(record(first_ts + i, i, {"vwc_pct": 20.0 + i % 10}))))
        keys.append((device, "vwc_pct", first_ts + i))
    return messages, keys


@pytest.mark.timeout(120)  # 200 messages and two replays on a shared machine
def test_a_server_clock_behind_loses_no_correct_reading(tmp_path, mosquitto_server, store_url):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"step-{tmp_path.name}", store_url=store_url)
    meta = small_registry(settings, PROBES)
    clock = ServerClock(-10 * MINUTE_MS)  # the server's clock stepped 10 minutes back
    store, worker = start_ingest(settings, meta, clock_ms=clock)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    api = TestClient(build_api(meta, store, worker=worker, settings=settings))
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        # 10 min behind: kept, flagged CLOCK_SUSPECT
        first, first_keys = readings(tuple(PROBES), 100, now_ms())
        publish_all(pub, first)
        wait_for(lambda: worker.metrics["messages_acked"] == 100, 30, "first 100 acked")
        assert stored(store) == sorted(first_keys)
        assert worker.metrics["rejected"] == {}
        latest = api.get("/api/v1/devices/sm-1/latest", headers=ADMIN).json()
        assert [x["quality"] for x in latest] == [int(Quality.CLOCK_SUSPECT)]

        # an hour behind: refused as clock_future, but kept whole in the replay area
        clock.offset_ms = -HOUR_MS
        second, second_keys = readings(tuple(PROBES), 100, now_ms() + 1_000)
        publish_all(pub, second)
        wait_for(lambda: worker.metrics["messages_acked"] == 200, 30, "second 100 acked")
        assert worker.metrics["rejected"] == {"clock_future": 100}
        assert stored(store) == sorted(first_keys)
        dead = api.get("/api/v1/dead-letters", headers=ADMIN,
                       params={"reason": "clock_future", "limit": 1000}).json()
        assert len(dead["items"]) == 100 and all(d["replayable"] for d in dead["items"])
        assert dead["replay_area"]["messages"] == 100

        clock.offset_ms = 0  # the clock is fixed; the admin replays
        r = api.post("/api/v1/dead-letters/replay", headers=ADMIN,
                     json={"reason": "clock_future"})
        assert r.status_code == 200, r.text
        assert r.json() == {"replayed": 100, "still_refused": 0, "readings_stored": 100,
                            "still_refused_by_reason": {}}
        assert stored(store) == sorted(first_keys + second_keys)  # each exactly once
        again = api.post("/api/v1/dead-letters/replay", headers=ADMIN, json={}).json()
        assert (again["replayed"], again["still_refused"]) == (0, 0)
        assert stored(store) == sorted(first_keys + second_keys)
        dead = api.get("/api/v1/dead-letters", headers=ADMIN,
                       params={"reason": "clock_future", "limit": 1000}).json()
        assert dead["replay_area"]["messages"] == 0
        assert all(d["replayed_at"] is not None and not d["replayable"] for d in dead["items"])
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()


def test_a_device_registered_late_is_replayed_once_registered(tmp_path, mosquitto_server):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"late-{tmp_path.name}")
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    api = TestClient(build_api(meta, store, worker=worker, settings=settings))
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        late, late_keys = readings(("late-1",), 20, now_ms() - 60_000)
        ghost, _ = readings(("ghost",), 5, now_ms() - 60_000)
        publish_all(pub, late + ghost)
        wait_for(lambda: worker.metrics["messages_acked"] == 25, 30, "all acked")
        assert worker.metrics["rejected"] == {"unknown_device": 25}
        assert stored(store, ("late-1",)) == []

        r = api.post("/api/v1/devices", headers=ADMIN,
                     json={"device_id": "late-1", "type": "soil_moisture", "site_id": "field-1"})
        assert r.status_code == 201, r.text
        r = api.post("/api/v1/dead-letters/replay", headers=ADMIN, json={"device_id": "late-1"})
        assert r.json() == {"replayed": 20, "still_refused": 0, "readings_stored": 20,
                            "still_refused_by_reason": {}}
        assert stored(store, ("late-1",)) == sorted(late_keys)
        rest = api.post("/api/v1/dead-letters/replay", headers=ADMIN,
                        json={"reason": "unknown_device"}).json()
        assert (rest["replayed"], rest["still_refused"]) == (0, 5)  # ghost: still unknown
        assert stored(store, ("late-1",)) == sorted(late_keys)
        for bad in ({"reason": "malformed_json"}, {"reason": "no_such_reason"},
                    {"since": "2026-12-08T00:00:00Z", "until": "2026-12-07T00:00:00Z"}):
            r = api.post("/api/v1/dead-letters/replay", headers=ADMIN, json=bad)
            assert r.status_code == 422, (bad, r.text)
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()
