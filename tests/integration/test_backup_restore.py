"""Backup and restore of a running farmtel, on SQLite and on PostgreSQL metadata.

A real ``farmtel up`` (embedded broker, SQLite telemetry store) ingests telemetry published
over MQTT; its streaming rules open alerts, the API acknowledges and resolves them (audit
trail) and takes an indicator snapshot. ``farmtel backup`` runs while a publisher keeps
sending readings. Then everything is wiped, ``farmtel restore`` puts it back, ``farmtel up``
starts on it, and the registry, alerts with their events, snapshots and tokens are identical
to the running system's, and the stored readings are every reading acknowledged before the
backup began plus only readings from its duration (one consistent point in time).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, create_engine, make_url, select

from devices.contract import telemetry_topic
from devices.mqtt_publisher import encode_record
from storage.clock import HOUR_MS, MINUTE_MS, now_ms
from storage.factory import open_store
from tests.helpers import (
    ADMIN_TOKEN,
    publish_all,
    publisher,
    settings_for,
    small_registry,
    wait_for,
)
from tests.servers import ROOT, PostgresServer, UpProcess, farmtel_env, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FARM = "farm-a"
DEVICES = {"probe-1": "soil_moisture", "probe-2": "soil_moisture", "collar-1": "livestock_collar"}
QUANTITIES = ("vwc_pct", "battery_v", "body_temp_c")
STABLE_TABLES = ("counties", "farms", "sites", "devices", "alerts", "alert_events",
                 "indicator_snapshots", "indicator_snapshot_values", "indicator_snapshot_evidence",
                 "indicator_target_sets", "indicator_targets", "api_tokens", "device_placements",
                 "alembic_version", "schema_version")
"""Tables the live telemetry during the backup does not change (the checks below see it)."""

Dump = dict[str, list[tuple[Any, ...]]]


def dump_tables(url: str) -> Dump:
    """Every row of every table of the metadata database, sorted (a complete dump)."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: sorted(tuple(row) for row in conn.execute(select(table)))
                    for name, table in meta.tables.items()}
    finally:
        engine.dispose()


def stored_readings(store_url: str) -> list[tuple[str, str, int, float]]:
    """Every stored reading of ``QUANTITIES`` (device, quantity, ts_ms, value), read through
    the store protocol."""
    store = open_store(store_url)
    try:
        return sorted((device, q, ts, value) for q in QUANTITIES
                      for device, ts, value in store.raw_series(q, 0, now_ms() + HOUR_MS))
    finally:
        store.close()


def farmtel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m farmtel.cli ARGS`` to completion, output captured."""
    return subprocess.run([sys.executable, "-m", "farmtel.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def history(t0: int) -> list[tuple[str, bytes]]:
    """An hour of readings: probe-1's battery sags (low-battery alert), collar-1 runs a fever
    (fever alert), probe-2 is healthy."""
    messages = []
    for i in range(6):
        ts = t0 + i * 10 * MINUTE_MS
        messages += [
            (telemetry_topic(FARM, "probe-1"),
             encode_record(ts, i, {"vwc_pct": 24.0, "battery_v": 3.4 - 0.01 * i})),
            (telemetry_topic(FARM, "probe-2"),
             encode_record(ts, i, {"vwc_pct": 30.0, "battery_v": 3.9})),
            (telemetry_topic(FARM, "collar-1"),
             encode_record(ts, i, {"body_temp_c": 40.1 + 0.1 * i})),
        ]
    return messages


class LivePublisher:
    """Keeps publishing healthy probe-2 readings (QoS 1, each acknowledged) until stopped:
    every 100 ms of simulated time, soil moisture slowly rising (no alert rule fires)."""

    def __init__(self, mqtt_port: int, first_ts: int) -> None:
        self.client = publisher(mqtt_port, "backup-live")
        self.first_ts = first_ts
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for seq in itertools.count(1):
            if self.stop_event.is_set():
                return
            ts = self.first_ts + 100 * seq
            values = {"vwc_pct": 30.0 + seq / 1000, "battery_v": 3.9}
            publish_all(self.client, [(telemetry_topic(FARM, "probe-2"),
                                       encode_record(ts, seq, values))])

    def __enter__(self) -> LivePublisher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_event.set()
        self.thread.join(30)
        self.client.disconnect()
        self.client.loop_stop()


def api(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


@pytest.fixture
def wipe_metadata(metadata_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A function that deletes the metadata database (SQLite file, or PostgreSQL database
    dropped and created empty again)."""
    url = make_url(metadata_url)

    def wipe() -> None:
        if url.get_backend_name() == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{url.database}{suffix}").unlink(missing_ok=True)
            return
        server: PostgresServer = request.getfixturevalue("postgres_server")
        assert url.database is not None
        server.drop_database(url.database)
        server.create_database(url.database)

    yield wipe


def test_backup_of_a_running_system_restores_identically(tmp_path, metadata_url, wipe_metadata):
    settings = settings_for(tmp_path, database_url=metadata_url)
    small_registry(settings, DEVICES).engine.dispose()
    api_port, mqtt_port = free_port(), free_port()
    env = farmtel_env(data_dir=settings.data_dir, database_url=metadata_url,
                      api_port=str(api_port), mqtt_port=str(mqtt_port),
                      embedded_broker_host="127.0.0.1", alert_tick_interval_s="3600")
    store_url = settings.resolved_store_url
    backup_dir = tmp_path / "backup"
    t0 = now_ms() - 2 * HOUR_MS
    up = UpProcess(env, tmp_path, tmp_path / "up.log")
    try:
        up.start()
        client = publisher(mqtt_port, "backup-history")
        publish_all(client, history(t0))
        client.disconnect()
        client.loop_stop()
        with api(api_port) as http:
            def alerts() -> list[dict[str, Any]]:
                return list(http.get("/alerts").raise_for_status().json())

            wait_for(lambda: len(alerts()) == 2, 60, "the fever and low-battery alerts")
            by_rule = {a["rule_id"]: a["id"] for a in alerts()}
            http.post(f"/alerts/{by_rule['collar.fever']}/acknowledge",
                      json={"note": "vet called"}).raise_for_status()
            http.post(f"/alerts/{by_rule['device.battery_low']}/resolve",
                      json={"note": "battery swapped"}).raise_for_status()
            http.post("/indicators/snapshots", json={}).raise_for_status()
        wait_for(lambda: len(stored_readings(store_url)) == 6 * 5, 60, "the history stored")
        acknowledged = stored_readings(store_url)

        with LivePublisher(mqtt_port, t0 + HOUR_MS):  # writers continue during the backup
            wait_for(lambda: len(stored_readings(store_url)) > len(acknowledged) + 20, 60,
                     "live readings")
            before_tables, before_readings = dump_tables(metadata_url), stored_readings(store_url)
            done = farmtel(env, "backup", str(backup_dir))
            assert done.returncode == 0, done.stderr
            after_tables, after_readings = dump_tables(metadata_url), stored_readings(store_url)
            refused = farmtel(env, "restore", "--force", str(backup_dir))
        assert refused.returncode != 0
        assert "stop every farmtel process first" in refused.stderr
    finally:
        up.stop()
    assert "farmtel backup:" in done.stdout, done.stdout
    assert len(after_readings) > len(before_readings), "the backup ran while writes went on"

    # wipe everything, restore, start again
    wipe_metadata()
    shutil.rmtree(settings.data_dir)
    done = farmtel(env, "restore", str(backup_dir))
    assert done.returncode == 0, done.stderr
    again = farmtel(env, "restore", str(backup_dir))
    assert again.returncode != 0 and "restore with --force" in again.stderr, again.stderr
    up = UpProcess(env, tmp_path, tmp_path / "up-again.log")
    try:
        up.start()
        with api(api_port) as http:
            states = {a["rule_id"]: a["state"] for a in http.get("/alerts").json()}
        assert states == {"collar.fever": "acknowledged", "device.battery_low": "resolved"}
    finally:
        up.stop()

    restored_tables, restored_readings = dump_tables(metadata_url), stored_readings(store_url)
    for name in STABLE_TABLES:
        if name in before_tables:
            assert before_tables[name] == after_tables[name], f"{name} changed meanwhile"
            assert restored_tables[name] == before_tables[name], name
    assert restored_tables["alert_events"], "the audit trail is there"
    assert restored_tables["indicator_snapshots"], "the snapshot is there"
    assert set(restored_tables) == set(before_tables)
    # One point in time: everything stored before the backup began, nothing after it ended.
    assert set(before_readings) <= set(restored_readings) <= set(after_readings)


def test_restore_refuses_a_damaged_backup_and_a_newer_schema(tmp_path):
    settings = settings_for(tmp_path)
    small_registry(settings, DEVICES).engine.dispose()
    env = farmtel_env(data_dir=settings.data_dir)
    failed = farmtel(env, "backup", str(tmp_path / "failed"))
    assert failed.returncode != 0 and "no SQLite database" in failed.stderr, failed.stderr
    assert not any((tmp_path / "failed").iterdir()), "a failed backup leaves nothing behind"
    open_store(settings.resolved_store_url).close()
    backup_dir = tmp_path / "backup"
    assert farmtel(env, "backup", str(backup_dir)).returncode == 0
    assert farmtel(env, "backup", str(backup_dir)).returncode != 0, "no overwrite of a backup"
    shutil.rmtree(settings.data_dir)

    manifest = (backup_dir / "manifest.json").read_text()
    (backup_dir / "manifest.json").write_text(
        manifest.replace('"schema_revision": "', '"schema_revision": "9999'))
    done = farmtel(env, "restore", str(backup_dir))
    assert done.returncode != 0 and "newer than this farmtel" in done.stderr, done.stderr

    (backup_dir / "manifest.json").write_text(manifest)
    with (backup_dir / "metadata.sqlite").open("r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    done = farmtel(env, "restore", str(backup_dir))
    assert done.returncode != 0 and "SHA-256" in done.stderr, done.stderr
    assert not settings.data_dir.exists() or not any(settings.data_dir.iterdir())
