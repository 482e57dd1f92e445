"""Fixtures for the water-management tests: a real SQLite telemetry store (builders of series
to write into it are in ``_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.sqlite import SqliteTelemetryStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTelemetryStore]:
    """A fresh SQLite telemetry store in ``tmp_path``."""
    with SqliteTelemetryStore(tmp_path / "telemetry.db") as s:
        yield s
