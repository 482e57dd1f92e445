"""A spool on a full disk: a real ``farmtel ingest`` whose spool folder is a 256 KiB tmpfs,
InfluxDB down, far more than 256 KiB of telemetry.

A write the disk refuses is a full spool: ingest stops acknowledging (Mosquitto keeps the
rest), says so once with an ALERT line (no traceback per retry), and ``/ingest/stats``,
``/api/v1/health`` and the worker's ``farmtel_ingest_spool_full`` gauge report it; once
InfluxDB is back, the spool drains, the condition clears and every reading is stored exactly
once.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from farmtel.runtime import build_api
from ingest.stats_store import load_rows
from tests.helpers import ADMIN_TOKEN, metric_samples, wait_for
from tests.integration._faults import Stream, count_stored, stored
from tests.integration._replicas import Deployment
from tests.servers import InfluxServer, MosquittoServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SPOOL_FS_BYTES = 256 * 1024


def heartbeat(d: Deployment) -> datetime:
    """The latest time a replica saved its counters."""
    return max(row.updated_at for row in load_rows(d.meta.sessions))


@pytest.fixture
def tiny_spool_disk(tmp_path: Path) -> Iterator[Path]:
    """``data/spool`` as a 256 KiB tmpfs (the test runs as root)."""
    mount = tmp_path / "data" / "spool"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SPOOL_FS_BYTES}", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_spool_is_reported_backpressured_and_clears(
        tmp_path: Path, tiny_spool_disk: Path, private_mosquitto: MosquittoServer,
        private_influx: InfluxServer) -> None:
    metrics_port = free_port()
    d = Deployment(tmp_path, private_mosquitto,
                   f"influxdb://127.0.0.1:{private_influx.port}/diskfull",
                   metrics_port=str(metrics_port))
    api = TestClient(build_api(d.meta, d.store, metrics=False, settings=d.settings))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def stats() -> dict[str, Any]:
        answer = api.get("/api/v1/ingest/stats", headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def spool_check() -> dict[str, Any]:
        checks = api.get("/api/v1/health").json()["checks"]
        return next((c for c in checks if c["name"] == "spool"), {})

    def spool_full_gauge() -> float:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        return metric_samples(text)[("farmtel_ingest_spool_full", (("sink", "store"),))]

    try:
        d.publisher.connect()
        ingest = d.replica("ingest-a")
        private_influx.stop()
        stream = Stream(d.publisher, 4000, rate=2000)  # 8,000 readings: ~600 KiB spooled
        stream.run()
        wait_for(lambda: stats()["spool_full"] is True, 60, f"spool_full\n{ingest.log_tail()}")
        assert spool_check()["status"] == "full"
        assert spool_full_gauge() == 1
        assert stats()["messages_acked"] < stream.count  # backpressure: the broker holds the rest
        acked = stats()["messages_acked"]
        seen_full = heartbeat(d)
        wait_for(lambda: heartbeat(d) >= seen_full + timedelta(seconds=3), 30,
                 "the worker retried for 3 s while full")
        log = d.logs()
        assert log.count("ALERT spool_full") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert stats()["messages_acked"] == acked  # still nothing acknowledged while full

        private_influx.start()
        d.publisher.flush(timeout=60)
        wait_for(lambda: count_stored(d.store) >= len(stream.expected), 90,
                 f"everything stored\n{ingest.log_tail()}")
        assert stored(d.store) == sorted(stream.expected)
        wait_for(lambda: stats()["spool_full"] is False, 30, "spool_full cleared")
        assert spool_check()["status"] == "ok"
        assert spool_full_gauge() == 0
        assert d.logs().count("ALERT spool_full") == 1
        assert "Traceback" not in d.logs()
    finally:
        d.close()
