"""``/ingest/stats`` across restarts: real ``farmtel ingest`` replicas (docker-compose's
configuration) on a real Mosquitto and InfluxDB, metadata on SQLite and PostgreSQL.

Counters are cumulative over every run of every worker identity; a worker that is gone leaves
the live view (``workers``) once its heartbeat is older than ``ingest_stale_after_s``, and
stays in the totals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices.contract import telemetry_topic
from farmtel.runtime import build_api
from tests.helpers import ADMIN_TOKEN, wait_for
from tests.integration._faults import FARM
from tests.integration._replicas import Deployment
from tests.servers import InfluxServer, MosquittoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

STALE_AFTER_S = 3


def test_counters_survive_restarts_and_gone_workers_age_out_of_the_live_view(
        tmp_path: Path, metadata_url: str, private_mosquitto: MosquittoServer,
        influx_server: InfluxServer, influx_database: str) -> None:
    d = Deployment(tmp_path, private_mosquitto,
                   f"influxdb://127.0.0.1:{influx_server.port}/{influx_database}",
                   database_url=metadata_url, ingest_stale_after_s=str(STALE_AFTER_S))
    api = TestClient(build_api(d.meta, d.store, metrics=False, settings=d.settings))

    def stats() -> dict[str, Any]:
        answer = api.get("/api/v1/ingest/stats",
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def malformed(count: int) -> None:
        for i in range(count):
            d.publisher.publish(telemetry_topic(FARM, "sm-1"), b"not json {%d" % i)
        d.publisher.flush(timeout=30)

    def counted(total: int) -> bool:
        s = stats()
        return bool(s["messages_received"] == total
                    and s["rejected"].get("malformed_json") == total)

    try:
        d.publisher.connect()
        a = d.replica("ingest-a")
        b = d.replica("ingest-b")
        malformed(40)
        wait_for(lambda: counted(40), 30, f"40 counted: {stats()}")
        assert stats()["workers"] == 2

        assert a.stop() == 0 and b.stop() == 0  # a clean restart: one replica comes back
        d.replica("ingest-c")
        malformed(10)
        wait_for(lambda: counted(50), 60, f"40 + 10 counted: {stats()}\n{d.logs()[-3000:]}")

        wait_for(lambda: stats()["workers"] == 1, 30, f"the gone replica aged out: {stats()}")
        final = stats()
        assert final["workers_gone"] == 1
        assert final["messages_received"] == 50  # the gone replica's counts stay in the totals
        assert final["rejected"]["malformed_json"] == 50
        assert final["spool_full"] is False
    finally:
        d.close()
