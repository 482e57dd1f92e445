"""Support for the fault tests: a paced telemetry stream that remembers what it published,
and an exact read-back of what the store holds (a list, so a duplicate would show)."""

from __future__ import annotations

import threading
import time

from devices.contract import telemetry_topic
from devices.mqtt_publisher import ReliablePublisher, encode_record
from storage.clock import DAY_MS, now_ms
from storage.telemetry import TelemetryStore
from tests.helpers import Key, stored_keys

FARM = "farm-a"
PROBES = {f"sm-{i}": "soil_moisture" for i in range(1, 5)}
QUANTITIES = ("vwc_pct", "battery_v")


class Stream:
    """Publishes ``count`` records round-robin over ``devices`` at about ``rate`` msg/s.

    Record ``i`` has timestamp ``t0_ms + i`` ms and carries both ``QUANTITIES``. Runs on a
    thread (``start``) or inline (``run``); ``expected`` is every reading it published.
    """

    def __init__(self, publisher: ReliablePublisher, count: int, *, rate: float = 500.0,
                 devices: tuple[str, ...] = tuple(PROBES), first: int = 0,
                 t0_ms: int | None = None) -> None:
        self.publisher = publisher
        self.count = count
        self.rate = rate
        self.devices = devices
        self.first = first
        self.t0_ms = t0_ms if t0_ms is not None else now_ms() - 600_000
        self.published = 0
        self.expected: list[Key] = []
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        started = time.monotonic()
        for n in range(self.count):
            i = self.first + n
            device = self.devices[i % len(self.devices)]
            ts = self.t0_ms + i
            payload = encode_record(ts, i, {"vwc_pct": 10 + i % 30, "battery_v": 3.6})
            self.publisher.publish(telemetry_topic(FARM, device), payload)
            self.expected += [(device, q, ts) for q in QUANTITIES]
            self.published += 1
            ahead = (n + 1) / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported by join()
            self.error = exc

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._guarded, name="stream", daemon=True)
        self._thread.start()
        return self

    def wait_published(self, n: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.published < n:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {self.published} of {n} published"
            time.sleep(0.01)

    def join(self, timeout_s: float = 60.0) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "stream did not finish"
        if self.error is not None:
            raise self.error


def stored(store: TelemetryStore, devices: tuple[str, ...] = tuple(PROBES)) -> list[Key]:
    """Every stored reading of ``devices`` (sorted list: a duplicate would appear twice)."""
    return stored_keys(store, QUANTITIES, 0, now_ms() + DAY_MS, devices)


def count_stored(store: TelemetryStore, devices: tuple[str, ...] = tuple(PROBES)) -> int:
    """How many readings are stored (cheap enough to poll)."""
    return len(stored(store, devices))
