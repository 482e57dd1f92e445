"""Fixtures of the integration tests: servers of one test alone, for tests that stop them or
that use fixed client ids (docker-compose's) which must not meet another test's sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import InfluxServer, MosquittoServer


@pytest.fixture
def private_mosquitto() -> Iterator[MosquittoServer]:
    """A Mosquitto of this test alone."""
    with MosquittoServer() as server:
        yield server


@pytest.fixture
def private_influx() -> Iterator[InfluxServer]:
    """An InfluxDB of this test alone (it gets stopped and restarted)."""
    with InfluxServer() as server:
        yield server
