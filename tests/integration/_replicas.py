"""Support for the replica tests: ``farmtel ingest`` processes configured like docker-compose's
ingest service, each under a host name of its own (a UTS namespace, as a container has), on a
Mosquitto and an InfluxDB of the test alone (sessions and outages must not leak)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devices.mqtt_publisher import ReliablePublisher
from ingest.stats_store import load_stats
from storage.factory import open_store
from storage.telemetry import TelemetryStore
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.integration._faults import PROBES
from tests.servers import ROOT, IngestProcess, MosquittoServer, ingest_env

IDENTITY_SETTINGS = ("FARMTEL_MQTT_CLIENT_ID", "FARMTEL_MQTT_SHARED_GROUP")


def compose_identity() -> dict[str, str]:
    """The identity settings docker-compose.yml gives the ingest service (by field name)."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["ingest"]
    env: dict[str, Any] = service["environment"]
    return {k.removeprefix("FARMTEL_").lower(): str(env[k]) for k in IDENTITY_SETTINGS}


class HostIngest(IngestProcess):
    """``farmtel ingest`` whose host name is ``hostname`` (``unshare --uts``, then ``hostname``)."""

    def __init__(self, env: Mapping[str, str], workdir: Path, hostname: str) -> None:
        super().__init__(env, workdir, workdir / f"ingest-{hostname}.log")
        self.hostname = hostname

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("farmtel ingest is already running")
        script = 'hostname "$1" && exec "$2" -m farmtel.cli ingest'
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--uts", "sh", "-c", script, "sh", self.hostname, sys.executable],
                env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
        return self.proc


class Deployment:
    """A registry, the compose ingest configuration on the test's servers, a publisher."""

    def __init__(self, tmp_path: Path, mosquitto: MosquittoServer, store_url: str,
                 **settings: str) -> None:
        self.tmp_path = tmp_path
        self.settings = settings_for(tmp_path, store_url=store_url, **settings)
        self.meta = small_registry(self.settings, PROBES)
        identity = compose_identity()
        self.env = ingest_env(data_dir=self.settings.data_dir, store_url=store_url,
                              mqtt_port=mosquitto.port, client_id=identity["mqtt_client_id"],
                              admin_token=ADMIN_TOKEN, mqtt_shared_group=identity[
                                  "mqtt_shared_group"], flush_interval_ms="100", **settings)
        self.processes: list[HostIngest] = []
        self.store: TelemetryStore = open_store(store_url)
        self.publisher = ReliablePublisher("127.0.0.1", mosquitto.port,
                                           client_id=f"pub-{tmp_path.name}")

    def replica(self, hostname: str) -> HostIngest:
        """A started replica on host ``hostname``."""
        process = HostIngest(self.env, self.tmp_path, hostname)
        self.processes.append(process)
        process.start()
        return process

    def acked(self) -> int:
        """Messages acknowledged by the replicas' current runs, from their saved counters."""
        return sum(int(s.get("messages_acked", 0)) for s in load_stats(self.meta.sessions))

    def logs(self) -> str:
        """Every replica's output so far."""
        return "\n".join(p.log_path.read_text(errors="replace") for p in self.processes
                         if p.log_path.exists())

    def close(self) -> None:
        self.publisher.close(flush_timeout=None)
        for process in self.processes:
            process.stop()
        self.store.close()
        self.meta.engine.dispose()
