"""Replaying readings the store refused, against a real InfluxDB: another writer made
``vwc_pct`` an integer field in a shard, so ingest's readings of that week are refused
(``store_type_conflict``) but kept whole; once an operator has removed the conflict (dropped
that shard), a replay stores every reading exactly once."""

from __future__ import annotations

from datetime import datetime

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from devices.contract import record, telemetry_topic
from farmtel.runtime import build_api
from storage.clock import DAY_MS, now_ms, to_ms
from tests import helpers as h

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ADMIN = {"Authorization": f"Bearer {h.ADMIN_TOKEN}"}


def shard_holding(influx_server, database: str, ts_ms: int) -> int:
    """The id of ``database``'s shard whose time range holds ``ts_ms``."""
    answer = influx_server.query("SHOW SHARDS")
    for series in answer["results"][0]["series"]:
        if series["name"] != database:
            continue
        cols = series["columns"]
        for row in series["values"]:
            shard = dict(zip(cols, row, strict=True))
            start, end = (to_ms(datetime.fromisoformat(shard[k].replace("Z", "+00:00")))
                          for k in ("start_time", "end_time"))
            if start <= ts_ms < end:
                return int(shard["id"])
    raise AssertionError(f"no shard of {database} holds {ts_ms}")


def test_readings_refused_for_a_field_type_are_replayed_once_it_is_fixed(
        tmp_path, mosquitto_server, influx_server, influx_database):
    settings = h.settings_for(
        tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
        mqtt_client_id=f"typed-{tmp_path.name}",
        store_url=f"influxdb://127.0.0.1:{influx_server.port}/{influx_database}")
    meta = h.small_registry(settings, {"sm-1": "soil_moisture"})
    t0 = now_ms() - 14 * DAY_MS  # a week of its own (shards hold 7 days)
    store, worker = h.start_ingest(settings, meta)
    influx_server.query(f'CREATE DATABASE "{influx_database}"')  # as the store does, at once
    r = httpx.post(f"{influx_server.url}/write",
                   params={"db": influx_database, "precision": "ms"},
                   content=f"telemetry,device_id=intruder vwc_pct=5i {t0}".encode())
    assert r.status_code == 204, r.text
    pub = h.publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    api = TestClient(build_api(meta, store, worker=worker, settings=settings))
    try:
        h.wait_for(lambda: worker.connected, 10, "ingest connected")
        messages = [(telemetry_topic("farm-a", "sm-1"),
                     orjson.dumps(record(t0 + 1 + i, i, {"vwc_pct": 20.0 + i / 10})))
                    for i in range(20)]
        expected = sorted(("sm-1", "vwc_pct", t0 + 1 + i) for i in range(20))
        h.publish_all(pub, messages)
        h.wait_for(lambda: worker.metrics["messages_acked"] == 20, 30, "all acked")
        assert worker.metrics["rejected"] == {"store_type_conflict": 20}
        assert h.stored_keys(store, ["vwc_pct"], t0, t0 + DAY_MS, ["sm-1"]) == []
        dead = api.get("/api/v1/dead-letters", headers=ADMIN,
                       params={"reason": "store_type_conflict"}).json()
        assert dead["items"] and all(d["replayable"] for d in dead["items"])

        early = api.post("/api/v1/dead-letters/replay", headers=ADMIN, json={}).json()
        assert early["replayed"] == 0 and early["still_refused"] >= 1  # not fixed yet

        influx_server.query(f"DROP SHARD {shard_holding(influx_server, influx_database, t0)}")
        r = api.post("/api/v1/dead-letters/replay", headers=ADMIN,
                     json={"reason": "store_type_conflict"})
        assert r.status_code == 200, r.text
        assert (r.json()["still_refused"], r.json()["readings_stored"]) == (0, 20)
        assert h.stored_keys(store, ["vwc_pct"], t0, t0 + DAY_MS, ["sm-1"]) == expected
        again = api.post("/api/v1/dead-letters/replay", headers=ADMIN, json={}).json()
        assert again["replayed"] == 0
        assert h.stored_keys(store, ["vwc_pct"], t0, t0 + DAY_MS, ["sm-1"]) == expected
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()
