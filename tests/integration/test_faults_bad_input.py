"""Bad input that reaches real servers: InfluxQL injection through the API, a flood of
messages from unknown devices that must not fill the disk while the counts stay exact, a flood
of refused records that costs one dead letter per message, and refusals attributed to the
device their topic names."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from devices.contract import record, telemetry_topic
from farmtel.runtime import build_api
from ingest.deadletters import DeadLetter, DeadLetterStore, PendingDeadLetter
from ingest.rejections import Reason, Rejection
from storage.clock import HOUR_MS, now_ms
from storage.factory import open_store
from storage.influx import latest_statement, quote_literal, range_statement
from storage.telemetry import RangeQuery, Reading
from tests.helpers import (
    ADMIN_TOKEN,
    publish_all,
    publisher,
    settings_for,
    small_registry,
    start_ingest,
    stored_keys,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
INJECTIONS = [
    "sm-1' OR '1'='1",
    'sm-1" OR ""="',
    "sm-1'; DROP DATABASE \"{db}\"; --",
    "sm-1\\' OR 1=1 --",
    "sm-1' ) OR time > 0 --",
    "/.*/",
    "sm-1\nDROP DATABASE {db}",
]


def test_influxql_injection_through_the_api_fails(tmp_path, influx_server, influx_database):
    db = influx_database
    settings = settings_for(tmp_path, store_url=f"influxdb://127.0.0.1:{influx_server.port}/{db}")
    meta = small_registry(settings, {"sm-1": "soil_moisture", "sm-2": "soil_moisture"})
    store = open_store(settings.resolved_store_url)
    t0 = now_ms() - HOUR_MS
    store.write([Reading(d, "vwc_pct", 20.0, t0 + i, i, 0, "soil_moisture", "field-1",
                         "farm-a", "shuocheng") for d in ("sm-1", "sm-2") for i in range(3)])
    api = TestClient(build_api(meta, store))
    window = {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    try:
        for raw in INJECTIONS:
            evil = raw.format(db=db)
            attempts = [
                {"device_id": evil, "quantity": "vwc_pct"},
                {"site_id": evil, "quantity": "vwc_pct"},
                {"device_id": "sm-1", "quantity": f'vwc_pct" FROM /.*/ --{evil}'},
                {"device_id": "sm-1", "quantity": "vwc_pct", "every": f"1h{evil}"},
                {"device_id": "sm-1", "quantity": "vwc_pct", "every": "1h",
                 "agg": f"mean) {evil}"},
            ]
            for params in attempts:
                r = api.get("/api/v1/telemetry", headers=ADMIN, params={**params, **window})
                assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
            r = api.get(f"/api/v1/devices/{quote(evil, safe='')}/latest", headers=ADMIN)
            assert r.status_code in (404, 405, 422), (evil, r.status_code)
            # below the API: the store refuses to build InfluxQL from such identifiers
            with pytest.raises(ValueError):
                range_statement(RangeQuery(quantity="vwc_pct", start_ms=0, end_ms=1,
                                           device_id=evil))
            with pytest.raises(ValueError):
                latest_statement("vwc_pct", [evil])
            with pytest.raises(ValueError):
                store.latest([evil])
            # and the escaping holds at the server too: the literal matches nothing
            answer = influx_server.query(
                f'SELECT * FROM "telemetry" WHERE "device_id" = {quote_literal(evil)}', db)
            assert "series" not in answer["results"][0], answer
        # nothing was dropped, nothing leaked: sm-1 still has exactly its own three points
        assert db in str(influx_server.query("SHOW DATABASES"))
        r = api.get("/api/v1/telemetry", headers=ADMIN,
                    params={"device_id": "sm-1", "quantity": "vwc_pct", **window})
        assert r.status_code == 200
        assert [(p["device_id"], p["value"]) for p in r.json()["points"]] == [("sm-1", 20.0)] * 3
    finally:
        store.close()


def test_a_flood_from_unknown_devices_is_counted_exactly_but_kept_bounded(
        tmp_path, mosquitto_server, caplog):
    caplog.set_level("WARNING", logger="ingest.deadletters")
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"flood-{tmp_path.name}", dead_letter_keep=200,
                            dead_letter_payload_bytes=64)
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        t = now_ms() - 1000
        flood = [(telemetry_topic("farm-x", f"intruder-{i}"),
                  orjson.dumps(record(t, i, {"vwc_pct": 1.0})) + b" " * 500)
                 for i in range(3000)]
        flood += [(telemetry_topic("farm-a", "sm-1"), b"\xff\xfe not json") for _ in range(500)]
        good = (telemetry_topic("farm-a", "sm-1"), orjson.dumps(record(t, 1, {"vwc_pct": 21.0})))
        started = time.monotonic()
        publish_all(pub, [*flood, good])
        wait_for(lambda: worker.metrics["messages_acked"] == len(flood) + 1, 40, "all acked")
        elapsed = time.monotonic() - started
        m = worker.metrics
        assert m["rejected"] == {"unknown_device": 3000, "malformed_json": 500}
        assert m["readings_stored"] == 1
        with meta.sessions() as s:
            rows = s.scalar(select(func.count()).select_from(DeadLetter))
            longest = s.scalar(select(func.max(func.length(DeadLetter.payload))))
        assert rows == 200 and longest <= 64
        api = TestClient(build_api(meta, store, worker=worker))
        dead = api.get("/api/v1/dead-letters", headers=ADMIN, params={"limit": 1000}).json()
        assert dead["counts_by_reason"] == {"unknown_device": 3000, "malformed_json": 500}
        assert len(dead["items"]) == 200
        logged = [r for r in caplog.records if r.getMessage().startswith("dead letter ")]
        windows = math.ceil(elapsed) + 2
        assert len(logged) <= 2 * 5 * windows  # 5 a second per reason, the rest summarised
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()


def test_dead_letters_are_pruned_by_age_and_count(tmp_path):
    from farmtel.migrate import upgrade_schema
    from storage.metadata import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade_schema(engine)
    sessions = make_session_factory(engine)
    dl = DeadLetterStore(sessions, keep=10, max_age_s=3600)
    now = datetime.now(UTC)

    def pending(n: int, at: datetime) -> list[PendingDeadLetter]:
        return [PendingDeadLetter(Rejection(Reason.UNKNOWN_DEVICE, f"#{i}", "t"), b"x", at)
                for i in range(n)]

    dl.write(pending(3, now - timedelta(hours=2)))
    dl.write(pending(4, now))
    with sessions() as s:
        assert [d.detail for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))] == \
            ["#0", "#1", "#2", "#3"]  # the two-hour-old ones are gone
    dl.write(pending(50, now))  # a burst larger than the bound: only the newest 10 kept
    with sessions() as s:
        details = [d.detail for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert details == [f"#{i}" for i in range(40, 50)]


def flood_message(ts: int, records: int) -> bytes:
    """One message of ``records`` records whose every reading is out of range."""
    return orjson.dumps({"records": [record(ts + i, i, {"vwc_pct": 500.0})
                                     for i in range(records)]})


def test_a_flood_of_refused_records_costs_one_dead_letter_per_message(
        tmp_path, mosquitto_server):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"records-{tmp_path.name}",
                            dead_letter_payload_bytes=512)
    meta = small_registry(settings, {"sm-1": "soil_moisture", "bad-1": "soil_moisture"})
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        t = now_ms() - 60_000
        flood = [(telemetry_topic("farm-a", "bad-1"), flood_message(t + 10_000 * m, 3_300))
                 for m in range(30)]
        assert all(240_000 < len(p) <= settings.max_payload_bytes for _, p in flood)
        good = [(telemetry_topic("farm-a", "sm-1"), orjson.dumps(record(t + i, i,
                                                                      {"vwc_pct": 21.0})))
                for i in range(30)]
        publish_all(pub, [m for pair in zip(flood, good, strict=True) for m in pair])
        wait_for(lambda: worker.metrics["messages_acked"] == 60, 40, "all acked")
        m = worker.metrics
        assert m["rejected"] == {"out_of_range": 30 * 3_300}  # exact, per refused reading
        assert stored_keys(store, ["vwc_pct"], 0, now_ms(), ["sm-1"]) == sorted(
            ("sm-1", "vwc_pct", t + i) for i in range(30))
        with meta.sessions() as s:
            rows = list(s.scalars(select(DeadLetter)))
        assert len(rows) == 30  # one per message, not one per refused reading
        assert {(r.device_id, r.reason, r.refused) for r in rows} == {
            ("bad-1", "out_of_range", 3_300)}
        assert all(len(r.payload) == 512 for r in rows)
        api = TestClient(build_api(meta, store, worker=worker))
        dead = api.get("/api/v1/dead-letters", headers=ADMIN, params={"limit": 1000}).json()
        assert dead["counts_by_reason"] == {"out_of_range": 99_000}
        assert [d["counts"] for d in dead["items"]] == [{"out_of_range": 3_300}] * 30
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()


def test_every_refusal_is_attributed_to_the_device_its_topic_names(tmp_path, mosquitto_server):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"claim-{tmp_path.name}")
    meta = small_registry(settings, {"sm-1": "soil_moisture", "sm-2": "soil_moisture"})
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        t = now_ms() - 60_000
        topic = telemetry_topic("farm-a", "sm-1")
        unparsed = [b"\xff\xfe not json", b"{broken", b"", b"[1, 2]", b'"text"',
                    b'{"records": []}']
        parsed = [orjson.dumps(record(t + i, i, {"vwc_pct": 500.0})) for i in range(2)] + [
            orjson.dumps({"ts": "yesterday", "readings": {"vwc_pct": 20.0}}),
            orjson.dumps(record(t, 9, {"no_such_quantity": 1.0}))]
        other = (telemetry_topic("farm-a", "sm-2"), b"{broken")
        publish_all(pub, [(topic, p) for p in unparsed + parsed] + [other])
        wait_for(lambda: worker.metrics["messages_acked"] == 11, 30, "all acked")
        api = TestClient(build_api(meta, store, worker=worker))
        items = api.get("/api/v1/dead-letters", headers=ADMIN,
                        params={"device_id": "sm-1"}).json()["items"]
        assert len(items) == 10  # every refusal of sm-1, the unparsable ones too
        assert {d["farm_id"] for d in items} == {"farm-a"}
        assert sorted(d["claimed_by_topic"] for d in items) == [False] * 4 + [True] * 6
        others = api.get("/api/v1/dead-letters", headers=ADMIN,
                         params={"device_id": "sm-2"}).json()["items"]
        assert [(d["reason"], d["claimed_by_topic"]) for d in others] == [
            ("malformed_json", True)]
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()
