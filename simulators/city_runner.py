"""Runs a :class:`~simulators.city.CitySimulator` against the wall clock and publishes it.

:class:`CityRunner` moves the simulated clock ``speed`` simulated seconds per second and
publishes through a few QoS 1 connections (one service account publishing on behalf of all
gateways and direct devices: the broker ACL of the simulator account allows any device topic;
1,500 gateway connections from one process would measure the process, not the fleet), live
traffic first and the backlog as fast as the publishers take it in between; :func:`summary`
puts its statistics in a few lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from simulators.city import CityMessage, CitySimulator

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What :class:`CityRunner` needs of a publisher (:class:`~devices.mqtt_publisher.
    ReliablePublisher` fits): QoS 1 publish with flow control and ack counters."""

    @property
    def published(self) -> int: ...

    @property
    def acked(self) -> int: ...

    def connect(self) -> None: ...

    def publish(self, topic: str, payload: bytes) -> int: ...

    def flush(self, timeout: float = 30.0) -> None: ...

    def close(self, flush_timeout: float | None = 30.0) -> None: ...


def start_ms_for(speed: float, duration_s: float, now_ms: int) -> int:
    """Simulation start [UTC ms]: now in real time; with ``speed`` > 1 and a duration, so
    far in the past that the run ends now (ingest refuses readings > 5 min in the future)."""
    if speed > 1.0 and duration_s > 0.0:
        return now_ms - int(duration_s * 1000 * (speed - 1.0))
    return now_ms


@dataclass(slots=True)
class BurstStats:
    """The post-outage flush as published: wall times [epoch s] and sizes."""

    outage_end_wall: float | None = None  # the tick that passed the outage end
    first_publish_wall: float | None = None
    last_publish_wall: float | None = None
    acked_wall: float | None = None
    messages: int = 0
    records: int = 0
    bytes: int = 0


class CityRunner:
    """Runs a :class:`CitySimulator` against the wall clock and publishes its messages.

    The simulated clock is ``start_ms + (wall - wall_origin) * speed`` (never ahead of the
    wall clock); ``duration_s`` [s] of live running (0: until :meth:`stop`); every
    ``tick_s`` [s] the due messages are published, live ones first, then backlog messages
    until the next tick. At the end every gateway forwards what it holds (``drain``), and the
    publishers are flushed (every message acknowledged) and closed.
    """

    def __init__(self, sim: CitySimulator, publishers: Sequence[Publisher], *,
                 speed: float = 1.0, duration_s: float = 0.0, tick_s: float = 0.2,
                 wall_origin: float | None = None, drain: bool = True,
                 clock: Callable[[], float] = time.time,
                 on_message: Callable[[CityMessage], None] | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if not publishers:
            raise ValueError("need at least one publisher")
        self.sim = sim
        self.publishers = list(publishers)
        self.speed = speed
        self.duration_s = duration_s
        self.tick_s = tick_s
        self.wall_origin = sim.start_ms / 1000 if wall_origin is None else wall_origin
        self.drain = drain
        self._clock = clock
        self._on_message = on_message
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backlog: deque[CityMessage] = deque()
        self._ack_marks: list[int] | None = None
        self.burst = BurstStats()
        self.timings: dict[str, float] = {}
        self.error: BaseException | None = None
        self._steady: dict[str, float] | None = None
        self._steady_end: dict[str, float] | None = None

    def _snapshot(self, wall: float) -> dict[str, float]:
        c = self.sim.counters
        return {"wall": wall, "sim_ms": float(self.sim.now_ms), "messages": c.messages,
                "records": c.records, "readings": c.readings,
                "backlog_records": c.backlog_records, "records_generated": c.records_generated,
                "readings_generated": c.readings_generated}

    def sim_now_ms(self, wall_s: float) -> int:
        """Simulated time at wall-clock ``wall_s`` [epoch s] (never ahead of it) [UTC ms]."""
        sim = self.sim.start_ms + (wall_s - self.wall_origin) * 1000.0 * self.speed
        return int(min(sim, wall_s * 1000.0))

    def _publish(self, msg: CityMessage) -> None:
        pub = self.publishers[msg.route % len(self.publishers)]
        pub.publish(msg.topic, msg.payload)
        if self._on_message is not None:
            self._on_message(msg)

    def _publish_backlog(self, deadline: float | None) -> None:
        burst = self.burst
        while self._backlog and (deadline is None or self._clock() < deadline):
            msg = self._backlog.popleft()
            if burst.first_publish_wall is None:
                burst.first_publish_wall = self._clock()
            self._publish(msg)
            burst.messages += 1
            burst.records += msg.records
            burst.bytes += len(msg.payload)
            if not self._backlog:
                burst.last_publish_wall = self._clock()
                self._ack_marks = [p.published for p in self.publishers]

    def _check_acks(self) -> None:
        marks = self._ack_marks
        if marks is not None and all(p.acked >= m for p, m in
                                     zip(self.publishers, marks, strict=True)):
            self.burst.acked_wall = self._clock()
            self._ack_marks = None

    def run(self) -> None:
        """Warm up, publish until stopped or ``duration_s`` passed, drain, flush, close."""
        clock = self._clock
        connected: list[Publisher] = []
        try:
            for p in self.publishers:
                p.connect()
                connected.append(p)
            t0 = clock()
            self.sim.advance(self.sim.start_ms)  # warm-up (hands out nothing)
            self.timings["warmup_s"] = clock() - t0
            started = self.timings["live_start_wall"] = clock()
            while not self._stop.is_set():
                now = clock()
                if self.duration_s and now - started >= self.duration_s:
                    break
                for msg in self.sim.advance(self.sim_now_ms(now)):
                    if msg.backlog:
                        if self.burst.outage_end_wall is None:
                            self.burst.outage_end_wall = now
                        self._backlog.append(msg)
                    else:
                        self._publish(msg)
                if self._steady is None:  # rates count from the end of the first tick, which
                    self._steady = self._snapshot(now)  # catches up the warm-up time
                deadline = now + self.tick_s
                self._publish_backlog(deadline)
                self._check_acks()
                self._stop.wait(max(0.0, deadline - clock()))
            self.timings["live_end_wall"] = clock()
            self._steady_end = self._snapshot(self.timings["live_end_wall"])
            self._publish_backlog(None)
            if self.drain:
                for msg in self.sim.drain():
                    self._publish(msg)
            for p in self.publishers:
                p.flush(timeout=300.0)
            self._check_acks()
            self.timings["flushed_wall"] = clock()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            for p in connected:
                p.close(flush_timeout=None)

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self._run_logged, name="city-sim", daemon=True)
        self._thread.start()

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("city simulation failed")

    @property
    def running(self) -> bool:
        """Whether the background run is still going."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the run to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stop after the current tick (then drain and flush) and wait."""
        self._stop.set()
        self.join()

    def stats(self) -> dict[str, Any]:
        """Counts, offered (catalogue) and achieved rates, timings and the burst, as JSON."""
        sim = self.sim
        a, b = self._steady, self._steady_end
        achieved: dict[str, float] = {}
        if a is not None and b is not None and b["wall"] > a["wall"]:
            wall_s, sim_s = b["wall"] - a["wall"], (b["sim_ms"] - a["sim_ms"]) / 1000.0
            achieved = {"wall_s": wall_s, "sim_s": sim_s}
            for key in ("messages", "records", "readings", "records_generated",
                        "readings_generated"):
                achieved[f"{key}_s"] = (b[key] - a[key]) / wall_s
                achieved[f"{key}_per_sim_s"] = (b[key] - a[key]) / sim_s if sim_s else 0.0
        return {
            "devices": sim.layout.size,
            "counts": sim.layout.counts(),
            "speed": self.speed,
            "connections": len(self.publishers),
            "offered_per_sim_s": sim.layout.offered_rates(),
            "steady": {"start": a, "end": b},
            # between the first tick and the end of the live loop, per wall second and per
            # simulated second: live messages (not backlog), and records generated
            "achieved_live": achieved,
            "counters": {**asdict(sim.counters), "records_out": sim.counters.records_out},
            "pending_records": sim.pending_records(),
            "published": sum(p.published for p in self.publishers),
            "acked": sum(p.acked for p in self.publishers),
            "outage": None if sim.outage is None else {
                **asdict(sim.outage), "gateways": int(sim.outage_gateways.sum()),
                "start_ms": sim.outage_start_ms, "end_ms": sim.outage_end_ms,
                "gateway_ids": [sim.layout.gateways[g].id
                                for g in np.flatnonzero(sim.outage_gateways).tolist()]},
            "burst": asdict(self.burst),
            "timings": dict(self.timings),
        }


def summary(stats: dict[str, Any]) -> str:
    """A few lines for people: fleet, offered and achieved rates, burst."""
    o = stats["offered_per_sim_s"]
    c = stats["counters"]
    lines = [
        f"city fleet: {stats['devices']:,} devices + {stats['counts']['gateway']:,} gateways "
        f"({', '.join(f'{k} {v:,}' for k, v in stats['counts'].items() if k != 'gateway')})",
        f"offered at catalogue rates: {o['messages_s']:.1f} msg/s, {o['records_s']:.1f} "
        f"records/s, {o['readings_s']:.1f} readings/s (per simulated second)",
    ]
    a = stats["achieved_live"]
    if a:
        lines.append(f"published live over {a['wall_s']:.1f} s ({a['sim_s']:.0f} simulated s): "
                     f"{a['messages_s']:.1f} msg/s, {a['records_s']:.1f} records/s, "
                     f"{a['readings_s']:.1f} readings/s per wall second")
    lines.append(f"in all: {c['messages'] + c['backlog_messages']:,} messages, "
                 f"{c['records_out']:,} records, "
                 f"{c['readings'] + c['backlog_readings']:,} readings published "
                 f"({c['records_generated']:,} generated, {c['warmup_records_dropped']:,} "
                 f"dropped in warm-up)")
    b = stats["burst"]
    if stats["outage"] is not None:
        took = ""
        if b["first_publish_wall"] is not None and b["last_publish_wall"] is not None:
            secs = max(1e-9, b["last_publish_wall"] - b["first_publish_wall"])
            took = f" in {secs:.2f} s ({b['records'] / secs:,.0f} records/s)"
        lines.append(f"outage: {stats['outage']['gateways']} gateways for "
                     f"{stats['outage']['minutes']:g} min; backlog flushed: "
                     f"{c['backlog_messages']:,} messages, {c['backlog_records']:,} records, "
                     f"{c['backlog_bytes'] / 1e6:.1f} MB{took}")
    return "\n".join(lines)
