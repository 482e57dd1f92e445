"""ReliablePublisher without a broker: encoding, argument checks, no import-time side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from devices.mqtt_publisher import (
    PublishError,
    ReliablePublisher,
    encode_gateway_batch,
    encode_record,
)


def test_encode_record_follows_contract() -> None:
    payload = encode_record(1_751_299_200_123, 17, {"vwc_pct": 23.1, "soil_temp_c": 11.4})
    assert orjson.loads(payload) == {
        "ts": "2025-06-30T16:00:00.123Z",
        "seq": 17,
        "readings": {"vwc_pct": 23.1, "soil_temp_c": 11.4},
    }
    batch = encode_gateway_batch([{"device_id": "sm-1", "ts": "x", "seq": 1, "readings": {}}])
    assert orjson.loads(batch)["records"][0]["device_id"] == "sm-1"


def test_publish_before_connect_raises() -> None:
    pub = ReliablePublisher(port=1)
    with pytest.raises(PublishError):
        pub.publish("farmtel/f/d/telemetry", b"{}")
    pub.close()  # no-op when never connected


def test_window_bounds_checked() -> None:
    with pytest.raises(ValueError):
        ReliablePublisher(max_inflight=0)
    with pytest.raises(ValueError):
        ReliablePublisher(max_inflight=40_000)


def test_connect_failure_is_reported() -> None:
    pub = ReliablePublisher("127.0.0.1", 1, connect_timeout=0.5)
    with pytest.raises(ConnectionError):
        pub.connect()
    assert not pub.is_connected


def test_import_creates_no_threads() -> None:
    root = Path(__file__).resolve().parents[3]
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r})\n"
        "import threading, simulators.models, simulators.runner, devices.mqtt_publisher\n"
        "assert simulators.models.FAMILY_CLASSES\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
