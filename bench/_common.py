"""Helpers shared by the benchmarks (run from the repository root: ``python -m bench.<name>``).

* ``/proc`` probes of a child process: resident memory, CPU seconds; the machine's busy time;
* ``percentile`` and ``latency_stats`` (p50/p99/min/max);
* ``bulk_register``: a synthetic registry inserted in bulk; ``write_batched``: readings
  written through a store's ``write()`` in ingest-sized batches;
* ``telemetry_subscriber``: a paho subscriber to the telemetry topics, as ingest subscribes;
* ``MachineLoad``: the machine's load around a run; ``py_spy``: sampling a process meanwhile.

Servers (Mosquitto, InfluxDB) and farmtel subprocesses (``IngestProcess``, ``farmtel_env``)
come from ``tests/servers.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.contract import subscription_topics
from devices.provisioning import insert_registry_rows
from farmtel.runtime import Metadata
from storage.telemetry import Reading, TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
WRITE_BATCH = 5_000  # readings per write(), ingest's default batch
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """A memory figure of ``/proc/<pid>/status`` [KiB]: ``VmRSS`` now, ``VmHWM`` its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads) [s]."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ", fields 3.. of proc(5)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime [clock ticks]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank), NaN for no values."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def latency_stats(ms: Sequence[float], prefix: str = "") -> dict[str, float]:
    """``{prefix}p50_ms``, ``p99_ms`` (nearest rank), ``min_ms`` and ``max_ms`` of ``ms`` [ms]."""
    values = list(ms)
    return {f"{prefix}p50_ms": percentile(values, 50), f"{prefix}p99_ms": percentile(values, 99),
            f"{prefix}min_ms": min(values, default=float("nan")),
            f"{prefix}max_ms": max(values, default=float("nan"))}


def bulk_register(meta: Metadata, farms: Sequence[dict[str, Any]],
                  sites: Sequence[dict[str, Any]], devices: Sequence[dict[str, Any]],
                  chunk: int = 50_000) -> None:
    """Insert rows of farms, sites and devices (SQLAlchemy Core executemany, gateways before
    the devices behind them), then bump the registry version once."""
    with meta.engine.begin() as conn:
        insert_registry_rows(conn, farms=farms, sites=sites, devices=devices, chunk=chunk)


def write_batched(store: TelemetryStore, readings: Iterable[Reading],
                  batch: int = WRITE_BATCH) -> int:
    """Write ``readings`` through ``store.write`` in batches of ``batch``; readings written."""
    pending: list[Reading] = []
    n = 0
    for r in readings:
        pending.append(r)
        if len(pending) >= batch:
            store.write(pending)
            n += len(pending)
            pending = []
    if pending:
        store.write(pending)
        n += len(pending)
    return n


class MachineLoad:
    """The machine around a benchmark run: load average at the start, wall time, and the CPU
    time other processes (not this one nor its children) used meanwhile."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._busy0, self._own0 = busy_cpu_s(), own_cpu_s()
        self.load_average = Path("/proc/loadavg").read_text().split()[:3]

    def elapsed_s(self) -> float:
        """Wall time since the start [s]."""
        return time.monotonic() - self.started

    def others_cpu_s(self) -> float:
        """CPU time other processes on this machine used since the start [s]."""
        return (busy_cpu_s() - self._busy0) - (own_cpu_s() - self._own0)

    def report(self) -> dict[str, Any]:
        """``when``, ``elapsed_s`` and ``machine`` (CPUs, Python, load, others' CPU) of a result."""
        return {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                "elapsed_s": round(self.elapsed_s(), 1),
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                            "load_average_at_start": self.load_average,
                            "cpu_s_used_by_other_processes": round(self.others_cpu_s(), 1)}}

    def footer(self) -> str:
        """'N s; other processes on this machine used ... CPU-s meanwhile (...)'."""
        elapsed, others = self.elapsed_s(), self.others_cpu_s()
        return (f"{elapsed:.0f} s; other processes on this machine used {others:.0f} CPU-s "
                f"meanwhile ({others / elapsed:.0%} of one core)")


@contextlib.contextmanager
def telemetry_subscriber(port: int, client_id: str, on_message: Callable[..., None], *,
                         credentials: tuple[str, str] | None = None,
                         on_connected: Callable[[], None] | None = None) -> Iterator[mqtt.Client]:
    """A paho subscriber to the telemetry topics on the local broker (MQTT 3.1.1, QoS 1,
    persistent session, as ingest), between its SUBACK and its disconnect; ``on_connected``
    is called on every connection."""
    subscribed = threading.Event()

    def on_connect(client: mqtt.Client, *_: Any) -> None:
        if on_connected is not None:
            on_connected()
        client.subscribe([(t, 1) for t in subscription_topics()])

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv311, clean_session=False)
    if credentials is not None:
        client.username_pw_set(*credentials)
    client.on_connect = on_connect
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        if not subscribed.wait(10):
            raise TimeoutError("no SUBACK")
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def busy_cpu_s() -> float:
    """CPU time the whole machine spent busy since boot, all cores [s] (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU time of this process and its reaped descendants [s]."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None, *, threads: bool = False) -> Iterator[None]:
    """py-spy samples process ``pid`` meanwhile (raw collapsed stacks into ``out``, 250 Hz);
    nothing when ``out`` is None."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "-o", str(out)]
    proc = subprocess.Popen(argv + (["--threads"] if threads else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
