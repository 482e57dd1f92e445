"""Real servers for tests (and the benchmarks): start, wait until ready, stop (always), restart
with the same data; and farmtel's own commands as subprocesses (``IngestProcess``).

Plain classes, not fixtures: ``with InfluxServer() as influx: ...`` or ``start()``/``stop()``.
Each server owns a temporary directory (config, data, ``server.log``), removed on exit, and
keeps its ports across ``restart()``. A new server type subclasses ``_Server`` and provides
``_command()`` and ``_is_ready()`` (plus ``_prepare()`` for config files).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

__all__ = [
    "FarmtelProcess",
    "InfluxServer",
    "IngestProcess",
    "MosquittoServer",
    "PostgresServer",
    "ServerError",
    "UpProcess",
    "VictoriaMetricsServer",
    "farmtel_env",
    "free_port",
    "ingest_env",
]

ROOT = Path(__file__).resolve().parents[1]
_CONNECTED = b"MQTT connected"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerError(RuntimeError):
    """A test server did not start or stop as expected."""


class _Server:
    """A child process in its own temporary directory: start, wait for readiness, stop."""

    name = "server"
    executable = ""
    start_timeout_s = 30.0
    stop_timeout_s = 10.0
    stop_signal = signal.SIGTERM

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_dir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix=f"farmtel-{self.name}-")) if workdir is None else workdir
        )
        self.log_path = self.workdir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- for subclasses --

    def _prepare(self) -> None:
        """Write config files and create directories (called before every start)."""

    def _command(self) -> list[str]:
        """The argv, starting with ``executable``."""
        raise NotImplementedError

    def _is_ready(self) -> bool:
        """True once the server answers."""
        raise NotImplementedError

    # -- lifecycle --

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the process and wait until it answers (``ServerError`` with the log if not)."""
        if self.running:
            return self
        if shutil.which(self.executable) is None:
            raise ServerError(f"{self.executable} is not installed")
        self._prepare()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise ServerError(f"{self.name} exited at start:\n{self.log_tail()}")
            if self._is_ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} not ready in {self.start_timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers); a no-op when not running."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=self.stop_timeout_s)

    def restart(self) -> Self:
        """Stop and start again on the same ports and data."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop and remove the temporary directory (if this server created it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


class _HttpServer(_Server):
    """A server whose readiness is an HTTP GET answering ``ready_status``."""

    ready_path = "/"
    ready_status = 200

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir)
        self.port = free_port()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8086``."""
        return f"http://127.0.0.1:{self.port}"

    def _is_ready(self) -> bool:
        try:
            response = httpx.get(self.url + self.ready_path, timeout=1.0)
        except httpx.TransportError:
            return False
        return response.status_code == self.ready_status


class InfluxServer(_HttpServer):
    """InfluxDB 1.x ``influxd`` on 127.0.0.1, no auth (``auth=True``: HTTP authentication on, as
    docker-compose runs it), quiet logs, data in the workdir.

    ``max_values_per_tag`` overrides 1.x's default limit of 100,000 values per tag key (0: no
    limit, what a registry of 200,000 ``device_id`` values needs; InfluxDB 2 has no such limit).
    """

    name = "influxd"
    executable = "influxd"
    ready_path = "/ping"
    ready_status = 204

    def __init__(self, workdir: Path | None = None, *, max_values_per_tag: int | None = None,
                 auth: bool = False) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.config_path = self.workdir / "influxdb.conf"
        self.max_values_per_tag = max_values_per_tag
        self.auth = auth

    def _prepare(self) -> None:
        d = self.workdir
        tag_limit = ("" if self.max_values_per_tag is None
                     else f"\n  max-values-per-tag = {self.max_values_per_tag}")
        self.config_path.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{d / "meta"}"
  logging-enabled = false

[data]
  dir = "{d / "data"}"
  wal-dir = "{d / "wal"}"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  trace-logging-enabled = false{tag_limit}

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {str(self.auth).lower()}
  log-enabled = false
  pprof-enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""
        )

    def _command(self) -> list[str]:
        return [self.executable, "-config", str(self.config_path)]

    def query(self, text: str, database: str | None = None) -> dict[str, Any]:
        """Run InfluxQL (POST /query, epoch ms) and return the decoded JSON answer."""
        data = {"q": text, "epoch": "ms"}
        if database is not None:
            data["db"] = database
        response = httpx.post(self.url + "/query", data=data, timeout=10.0)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE`` (a no-op when it does not exist)."""
        self.query(f'DROP DATABASE "{name}"')


class VictoriaMetricsServer(_HttpServer):
    """Single-node VictoriaMetrics: line protocol on ``/write`` and ``/api/v2/write``."""

    name = "victoria-metrics"
    executable = "victoria-metrics"
    ready_path = "/health"

    def _command(self) -> list[str]:
        return [
            self.executable,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]


class MosquittoServer(_Server):
    """Mosquitto 2 on 127.0.0.1 with persistence in the workdir (sessions survive restarts).

    Anonymous by default; with ``password_file`` (and ``acl_file``) anonymous clients are
    refused and ``reload()`` makes Mosquitto re-read both files. ``listener_config`` replaces
    the listener and its login settings (``{port}`` stands for ``port``, the one checked for
    readiness).

    ``max_inflight_messages`` is raised because ingest acknowledges QoS 1 messages only after
    a batch is durable; with Mosquitto's default of 20, an MQTT 3.1.1 subscriber would stall.
    """

    name = "mosquitto"
    executable = "/usr/sbin/mosquitto"

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        extra_config: str = "",
        password_file: Path | None = None,
        acl_file: Path | None = None,
        listener_config: str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.config_path = self.workdir / "mosquitto.conf"
        self.extra_config = extra_config
        self.password_file = password_file
        self.acl_file = acl_file
        self.listener_config = listener_config

    def _prepare(self) -> None:
        (self.workdir / "data").mkdir(exist_ok=True)
        # Started as root, Mosquitto drops to the "mosquitto" user, which cannot write the
        # persistence file into our 0700 temporary directory (sessions would silently not
        # survive a restart) nor read a password file there: keep the current user.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" if os.geteuid() == 0 else ""
        auth = "allow_anonymous true\n"
        if self.password_file is not None:
            auth = f"allow_anonymous false\npassword_file {self.password_file}\n"
        if self.acl_file is not None:
            auth += f"acl_file {self.acl_file}\n"
        listeners = f"listener {self.port} 127.0.0.1\n{auth}"
        if self.listener_config is not None:  # its own listeners; "{port}" is ``self.port``
            listeners = self.listener_config.replace("{port}", str(self.port))
        self.config_path.write_text(
            f"""{listeners}{user}persistence true
persistence_location {self.workdir / "data"}/
autosave_interval 1
max_inflight_messages 10000
max_queued_messages 1000000
log_dest stdout
log_type error
log_type warning
{self.extra_config}
"""
        )

    def _command(self) -> list[str]:
        return [self.executable, "-c", str(self.config_path)]

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its password and ACL files (and drops clients they refuse)."""
        if self._proc is None or self._proc.poll() is not None:
            raise ServerError("mosquitto is not running")
        self._proc.send_signal(signal.SIGHUP)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    def _is_ready(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL server folder (``/usr/lib/postgresql/<major>/bin``)."""
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").is_file()]
    return max(found, key=lambda d: float(d.parent.name), default=None)


def _unprivileged_user() -> pwd.struct_passwd:
    """The account PostgreSQL runs as when we are root: Debian's ``postgres``, else ``nobody``."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerError("running as root and neither a 'postgres' nor a 'nobody' account exists")


class PostgresServer(_Server):
    """PostgreSQL from Debian's packages on 127.0.0.1, its cluster (``initdb``) in the workdir.

    Trust authentication on loopback for the superuser ``farmtel``, unix sockets in the workdir,
    ``fsync=off`` (test data need not survive a power cut). PostgreSQL refuses to run as root:
    then the server (and ``initdb``) run as ``postgres`` (or ``nobody``), which owns the workdir.
    ``url(database)`` is a SQLAlchemy URL; ``create_database``/``drop_database`` use ``psql``.
    """

    name = "postgres"
    user = "farmtel"
    start_timeout_s = 60.0
    stop_signal = signal.SIGINT  # "fast" shutdown: disconnect clients (SIGTERM would wait)

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.bindir = postgres_bindir()
        self.executable = str(self.bindir / "postgres") if self.bindir else "postgres"
        self.data_dir = self.workdir / "data"

    def url(self, database: str = "postgres") -> str:
        """``postgresql+psycopg://farmtel@127.0.0.1:<port>/<database>``."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        account = _unprivileged_user()
        return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                "--clear-groups", "--", *argv]

    def start(self) -> Self:
        """``initdb`` on first start, then start the server and wait until it accepts clients."""
        if self.bindir is None:
            raise ServerError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                              "`make servers` installs Debian's postgresql")
        return super().start()

    def _prepare(self) -> None:
        assert self.bindir is not None
        if os.geteuid() == 0:
            account = _unprivileged_user()
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        done = subprocess.run(
            self._as_server_user([str(self.bindir / "initdb"), "-D", str(self.data_dir),
                                  "-U", self.user, "--auth=trust", "-E", "UTF8",
                                  "--locale=C.UTF-8", "--no-sync", "--no-instructions"]),
            cwd=self.workdir, stdin=subprocess.DEVNULL, capture_output=True, check=False,
            env={**os.environ, "LC_ALL": "C.UTF-8"})
        if done.returncode != 0:
            raise ServerError(f"initdb failed:\n{done.stdout.decode()}{done.stderr.decode()}")

    def _command(self) -> list[str]:
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port),
                    "unix_socket_directories": str(self.workdir), "fsync": "off",
                    "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "300", "shared_buffers": "32MB",
                    "dynamic_shared_memory_type": "mmap", "log_min_messages": "warning"}
        argv = [self.executable, "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return self._as_server_user(argv)

    def _is_ready(self) -> bool:
        """``postmaster.pid``'s last line says ``ready`` once connections are accepted."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` (stops at the first error) and return its output."""
        if self.bindir is None:
            raise ServerError("PostgreSQL is not installed")
        done = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql],
            stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=60)
        if done.returncode != 0:
            raise ServerError(f"psql {sql!r} failed: {done.stderr.decode().strip()}")
        return done.stdout.decode()

    def create_database(self, name: str, template: str | None = None) -> str:
        """``CREATE DATABASE`` (UTF-8; empty, or a copy of the database ``template``, which
        nobody may be connected to); returns its ``url``."""
        copy = f' TEMPLATE "{template}"' if template is not None else ""
        self.psql(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE`` (a no-op when it does not exist), closing its open connections."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- farmtel's own commands -----------------------------------------------------------------


def farmtel_env(*, data_dir: Path, admin_token: str = "ft_test_admin_token", **settings: str,
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
               admin_token: str = "ft_test_admin_token", **settings: str) -> dict[str, str]:
    """``farmtel_env`` of an ingest worker on the local broker at ``mqtt_port``."""
    return farmtel_env(data_dir=data_dir, admin_token=admin_token, store_url=store_url,
                       mqtt_host="127.0.0.1", mqtt_port=str(mqtt_port),
                       mqtt_client_id=client_id, **settings)


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

    def kill(self) -> None:
        """SIGKILL, as a crash would (no clean shutdown), and reap it."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(10)

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


class UpProcess(FarmtelProcess):
    """``python -m farmtel.cli up`` (``env`` sets ``FARMTEL_API_PORT``): ready once its API
    answers ``/health`` with ingest connected to the broker."""

    command = "up"

    def __init__(self, env: Mapping[str, str], workdir: Path, log_path: Path) -> None:
        super().__init__(env, workdir, log_path)
        self.health_url = f"http://127.0.0.1:{self.env['FARMTEL_API_PORT']}/api/v1/health"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start it and wait until it is ready."""
        proc = self._spawn()
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if time.monotonic() > deadline or proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"farmtel up did not get ready:\n{self.log_tail()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            answer = httpx.get(self.health_url, timeout=2)
        except httpx.TransportError:
            return False
        return answer.status_code == 200 and answer.json().get("broker_connected") is True


def _log_time(line: bytes) -> float:
    """Epoch seconds of a line logged with farmtel's format (``%(asctime)s``, local time)."""
    stamp = line[:23].decode()  # "2026-05-09 07:35:25,123"
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
