"""Ingest replicas as docker-compose runs them: one configuration, a shared data volume, one
MQTT shared subscription, containers whose host names change when they are replaced.

Real ``farmtel ingest`` processes, each under a host name of its own, on a real Mosquitto and a
real InfluxDB. Whatever a replica acknowledged (spooled while the store was down) or left
queued in its broker session must reach the store when it comes back under another host name,
and when it is scaled away for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration._faults import Stream, count_stored, stored
from tests.integration._replicas import Deployment
from tests.servers import InfluxServer, MosquittoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def deployment(tmp_path: Path, private_mosquitto: MosquittoServer,
               private_influx: InfluxServer) -> Iterator[Deployment]:
    d = Deployment(tmp_path, private_mosquitto,
                   f"influxdb://127.0.0.1:{private_influx.port}/replicas")
    try:
        d.publisher.connect()
        yield d
    finally:
        d.close()


def test_replica_back_under_a_new_host_name_replays_its_spool_and_takes_its_session(
        deployment: Deployment, private_influx: InfluxServer) -> None:
    d = deployment
    d.replica("ingest-a")
    b = d.replica("ingest-b")
    private_influx.stop()  # the store is down: both replicas spool and acknowledge
    spooled = Stream(d.publisher, 300, rate=1000)
    spooled.run()
    d.publisher.flush(timeout=30)
    wait_for(lambda: d.acked() == spooled.count, 30, "300 messages spooled and acknowledged")

    b.kill()  # the container of replica b dies; compose replaces it under another host name
    queued = Stream(d.publisher, 400, rate=1000, first=spooled.count, t0_ms=spooled.t0_ms)
    queued.run()  # while b is away: the shared subscription keeps handing b's session its share
    d.publisher.flush(timeout=30)
    private_influx.start()
    d.replica("ingest-c")

    expected = sorted(spooled.expected + queued.expected)
    wait_for(lambda: count_stored(d.store) >= len(expected), 90,
             f"{len(expected)} readings stored\n{d.logs()[-3000:]}")
    assert stored(d.store) == expected  # none lost, none twice


def test_scaled_down_replica_loses_nothing(deployment: Deployment) -> None:
    d = deployment
    d.replica("ingest-a")
    b = d.replica("ingest-b")
    before = Stream(d.publisher, 200, rate=1000)
    before.run()
    d.publisher.flush(timeout=30)
    wait_for(lambda: count_stored(d.store) >= len(before.expected), 30, "first 200 stored")

    assert b.stop() == 0  # docker compose up --scale ingest=1: b stops and never comes back
    after = Stream(d.publisher, 400, rate=1000, first=before.count, t0_ms=before.t0_ms)
    after.run()
    d.publisher.flush(timeout=30)

    expected = sorted(before.expected + after.expected)
    wait_for(lambda: count_stored(d.store) >= len(expected), 60,
             f"{len(expected)} readings stored\n{d.logs()[-3000:]}")
    assert stored(d.store) == expected
    assert "adopting orphaned ingest identity farmtel-ingest-1" in d.logs()
