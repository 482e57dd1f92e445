"""Fixtures for pure ingest tests: a decoder over the fixed registry of ``_support``."""

from __future__ import annotations

import pytest

from ingest.decode import DecodePolicy, MessageDecoder
from tests.unit.ingest._support import DEVICES


@pytest.fixture
def decoder() -> MessageDecoder:
    return MessageDecoder(DEVICES.get, DecodePolicy(max_payload_bytes=64 * 1024))
