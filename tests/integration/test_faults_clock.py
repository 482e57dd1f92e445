"""Clock faults end to end (Mosquitto -> ingest -> SQLite -> API): a device whose clock is
off is flagged or refused by the documented policy (``ingest.decode``), never silently
stored at the wrong time.

Policy: more than 5 min ahead of the receive time -> dead letter ``clock_future``; older than
365 days -> ``too_old``; older than 1 h -> stored at its own timestamp with the ``LATE`` flag.
"""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from devices.contract import gateway_topic, record, telemetry_topic
from farmtel.runtime import build_api
from storage.clock import HOUR_MS, now_ms
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
from tests.integration._faults import stored

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
