"""Ingest crash: ``kill -9`` of a real ``farmtel ingest`` process mid-stream.

Messages it had not acknowledged stay with Mosquitto (persistent session, QoS 1) and are
redelivered to the restarted process; idempotent writes store each reading exactly once.
With SQLite, neither database is ever corrupt (``PRAGMA integrity_check``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devices.mqtt_publisher import ReliablePublisher
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry, wait_for
from tests.integration._faults import PROBES, Stream, count_stored, stored

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class IngestProcess:
    """``python -m farmtel.cli ingest`` configured only through FARMTEL_* variables."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log_path = self.tmp_path / f"ingest-{self.starts}.log"
        with log_path.open("wb") as log:
            self.proc = proc = subprocess.Popen([sys.executable, "-m", "farmtel.cli", "ingest"],
                                                env=self.env, cwd=self.tmp_path, stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: b"MQTT connected" in log_path.read_bytes() or proc.poll() is not None,
                 30, "ingest process connected")
        assert proc.poll() is None, log_path.read_text()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM (clean shutdown), SIGKILL if it lingers; the exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                return proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def test_kill_9_mid_stream_then_restart_stores_everything_once(tmp_path, mosquitto_server,
                                                                store_url):
    client_id = f"crash-{tmp_path.name}"
    settings = settings_for(tmp_path, store_url=store_url)
    small_registry(settings, PROBES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMTEL_")}
    env |= {"FARMTEL_DATA_DIR": str(settings.data_dir), "FARMTEL_ADMIN_TOKEN": ADMIN_TOKEN,
            "FARMTEL_STORE_URL": store_url, "FARMTEL_MQTT_HOST": "127.0.0.1",
            "FARMTEL_MQTT_PORT": str(mosquitto_server.port), "FARMTEL_MQTT_CLIENT_ID": client_id,
            "FARMTEL_FLUSH_INTERVAL_MS": "100", "FARMTEL_BATCH_MAX_READINGS": "400"}
    ingest = IngestProcess(tmp_path, env)
    store = open_store(store_url)
    pub = ReliablePublisher("127.0.0.1", mosquitto_server.port, client_id=f"p-{client_id}")
    try:
        ingest.start()
        pub.connect()
        stream = Stream(pub, 4000, rate=800).start()
        total = 2 * stream.count
        wait_for(lambda: count_stored(store) >= total // 4, 30, "a quarter stored")
        ingest.kill9()  # mid-stream: batches were being received, written and acknowledged
        at_kill = count_stored(store)
        assert at_kill < total
        if store_url.startswith("sqlite"):
            assert integrity(tmp_path / "data" / "telemetry.db") == "ok"
            assert integrity(tmp_path / "data" / "farmtel.db") == "ok"
        ingest.start()
        stream.join()
        pub.flush(timeout=30)
        wait_for(lambda: count_stored(store) >= total, 45, "everything stored after restart")
        assert stored(store) == sorted(stream.expected)
        assert ingest.stop() == 0
        if store_url.startswith("sqlite"):
            assert integrity(tmp_path / "data" / "telemetry.db") == "ok"
    finally:
        pub.close(flush_timeout=None)
        ingest.stop()
        store.close()
