"""Helpers shared by the benchmarks (run from the repository root: ``python -m bench.<name>``).

* ``/proc`` probes of a child process: resident memory, CPU seconds; the machine's busy time;
* ``percentile`` and ``latency_stats`` (p50/p99/min/max);
* ``farmtel_env``: the environment of a ``python -m farmtel.cli`` subprocess;
* ``IngestProcess``: one ``farmtel ingest`` worker run as a real subprocess with ``FARMTEL_*``
  environment variables, started until it is connected to the broker and stopped with SIGTERM
  (killed if it lingers), its output in a log file;
* ``bulk_register``: a synthetic registry inserted in bulk; ``write_batched``: readings
  written through a store's ``write()`` in ingest-sized batches;
* ``telemetry_subscriber``: a paho subscriber to the telemetry topics, as ingest subscribes;
* ``MachineLoad``: the machine's load around a run; ``py_spy``: sampling a process meanwhile.

Servers (Mosquitto, InfluxDB) come from ``tests/servers.py``.
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
_CONNECTED = b"MQTT connected"


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


def farmtel_env(*, data_dir: Path, admin_token: str = "ft_bench", **settings: str,
                ) -> dict[str, str]:
    """This process's environment without its ``FARMTEL_*`` variables, plus the given ones,
    with the repository root on ``PYTHONPATH``.

    ``settings`` are settings by field name (``mqtt_shared_group="g"`` becomes
    ``FARMTEL_MQTT_SHARED_GROUP=g``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMTEL_")}
    env |= {"FARMTEL_DATA_DIR": str(data_dir), "FARMTEL_ADMIN_TOKEN": admin_token}
    env |= {f"FARMTEL_{name.upper()}": value for name, value in settings.items()}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def ingest_env(*, data_dir: Path, store_url: str, mqtt_port: int, client_id: str,
               admin_token: str = "ft_bench", **settings: str) -> dict[str, str]:
    """``farmtel_env`` of an ingest worker on the local broker at ``mqtt_port``."""
    return farmtel_env(data_dir=data_dir, admin_token=admin_token, store_url=store_url,
                       mqtt_host="127.0.0.1", mqtt_port=str(mqtt_port),
                       mqtt_client_id=client_id, **settings)


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


class FarmtelProcess:
    """``python -m farmtel.cli <command>`` in ``workdir`` with ``env``, its output appended to
    ``log_path``; subclasses wait in ``start`` until it is ready."""

    command = ""

    def __init__(self, env: Mapping[str, str], workdir: Path, log_path: Path) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The running process's id."""
        if self.proc is None:
            raise RuntimeError(f"farmtel {self.command} is not running")
        return self.proc.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"farmtel {self.command} is already running")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "farmtel.cli", self.command],
                                         env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        return self.proc

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (it finishes its work, then exits); kill after ``timeout_s``.

        Returns the exit status (``None`` if it was not running).
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        return proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of its output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class IngestProcess(FarmtelProcess):
    """``python -m farmtel.cli ingest``: a worker, ready once connected to the broker."""

    command = "ingest"

    def __init__(self, env: Mapping[str, str], workdir: Path, log_path: Path) -> None:
        super().__init__(env, workdir, log_path)
        self._log_offset = 0

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the worker and wait until it is connected (and has sent its subscriptions).

        Returns the wall-clock time [epoch s] of its "MQTT connected" log line. Appends to the
        log, so a restarted worker keeps the earlier output.
        """
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        proc = self._spawn()
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._connected_line()
            if line is not None:
                return _log_time(line)
            if time.monotonic() > deadline or proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"ingest did not connect:\n{self.log_tail()}")
            time.sleep(0.02)

    def _connected_line(self) -> bytes | None:
        with self.log_path.open("rb") as fh:
            fh.seek(self._log_offset)
            for line in fh:
                if _CONNECTED in line:
                    return line
        return None


def _log_time(line: bytes) -> float:
    """Epoch seconds of a line logged with farmtel's format (``%(asctime)s``, local time)."""
    stamp = line[:23].decode()  # "2026-05-09 07:35:25,123"
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


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
