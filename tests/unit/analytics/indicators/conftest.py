"""Shared fixture: the hand-built registry and its telemetry store."""

from __future__ import annotations

import pytest

from .handbuilt import open_handbuilt


@pytest.fixture
def env(tmp_path, metadata_url):
    sessions, store = open_handbuilt(tmp_path, metadata_url)
    yield sessions, store
    store.close()
