"""Shared fixtures: real servers, started once per session, fresh names per test, and the
telemetry store URL and metadata database URL of both backends."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from farmtel.migrate import upgrade_schema
from storage.metadata import make_engine
from tests.servers import InfluxServer, MosquittoServer, PostgresServer, ServerError


@pytest.fixture(scope="session")
def influx_server() -> Iterator[InfluxServer]:
    """A running InfluxDB 1.x (``influxd``), killed at the end of the session."""
    with InfluxServer() as server:
        yield server


@pytest.fixture
def influx_database(influx_server: InfluxServer) -> Iterator[str]:
    """A database name no other test uses; dropped afterwards (best effort)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    if influx_server.running:
        with contextlib.suppress(httpx.HTTPError):
            influx_server.drop_database(name)


@pytest.fixture(scope="session")
def mosquitto_server() -> Iterator[MosquittoServer]:
    """A running Mosquitto 2 (anonymous, persistent), killed at the end of the session."""
    with MosquittoServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "influxdb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The telemetry store of the test, once per backend: a SQLite file in ``tmp_path``, or a
    fresh database on the session's InfluxDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'telemetry.db'}"
    influx: InfluxServer = request.getfixturevalue("influx_server")
    database: str = request.getfixturevalue("influx_database")
    return f"influxdb://127.0.0.1:{influx.port}/{database}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL (Debian's packages, a cluster in a temporary folder), stopped at the
    end of the session."""
    with PostgresServer() as server:
        yield server


@contextlib.contextmanager
def _fresh_database(server: PostgresServer, template: str | None = None) -> Iterator[str]:
    """The URL of a new database with a name no other test uses; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name, template)
    if server.running:
        with contextlib.suppress(ServerError):
            server.drop_database(name)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database no other test uses; dropped afterwards."""
    with _fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_metadata_template(postgres_server: PostgresServer) -> str:
    """A database with farmtel's current metadata schema (every migration applied), which each
    test's PostgreSQL metadata database copies: ~0.2 s, three times faster than migrating."""
    name = "farmtel_metadata_template"
    engine = make_engine(postgres_server.create_database(name))
    try:
        upgrade_schema(engine)
    finally:
        engine.dispose()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The metadata database of the test, once per backend: an empty SQLite file in
    ``tmp_path``, or a fresh database with the current schema on the session's PostgreSQL
    (``upgrade_schema`` on it finds nothing to do)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_metadata_template")
    with _fresh_database(server, template) as url:
        yield url
