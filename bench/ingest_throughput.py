"""Ingest benchmark: what `farmtel ingest` stores per second on this machine, and how fast.

    python -m bench.ingest_throughput           # 3 runs, SQLite and InfluxDB (< 10 min, 2 cores)
    python -m bench.ingest_throughput --quick   # one short run: a smoke check
    python -m bench.ingest_throughput --runs 5 --messages 100000 --backends influxdb --profile /tmp/prof

Everything is real and local: Mosquitto and InfluxDB on free loopback ports (tests/servers.py),
`python -m farmtel.cli ingest` subprocesses with production settings (validation, dedupe,
manual acknowledgement after durable writes, MQTT 3.1.1 persistent session, default batching), a
registry of --devices devices (default 100,000), and two
publisher processes sending a realistic mix: nine in ten messages from soil probes (one
record, 4 readings), one in ten from collar gateways (10 records of 3 readings).

Per run and per store backend, each phase on a fresh store:

* live: both publishers at full speed while one worker stores (stored msg/s and readings/s
  from the first publish to the last acknowledgement; CPU seconds of the worker per million
  readings from /proc/<pid>/stat; its peak RSS from VmHWM);
* drain: the worker subscribes (persistent session) and stops, everything is published, the
  worker starts again; timed from its connection to the last acknowledgement;
* live with two workers on a shared subscription (FARMTEL_MQTT_SHARED_GROUP);
* latency: publish -> queryable at a fixed offered load (--latency-rate, 5,000 msg/s); a
  probe device publishes marker records 20 times a second, a checker polls the store;
* lost and duplicated readings of every phase: the exact set of published
  (device, quantity, timestamp) against everything the store holds (read back through the
  store's ``raw_series``).

Once per run, the ceiling: a paho subscriber that only counts (QoS 1, the same subscriptions,
protocol and in-flight window as ingest), live and draining; the table shows farmtel / ceiling.
With InfluxDB among the backends, also the naive pipeline of the issue, live: stock paho
acknowledging on receipt, orjson, line protocol tagged by device only, 5,000-line ``/write``
batches, no validation (the reference of "farmtel ≥ 0.8× naive").
Ingest speaks MQTT 3.1.1 here, as by default: paho decodes the properties of every MQTT 5
PUBLISH into a ``Properties`` object, about 17 µs a message on this machine; Mosquitto's
``max_inflight_messages 10000`` (deploy/mosquitto.conf, tests/servers.py) gives 3.1.1
subscribers the window MQTT 5's receive maximum would.

The publishers are lean raw-socket MQTT clients (pre-encoded packets, QoS 1, every PUBACK
checked in order) so that they offer far more than a Python subscriber takes while leaving the
CPU to the broker and ingest, as remote devices would; ``--publisher reliable`` uses the
simulators' paho ReliablePublisher instead (about 8-10k msg/s per process here, so it limits).
Workers save their counters every 0.1 s (FARMTEL_STATS_INTERVAL_S) so that the end of a phase
is known to about 0.1 s; the broker autosaves with Debian's default interval (not every second
as in the test fixture). Each phase writes into a fresh store, so InfluxDB creates the fleet's
series during the phase (slower than writing into existing series).

The defaults (40,000 messages = 264,000 readings per phase, 8 s of latency load) keep three runs
of both backends under 10 minutes at ~4-7k msg/s per worker; raise --messages so that each
phase lasts at least ~10 s when ingest gets faster. Results go to
bench/results/ingest-<timestamp>.json, with a table on stdout (median of the runs, min-max).
Exit status 1 if any reading was lost or duplicated.

With InfluxDB, each run also measures the store sink writing ingest-sized batches into a
database where another writer made ``vwc_pct`` an integer in the current shard (issue 14
item 9), beside the same batches into a clean database: readings/s of both and their ratio,
and what was stored and refused (``store_type_conflict``).

Streaming alert rules: in the production topology (docker-compose.yml) they run in their own
`farmtel alerts` consumer and ingest only stores (FARMTEL_INGEST_ALERTS=false); that is the
default here (``--alerts separate``; the alerts process is not started, so its CPU is not on
this machine's bill). ``--alerts in-ingest`` measures workers that also evaluate the rules.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from bench._common import (
    RESULTS_DIR,
    WRITE_BATCH,
    MachineLoad,
    bulk_register,
    cpu_seconds,
    percentile,
    py_spy,
    rss_kib,
    telemetry_subscriber,
)
from devices.catalogue import DEVICE_TYPES
from devices.contract import (
    gateway_topic,
    record,
    telemetry_topic,
)
from devices.credentials import hash_password, new_secret
from devices.mqtt_publisher import ReliablePublisher, encode_gateway_batch, encode_record
from devices.registry import SHUOZHOU_COUNTIES
from farmtel.runtime import Metadata, open_metadata
from farmtel.settings import Settings
from ingest.deadletters import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import Batch
from ingest.spool import Spool
from ingest.stats_store import IngestWorkerStats
from ingest.store_sink import SpooledStoreSink
from storage.clock import DAY_MS, now_ms
from storage.factory import open_store
from storage.telemetry import RangeQuery, Reading, TelemetryStore
from tests.helpers import stored_keys
from tests.servers import InfluxServer, IngestProcess, MosquittoServer, ingest_env

SOIL = "soil_moisture"
COLLAR = "livestock_collar"
QUANTITIES = sorted({*DEVICE_TYPES[SOIL].quantities, *DEVICE_TYPES[COLLAR].quantities})
Q_INDEX = {q: i for i, q in enumerate(QUANTITIES)}
PROBE = "bench-probe"
COLLARS_PER_GATEWAY = 40
RECORDS_PER_GATEWAY_MESSAGE = 10
GATEWAY_EVERY = 10  # one message in ten comes from a gateway
REPORT_STEP_MS = 60_000  # spacing of one device's successive records
PROBE_STEP_MS = 10
MARKERS_PER_S = 20
STATS_INTERVAL_S = "0.1"
RECEIVE_MAXIMUM = 10_000  # as ingest's MqttSource announces
PUBLISHERS = 2
ADMIN_TOKEN = "ft_bench"


# --- the fleet and what it publishes -----------------------------------------------------------


@dataclass
class Fleet:
    """Registered devices: soil probes publishing directly, collars behind gateways."""

    farms: list[tuple[str, str]]  # (farm_id, county)
    soil: list[tuple[str, str]]  # (device_id, farm_id)
    gateways: list[tuple[str, str]]  # (gateway_id, farm_id)
    collars: dict[str, list[str]]  # gateway_id -> its collars
    index: dict[str, int] = field(default_factory=dict)  # device_id -> small int (for keys)

    @property
    def size(self) -> int:
        """Registered devices (the probe included)."""
        return len(self.soil) + len(self.gateways) + sum(map(len, self.collars.values())) + 1


def build_fleet(devices: int) -> Fleet:
    """``devices`` ids: 1 in 200 a gateway with 40 collars, the rest soil probes, 1 probe."""
    n_gateways = max(2, devices // 200)
    n_soil = devices - n_gateways * (1 + COLLARS_PER_GATEWAY) - 1
    if n_soil < 2:
        raise SystemExit("--devices is too small (at least 1,000)")
    n_farms = max(2, devices // 200)
    counties = [c[0] for c in SHUOZHOU_COUNTIES]
    farms = [(f"farm-{i:04d}", counties[i % len(counties)]) for i in range(n_farms)]
    soil = [(f"sm-{i:06d}", farms[i % n_farms][0]) for i in range(n_soil)]
    gateways = [(f"gw-{i:04d}", farms[i % n_farms][0]) for i in range(n_gateways)]
    collars = {g: [f"col-{i:04d}-{j:02d}" for j in range(COLLARS_PER_GATEWAY)]
               for i, (g, _) in enumerate(gateways)}
    fleet = Fleet(farms, soil, gateways, collars)
    ids = [d for d, _ in soil] + [g for g, _ in gateways] + [c for cs in collars.values()
                                                             for c in cs] + [PROBE]
    fleet.index = {d: i for i, d in enumerate(ids)}
    return fleet


def register_fleet(meta: Metadata, fleet: Fleet) -> None:
    """Bulk-insert farms, sites and devices (one shared password hash)."""
    password_hash = hash_password(new_secret())
    now = datetime.now(UTC)

    def device(did: str, dtype: str, site: str, gateway: str | None = None) -> dict[str, Any]:
        return {"id": did, "type": dtype, "site_id": site, "gateway_id": gateway,
                "attributes": {}, "mqtt_username": did, "password_hash": password_hash,
                "created_at": now, "revoked_at": None}

    farm_of = dict(fleet.gateways)
    bulk_register(
        meta,
        [{"id": f, "name": f, "county_id": c, "township": None} for f, c in fleet.farms],
        [{"id": f"{f}-{kind}", "farm_id": f, "kind": kind, "name": f"{f} {kind}",
          "attributes": {}} for f, _ in fleet.farms for kind in ("field", "barn")],
        [device(g, "gateway", f"{f}-barn") for g, f in fleet.gateways]
        + [device(d, SOIL, f"{f}-field") for d, f in fleet.soil]
        + [device(c, COLLAR, f"{farm_of[g]}-barn", g) for g, cs in fleet.collars.items()
           for c in cs]
        + [device(PROBE, SOIL, f"{fleet.farms[0][0]}-field")])


Message = tuple[str, bytes]


@dataclass
class PublisherPlan:
    """One publisher's messages, in publishing order, and the reading keys of each."""

    messages: list[Message] = field(default_factory=list)
    keys: list[tuple[int, ...]] = field(default_factory=list)

    def readings(self, count: int) -> int:
        """Readings in the first ``count`` messages."""
        return sum(len(k) for k in self.keys[:count])


def reading_key(device_index: int, quantity: str, ts_ms: int, base_ms: int) -> int:
    """A compact exact key of one reading: (device, quantity, timestamp)."""
    return (device_index << 40) | (Q_INDEX[quantity] << 36) | (ts_ms - base_ms)


def make_plans(fleet: Fleet, per_publisher: int, seed: int) -> tuple[list[PublisherPlan], int]:
    """Messages for each publisher (disjoint devices) and the base timestamp [UTC ms].

    Every device's records are ``REPORT_STEP_MS`` apart and end some minutes in the past.
    Values stay in their normal ranges and soil moisture never falls, so the alert rules
    evaluate every reading without raising alerts.
    """
    schedule: list[list[tuple[str, str, list[tuple[str, int]]]]] = []  # (kind, sender, records)
    rounds: dict[str, int] = {}

    def next_round(did: str) -> int:
        k = rounds.get(did, 0)
        rounds[did] = k + 1
        return k

    for p in range(PUBLISHERS):
        soil, gateways = fleet.soil[p::PUBLISHERS], fleet.gateways[p::PUBLISHERS]
        cursor = dict.fromkeys((g for g, _ in gateways), 0)
        items: list[tuple[str, str, list[tuple[str, int]]]] = []
        si = gi = 0
        for i in range(per_publisher):
            if i % GATEWAY_EVERY == GATEWAY_EVERY - 1:
                gw, _ = gateways[gi % len(gateways)]
                gi += 1
                kids = fleet.collars[gw]
                recs = []
                for _ in range(RECORDS_PER_GATEWAY_MESSAGE):
                    child = kids[cursor[gw] % len(kids)]
                    cursor[gw] += 1
                    recs.append((child, next_round(child)))
                items.append(("gateway", gw, recs))
            else:
                did, _ = soil[si % len(soil)]
                si += 1
                items.append(("telemetry", did, [(did, next_round(did))]))
        schedule.append(items)
    newest = max(rounds.values(), default=1)
    base_ms = (now_ms() // 1000) * 1000 - (newest + 10) * REPORT_STEP_MS
    farm_of = dict(fleet.soil) | dict(fleet.gateways)
    plans = []
    for p, items in enumerate(schedule):
        rng = random.Random(seed * 1000 + p)
        plan = PublisherPlan()
        for kind, sender, recs in items:
            keys: list[int] = []
            if kind == "telemetry":
                did, k = recs[0]
                ts = base_ms + k * REPORT_STEP_MS
                readings = soil_readings(fleet.index[did], k, rng)
                plan.messages.append((telemetry_topic(farm_of[did], did),
                                      encode_record(ts, k, readings)))
                keys += [reading_key(fleet.index[did], q, ts, base_ms) for q in readings]
            else:
                docs = []
                for child, k in recs:
                    ts = base_ms + k * REPORT_STEP_MS
                    readings = collar_readings(rng)
                    docs.append(record(ts, k, readings, device_id=child))
                    keys += [reading_key(fleet.index[child], q, ts, base_ms) for q in readings]
                plan.messages.append((gateway_topic(farm_of[sender], sender),
                                      encode_gateway_batch(docs)))
            plan.keys.append(tuple(keys))
        plans.append(plan)
    return plans, base_ms


def soil_readings(device_index: int, k: int, rng: random.Random) -> dict[str, float]:
    """A soil probe's 4 readings; VWC rises slowly (no falling-moisture alert)."""
    return {"vwc_pct": round(18 + device_index % 150 / 10 + 0.05 * k, 2),
            "soil_temp_c": round(rng.uniform(12, 18), 2),
            "ec_ds_m": round(rng.uniform(0.6, 1.4), 3),
            "battery_v": round(rng.uniform(3.8, 4.1), 3)}


def collar_readings(rng: random.Random) -> dict[str, float]:
    """A collar's 3 readings, within a healthy cow's range."""
    return {"body_temp_c": round(rng.uniform(38.3, 38.9), 2),
            "activity_index": round(rng.uniform(20, 80), 1),
            "rumination_min": round(rng.uniform(420, 520), 0)}


# --- child processes: publishers and the counting subscriber -----------------------------------


def _serve(conn: Connection, handlers: dict[str, Callable[..., Any]]) -> None:
    """A child's command loop: (command, kwargs) in, ("ok", result) or ("error", text) out."""
    while True:
        try:
            command, kwargs = conn.recv()
        except EOFError:
            return
        if command == "exit":
            return
        try:
            conn.send(("ok", handlers[command](conn, **kwargs)))
        except Exception as exc:
            conn.send(("error", f"{command}: {exc!r}"))


class LeanPublisher:
    """MQTT 3.1.1 QoS 1 over a plain socket, for offering load cheaply.

    PUBLISH packets are pre-encoded (only the packet id is added when sending) and written
    in bulk; PUBACKs are read in bulk and must come back in order, one per message, so a
    missing acknowledgement is an error, not a silent loss. At most ``window`` messages are
    unacknowledged. paho costs about 100 µs per message here (a ``recv`` per packet header
    and an O(window) scan of its in-flight table per PUBACK): as fast as the subscriber, so
    it would measure the publishers rather than ingest, and take CPU from it.
    """

    def __init__(self, port: int, client_id: str, window: int = 2000) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        body = (b"\x00\x04MQTT\x04\x02" + (600).to_bytes(2, "big")  # clean session, keepalive
                + len(cid).to_bytes(2, "big") + cid)
        self._sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = self._recv_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"CONNACK refused: {connack!r}")
        self._window = window
        self._buffer = b""
        self.sent = 0
        self.acked = 0

    @staticmethod
    def encode(topic: str, payload: bytes) -> tuple[bytes, bytes]:
        """(fixed header + topic, payload) of a QoS 1 PUBLISH; the packet id goes between."""
        t = topic.encode()
        length = 2 + len(t) + 2 + len(payload)
        return b"\x32" + _varint(length) + len(t).to_bytes(2, "big") + t, payload

    def publish(self, packets: Sequence[tuple[bytes, bytes]], rate_msg_s: float | None,
                chunk: int = 100) -> None:
        """Send every packet (paced to ``rate_msg_s`` if given), waiting for window space."""
        started = time.time()
        i, n = 0, len(packets)
        while i < n:
            if rate_msg_s is not None:
                ahead = started + i / rate_msg_s - time.time()
                if ahead > 0:
                    time.sleep(ahead)
            room = self._window - (self.sent - self.acked)
            if room <= 0:
                self._read_acks()
                continue
            batch = packets[i:i + min(room, chunk if rate_msg_s is None else 25)]
            parts: list[bytes] = []
            for head, payload in batch:
                self.sent += 1
                parts += (head, (self.sent % 65_535 + 1).to_bytes(2, "big"), payload)
            self._sock.sendall(b"".join(parts))
            i += len(batch)
            self._read_acks(block=False)

    def wait_acked(self, timeout_s: float) -> None:
        """Block until every message sent is acknowledged."""
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.sent - self.acked} PUBACKs missing")
            self._read_acks()

    def _read_acks(self, block: bool = True) -> None:
        self._sock.setblocking(block)
        try:
            data = self._sock.recv(65_536)
        except BlockingIOError:
            return
        finally:
            self._sock.settimeout(30)
        if not data:
            raise ConnectionError("broker closed the connection")
        buf = self._buffer + data
        whole = len(buf) - len(buf) % 4
        for j in range(0, whole, 4):
            self.acked += 1
            expected = (self.acked % 65_535 + 1).to_bytes(2, "big")
            if buf[j:j + 2] != b"\x40\x02" or buf[j + 2:j + 4] != expected:
                raise ConnectionError(f"unexpected packet {buf[j:j + 4]!r} for PUBACK "
                                      f"{expected!r}")
        self._buffer = buf[whole:]

    def _recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            more = self._sock.recv(n - len(data))
            if not more:
                raise ConnectionError("broker closed the connection")
            data += more
        return data

    def close(self) -> None:
        """DISCONNECT and close the socket."""
        with contextlib.suppress(OSError):
            self._sock.sendall(b"\xe0\x00")
        self._sock.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publisher_main(conn: Connection, messages: list[Message], kind: str) -> None:
    packets = [LeanPublisher.encode(t, p) for t, p in messages] if kind == "lean" else []

    def publish(_conn: Connection, *, port: int, client_id: str, count: int,
                rate_msg_s: float | None, go_at: float) -> dict[str, float]:
        if kind == "lean":
            lean = LeanPublisher(port, client_id)
            try:
                time.sleep(max(0.0, go_at - time.time()))
                started = time.time()
                lean.publish(packets[:count], rate_msg_s)
                published = time.time()
                lean.wait_acked(120)
            finally:
                lean.close()
            return {"started": started, "published": published, "acked": time.time(),
                    "count": float(lean.acked)}
        pub = ReliablePublisher("127.0.0.1", port, client_id=client_id, max_inflight=100,
                                publish_timeout=120)
        pub.connect()
        try:
            time.sleep(max(0.0, go_at - time.time()))
            started = time.time()
            send = pub.publish
            for i, (topic, payload) in enumerate(messages[:count]):
                if rate_msg_s is not None and i % 25 == 0:
                    ahead = started + i / rate_msg_s - time.time()
                    if ahead > 0:
                        time.sleep(ahead)
                send(topic, payload)
            published = time.time()
            pub.flush(120)
            return {"started": started, "published": published, "acked": time.time(),
                    "count": float(pub.acked)}
        finally:
            pub.close(flush_timeout=None)

    _serve(conn, {"publish": publish})


def _mqtt5_client(client_id: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                       protocol=MQTTProtocolVersion.MQTTv5)


def _connect_props(expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return props


def _counter_main(conn: Connection) -> None:
    """The ceiling: a paho subscriber (QoS 1, persistent session) that only counts."""

    def count(conn: Connection, *, port: int, client_id: str, target: int,
              timeout_s: float) -> dict[str, float]:
        state = {"n": 0, "first": 0.0, "last": 0.0, "connected": 0.0}
        done = threading.Event()

        def on_message(*_: Any) -> None:
            now = time.time()
            n = state["n"] = state["n"] + 1
            if n == 1:
                state["first"] = now
            state["last"] = now
            if n >= target:
                done.set()

        with telemetry_subscriber(port, client_id, on_message,
                                  on_connected=lambda: state.update(connected=time.time())):
            conn.send(("ready", state["connected"]))
            done.wait(timeout_s)
        return dict(state)

    def naive(conn: Connection, *, port: int, client_id: str, target: int, influx_url: str,
              database: str, timeout_s: float) -> dict[str, float]:
        """The issue's reference pipeline: subscribe (QoS 1, paho acknowledging on receipt),
        parse with orjson, line protocol tagged by device only, 5,000-line ``/write`` batches
        over one keep-alive connection. No validation, no registry, no manual ack."""
        state = {"n": 0, "lines": 0, "connected": 0.0, "last_write": 0.0}
        inbox: list[tuple[str, bytes | bytearray]] = []
        lock, done = threading.Lock(), threading.Event()

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            with lock:
                inbox.append((msg.topic, msg.payload))

        def writer() -> None:
            http = httpx.Client(base_url=influx_url, timeout=30)
            http.post("/query", params={"q": f'CREATE DATABASE "{database}"'})
            lines: list[str] = []
            messages = 0
            while not done.is_set():
                with lock:
                    batch, inbox[:] = inbox[:], []
                if not batch:
                    time.sleep(0.002)
                for topic, payload in batch:
                    doc = orjson.loads(payload)
                    sender = topic.split("/")[2]
                    for rec in doc.get("records") or [doc]:
                        ts = datetime.fromisoformat(rec["ts"]).timestamp() * 1000
                        fields = ",".join(f"{k}={float(v)!r}" for k, v in rec["readings"].items())
                        lines.append(f"telemetry,device_id={rec.get('device_id', sender)} "
                                     f"{fields} {int(ts)}")
                    messages += 1
                if lines and (len(lines) >= 5000 or not batch):
                    http.post("/write", params={"db": database, "precision": "ms"},
                              content="\n".join(lines).encode()).raise_for_status()
                    state["lines"] += len(lines)
                    state["n"], state["last_write"] = messages, time.time()
                    lines = []
                    if messages >= target:
                        done.set()
            http.close()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            with telemetry_subscriber(port, client_id, on_message,
                                      on_connected=lambda: state.update(connected=time.time())):
                conn.send(("ready", state["connected"]))
                done.wait(timeout_s)
        finally:
            done.set()
            thread.join(30)
        return dict(state)

    _serve(conn, {"count": count, "naive": naive})


class Children:
    """The forked publisher and counter processes (forked before any thread exists)."""

    def __init__(self, plans: list[PublisherPlan], kind: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.processes: list[BaseProcess] = []
        self.publishers: list[Connection] = []
        for i, plan in enumerate(plans):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_publisher_main, args=(child, plan.messages, kind),
                               name=f"bench-publisher-{i}", daemon=True)
            proc.start()
            self.processes.append(proc)
            self.publishers.append(parent)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_counter_main, args=(child,), name="bench-counter", daemon=True)
        proc.start()
        self.processes.append(proc)
        self.counter = parent

    def publish(self, port: int, per_publisher: int, rate_msg_s: float | None = None,
                tag: str = "") -> list[dict[str, float]]:
        """Both publishers, started together; returns their timings (epoch s)."""
        go_at = time.time() + 0.5
        for i, conn in enumerate(self.publishers):
            conn.send(("publish", {"port": port, "client_id": f"bench-pub-{i}{tag}",
                                   "count": per_publisher, "rate_msg_s": rate_msg_s,
                                   "go_at": go_at}))
        return [_answer(conn) for conn in self.publishers]

    def publish_async(self, port: int, per_publisher: int, rate_msg_s: float | None = None,
                      ) -> Callable[[], list[dict[str, float]]]:
        """Start publishing; returns the function that waits for the timings."""
        go_at = time.time() + 0.5
        for i, conn in enumerate(self.publishers):
            conn.send(("publish", {"port": port, "client_id": f"bench-pub-{i}",
                                   "count": per_publisher, "rate_msg_s": rate_msg_s,
                                   "go_at": go_at}))
        return lambda: [_answer(conn) for conn in self.publishers]

    def close(self) -> None:
        """Ask every child to exit; terminate the ones that do not."""
        for conn in [*self.publishers, self.counter]:
            with contextlib.suppress(OSError):
                conn.send(("exit", {}))
        for proc in self.processes:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


def _answer(conn: Connection, timeout_s: float = 600, expect: str = "ok") -> Any:
    """A child's next answer, which must be ``expect`` (an error is raised here)."""
    if not conn.poll(timeout_s):
        raise TimeoutError("a child process did not answer")
    status, value = conn.recv()
    if status != expect:
        raise RuntimeError(f"child answered {status}: {value}")
    return value


def clear_session(port: int, client_id: str) -> None:
    """Drop a persistent session (clean start, expiry 0) so the broker stops queueing for it."""
    connected = threading.Event()
    client = _mqtt5_client(client_id)
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port, clean_start=True, properties=_connect_props(0))
    client.loop_start()
    try:
        if not connected.wait(10):
            raise TimeoutError(f"could not connect as {client_id} to clear its session")
    finally:
        client.disconnect()
        client.loop_stop()


# --- the store: read everything back -----------------------------------------------------------


def stored_reading_keys(store_url: str, fleet: Fleet, base_ms: int) -> tuple[int, set[int]]:
    """(rows, distinct reading keys) of everything a fresh store holds from ``base_ms`` on,
    read through the store protocol."""
    store = open_store(store_url)
    try:
        rows = stored_keys(store, QUANTITIES, base_ms, now_ms() + DAY_MS)
    finally:
        store.close()
    index = fleet.index
    return len(rows), {reading_key(index[d], q, ts, base_ms) for d, q, ts in rows}


# --- the benchmark -----------------------------------------------------------------------------


@dataclass
class Probe:
    """The probe device: warm-up and latency markers, each a distinct timestamp."""

    pub: ReliablePublisher
    fleet: Fleet
    base_ms: int
    sent: int = 0
    keys: list[int] = field(default_factory=list)

    def publish(self) -> int:
        """Publish one marker; returns its timestamp [UTC ms]."""
        self.sent += 1
        ts = self.base_ms + self.sent * PROBE_STEP_MS
        vwc = round(20 + self.sent * 1e-4, 4)  # rising, never twice the same: no alert
        self.pub.publish_record(self.fleet.farms[0][0], PROBE, ts, self.sent, {"vwc_pct": vwc})
        self.keys.append(reading_key(self.fleet.index[PROBE], "vwc_pct", ts, self.base_ms))
        return ts


class Bench:
    """Servers, registry, child processes; one method per phase."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.per_publisher = args.messages // PUBLISHERS
        self.messages = self.per_publisher * PUBLISHERS
        self.latency_rate = args.latency_rate
        self.latency_s = min(args.latency_s, self.messages / self.latency_rate)
        self.fleet = build_fleet(args.devices)
        self.plans, self.base_ms = make_plans(self.fleet, self.per_publisher, args.seed)
        self.readings = sum(p.readings(self.per_publisher) for p in self.plans)
        self.all_keys = {k for p in self.plans for ks in p.keys for k in ks}
        if len(self.all_keys) != self.readings:
            raise RuntimeError("the plan repeats a reading key")
        self.children = Children(self.plans, args.publisher)  # fork now: no thread exists yet
        self.mosquitto = MosquittoServer(extra_config="autosave_interval 1800\n")
        self.influx = InfluxServer() if "influxdb" in args.backends else None
        self.meta: Metadata | None = None
        self.probe: Probe | None = None
        self.workers: list[IngestProcess] = []

    # -- lifecycle --

    def start(self) -> None:
        self.mosquitto.start()
        if self.influx is not None:
            self.influx.start()
        settings = Settings(_env_file=None, data_dir=self.tmp / "data",  # type: ignore[call-arg]
                            admin_token=ADMIN_TOKEN)
        self.meta = open_metadata(settings)
        t = time.monotonic()
        register_fleet(self.meta, self.fleet)
        print(f"registry: {self.fleet.size:,} devices bulk-inserted in "
              f"{time.monotonic() - t:.1f} s", flush=True)
        pub = ReliablePublisher("127.0.0.1", self.mosquitto.port, client_id="bench-probe")
        pub.connect()
        self.probe = Probe(pub, self.fleet, self.base_ms)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(timeout_s=20)
        if self.probe is not None:
            self.probe.pub.close(flush_timeout=None)
        self.children.close()
        self.mosquitto.cleanup()
        if self.influx is not None:
            self.influx.cleanup()

    # -- helpers --

    @property
    def port(self) -> int:
        return self.mosquitto.port

    def store_url(self, backend: str, tag: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / 'stores' / f'{tag}.db'}"
        assert self.influx is not None
        return f"influxdb://127.0.0.1:{self.influx.port}/{tag.replace('-', '_')}"

    def worker(self, store_url: str, client_id: str, shared_group: str | None = None,
               ) -> IngestProcess:
        extra = {"mqtt_protocol": "3.1.1", "stats_interval_s": STATS_INTERVAL_S,
                 "ingest_alerts": "true" if self.args.alerts == "in-ingest" else "false"}
        if shared_group:
            extra["mqtt_shared_group"] = shared_group
        env = ingest_env(data_dir=self.tmp / "data", store_url=store_url, mqtt_port=self.port,
                         client_id=client_id, admin_token=ADMIN_TOKEN, **extra)
        worker = IngestProcess(env, self.tmp, self.tmp / "logs" / f"{client_id}.log")
        self.workers.append(worker)
        return worker

    def stats(self, client_ids: Sequence[str]) -> dict[str, tuple[float, dict[str, Any]]]:
        """Each worker's latest saved counters with the time they were saved [epoch s]."""
        assert self.meta is not None
        ids = {c: c for c in client_ids}  # a worker's row is its identity (ingest.identity)
        with self.meta.sessions() as session:
            rows = session.execute(
                select(IngestWorkerStats.worker_id, IngestWorkerStats.updated_at,
                       IngestWorkerStats.stats).where(IngestWorkerStats.worker_id.in_(list(ids))))
            out = {}
            for worker_id, updated, stats in rows:
                if updated.tzinfo is None:
                    updated = updated.replace(tzinfo=UTC)
                out[ids[worker_id]] = (updated.timestamp(), stats)
        return out

    def wait_acked(self, client_ids: Sequence[str], target: int, timeout_s: float,
                   ) -> tuple[float, list[tuple[float, int]]]:
        """Wait until the workers acknowledged ``target`` messages in all; returns the time
        the last counters were saved [epoch s] and the (time, acked) samples seen."""
        deadline = time.monotonic() + timeout_s
        samples: list[tuple[float, int]] = []
        while time.monotonic() < deadline:
            stats = self.stats(client_ids)
            if stats:
                at = max(t for t, _ in stats.values())
                acked = sum(s["messages_acked"] for _, s in stats.values())
                if not samples or samples[-1] != (at, acked):
                    samples.append((at, acked))
                if acked >= target and len(stats) == len(client_ids):
                    return at, samples
            time.sleep(0.05)
        raise TimeoutError(f"workers {client_ids} acknowledged {samples[-1:]} of {target} "
                           f"in {timeout_s:.0f} s")

    def warm_up(self, client_ids: Sequence[str]) -> int:
        """Probe messages until every worker stored one; returns the messages acknowledged."""
        assert self.probe is not None
        sent = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.probe.publish()
            sent += 1
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                stats = self.stats(client_ids)
                if (len(stats) == len(client_ids)
                        and all(s["messages_acked"] >= 1 for _, s in stats.values())
                        and sum(s["messages_acked"] for _, s in stats.values()) == sent):
                    return sent
                time.sleep(0.05)
        raise TimeoutError(f"warm-up: {self.stats(client_ids)}")

    def verify(self, store_url: str, expected: set[int]) -> dict[str, int]:
        """Lost, duplicated and unexpected readings of a phase (exact key sets)."""
        rows, got = stored_reading_keys(store_url, self.fleet, self.base_ms)
        return {"expected": len(expected), "stored_rows": rows, "lost": len(expected - got),
                "duplicated": rows - len(got), "unexpected": len(got - expected)}

    def drop_store(self, store_url: str) -> None:
        if store_url.startswith("sqlite:"):
            for suffix in ("", "-wal", "-shm"):
                Path(store_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        elif self.influx is not None:
            self.influx.drop_database(store_url.rsplit("/", 1)[1])

    def profiled(self, pid: int, name: str, wanted: bool = True,
                 ) -> contextlib.AbstractContextManager[None]:
        """With --profile: py-spy samples the worker meanwhile (collapsed stacks per thread)."""
        out = self.args.profile / f"{name}.txt" if self.args.profile and wanted else None
        return py_spy(pid, out, threads=True)

    def finish(self, workers: list[IngestProcess], client_ids: Sequence[str]) -> None:
        for worker in workers:
            worker.stop()
            self.workers.remove(worker)
        for client_id in client_ids:
            clear_session(self.port, client_id)

    # -- phases --

    def ceiling(self, tag: str) -> dict[str, Any]:
        """Live and draining through the counting subscriber."""
        conn, n = self.children.counter, self.messages
        out: dict[str, Any] = {}
        client_id = f"bench-counter-{tag}"
        conn.send(("count", {"port": self.port, "client_id": client_id, "target": n,
                             "timeout_s": 300}))
        _answer(conn, expect="ready")
        pubs = self.children.publish(self.port, self.per_publisher)
        got = _answer(conn)
        start = min(p["started"] for p in pubs)
        out["live"] = {"msg_s": n / (got["last"] - start), "received": got["n"],
                       "offered_msg_s": n / (max(p["published"] for p in pubs) - start)}
        # draining: subscribe (persistent session), leave, publish everything, come back
        client_id = f"bench-counter-drain-{tag}"
        conn.send(("count", {"port": self.port, "client_id": client_id, "target": 0,
                             "timeout_s": 0}))
        _answer(conn, expect="ready")
        _answer(conn)
        pubs = self.children.publish(self.port, self.per_publisher)
        conn.send(("count", {"port": self.port, "client_id": client_id, "target": n,
                             "timeout_s": 300}))
        _answer(conn, expect="ready")
        got = _answer(conn)
        out["drain"] = {"msg_s": n / (got["last"] - got["connected"]), "received": got["n"],
                        "publish_msg_s": n / (max(p["published"] for p in pubs)
                                              - min(p["started"] for p in pubs))}
        for cid in (f"bench-counter-{tag}", client_id):
            clear_session(self.port, cid)
        for phase in ("live", "drain"):
            if out[phase]["received"] < n:
                raise RuntimeError(f"ceiling {phase}: received {out[phase]['received']} of {n}")
        return out

    def naive(self, tag: str) -> dict[str, Any]:
        """Live through the naive pipeline into InfluxDB (the reference of the issue's targets)."""
        assert self.influx is not None
        conn, n = self.children.counter, self.messages
        client_id, database = f"bench-naive-{tag}", f"naive_{tag}".replace("-", "_")
        conn.send(("naive", {"port": self.port, "client_id": client_id, "target": n,
                             "influx_url": f"http://127.0.0.1:{self.influx.port}",
                             "database": database, "timeout_s": 300}))
        _answer(conn, expect="ready")
        pubs = self.children.publish(self.port, self.per_publisher)
        got = _answer(conn)
        clear_session(self.port, client_id)
        with contextlib.suppress(httpx.HTTPError):
            self.influx.drop_database(database)
        if got["n"] < n:
            raise RuntimeError(f"naive pipeline stored {got['n']} of {n} messages")
        start = min(p["started"] for p in pubs)
        return {"msg_s": n / (got["last_write"] - start), "lines": got["lines"],
                "offered_msg_s": n / (max(p["published"] for p in pubs) - start)}

    def field_conflict(self, tag: str, *, devices: int = 2_500, instants: int = 12,
                       ) -> dict[str, Any]:
        """Issue 14 item 9: the store sink's throughput into InfluxDB with another writer's
        integer ``vwc_pct`` in the current shard, beside the same batches into a clean
        database (each a fresh database; ingest-sized batches of 5,000; ``devices`` soil
        probes x ``instants`` records x 4 quantities)."""
        assert self.influx is not None and self.meta is not None
        start = now_ms() - (instants + 5) * REPORT_STEP_MS
        readings = [Reading(f"bench-fc-{d}", q, 1.0 + d % 40, start + k * REPORT_STEP_MS, k,
                            device_type=SOIL, site_id="bench-fc", farm_id="bench-fc")
                    for k in range(instants) for d in range(devices)
                    for q in DEVICE_TYPES[SOIL].quantities]
        out: dict[str, Any] = {"readings": len(readings)}
        for case in ("clean", "conflict"):
            database = f"fc_{case}_{tag}".replace("-", "_")
            url = f"influxdb://127.0.0.1:{self.influx.port}/{database}"
            store = open_store(url)
            try:
                self.influx.query(f'CREATE DATABASE "{database}"')
                if case == "conflict":  # another writer, same shard: vwc_pct is an integer
                    httpx.post(f"http://127.0.0.1:{self.influx.port}/write",
                               params={"db": database, "precision": "ms"},
                               content=f"telemetry,device_id=other vwc_pct=1i {start}".encode(),
                               timeout=30).raise_for_status()
                metrics = IngestMetrics()
                sink = SpooledStoreSink(store, Spool(self.tmp / f"spool-{database}"),
                                        DeadLetterStore(self.meta.sessions), metrics)
                t0, cpu0 = time.perf_counter(), time.process_time()
                for i in range(0, len(readings), WRITE_BATCH):
                    if not sink.write(Batch(readings[i:i + WRITE_BATCH], [])):
                        raise RuntimeError("the store sink did not take a batch")
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            finally:
                store.close()
                with contextlib.suppress(httpx.HTTPError):
                    self.influx.drop_database(database)
            out[case] = {"readings_s": len(readings) / wall,
                         "cpu_s_per_million_readings": cpu / len(readings) * 1e6,
                         "stored": metrics.readings_stored, "rejected": dict(metrics.rejected),
                         "batches_written": metrics.batches_written}
        out["ratio"] = out["conflict"]["readings_s"] / out["clean"]["readings_s"]
        return out

    def live(self, backend: str, tag: str, workers: int) -> dict[str, Any]:
        """Full speed with ``workers`` workers (a shared subscription when more than one)."""
        url = self.store_url(backend, tag)
        ids = [f"bench-{tag}-{i}" for i in range(workers)]
        group = f"bench-{tag}" if workers > 1 else None
        procs = [self.worker(url, cid, group) for cid in ids]
        try:
            for proc in procs:
                proc.start()
            assert self.probe is not None
            keys_before = len(self.probe.keys)
            warm = self.warm_up(ids)
            cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            with self.profiled(procs[0].pid, tag, workers == 1):
                pubs = self.children.publish(self.port, self.per_publisher)
                done, samples = self.wait_acked(ids, warm + self.messages,
                                                timeout_s=max(120, self.messages / 1000))
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
            rss = max(rss_kib(p.pid, "VmHWM") for p in procs)
            stats = self.stats(ids)
        finally:
            self.finish(procs, ids)
        start = min(p["started"] for p in pubs)
        result = self._throughput(self.messages, self.readings, done - start, samples, warm)
        result |= {"offered_msg_s": self.messages / (max(p["published"] for p in pubs) - start),
                   "cpu_s_per_million_readings": cpu / self.readings * 1e6,
                   "peak_rss_mib": rss / 1024,
                   "received_per_worker": [s["messages_received"] for _, s in stats.values()],
                   "readings_stored": sum(s["readings_stored"] for _, s in stats.values()),
                   "duplicate_records_dropped": sum(s["duplicate_records"]
                                                    for _, s in stats.values())}
        result["check"] = self.verify(url, self.all_keys | set(self.probe.keys[keys_before:]))
        self.drop_store(url)
        return result

    def drain(self, backend: str, tag: str) -> dict[str, Any]:
        """Subscribe, stop, publish everything, start: time the drain of the queue."""
        url = self.store_url(backend, tag)
        cid = f"bench-{tag}"
        proc = self.worker(url, cid)
        try:
            proc.start()
            assert self.probe is not None
            keys_before = len(self.probe.keys)
            self.warm_up([cid])
            proc.stop()
            pubs = self.children.publish(self.port, self.per_publisher)
            connected = proc.start()
            cpu0 = cpu_seconds(proc.pid)
            with self.profiled(proc.pid, tag):
                done, samples = self.wait_acked([cid], self.messages,
                                                timeout_s=max(120, self.messages / 1000))
            cpu = cpu_seconds(proc.pid) - cpu0
            rss = rss_kib(proc.pid, "VmHWM")
        finally:
            self.finish([proc], [cid])
        result = self._throughput(self.messages, self.readings, done - connected, samples, 0)
        result |= {"publish_msg_s": self.messages / (max(p["published"] for p in pubs)
                                                     - min(p["started"] for p in pubs)),
                   "cpu_s_per_million_readings": cpu / self.readings * 1e6,
                   "peak_rss_mib": rss / 1024}
        result["check"] = self.verify(url, self.all_keys | set(self.probe.keys[keys_before:]))
        self.drop_store(url)
        return result

    def latency(self, backend: str, tag: str) -> dict[str, Any]:
        """Publish -> queryable at a fixed offered load, markers from the probe device."""
        url = self.store_url(backend, tag)
        cid = f"bench-{tag}"
        proc = self.worker(url, cid)
        per_publisher = int(self.latency_rate / PUBLISHERS * self.latency_s)
        n = per_publisher * PUBLISHERS
        probe = self.probe
        assert probe is not None
        sent: dict[int, float] = {}
        seen: dict[int, float] = {}
        stop = threading.Event()
        lock = threading.Lock()
        store: TelemetryStore | None = None

        def markers() -> None:
            next_at = time.monotonic()
            while not stop.is_set():
                with lock:
                    at = time.monotonic()
                    sent[probe.publish()] = at
                next_at += 1 / MARKERS_PER_S
                stop.wait(max(0.0, next_at - time.monotonic()))

        def checker() -> None:
            assert store is not None
            while not stop.is_set() or len(seen) < len(sent):
                with lock:
                    pending = sorted(set(sent) - set(seen))
                if pending:
                    q = RangeQuery(quantity="vwc_pct", start_ms=pending[0], end_ms=pending[-1] + 1,
                                   device_id=PROBE)
                    try:
                        points = store.query(q)
                    except Exception:  # not created yet
                        points = []
                    now = time.monotonic()
                    for p in points:
                        if p.ts_ms in sent and p.ts_ms not in seen:
                            seen[p.ts_ms] = now
                if stop.is_set() and time.monotonic() > drain_deadline:
                    return
                time.sleep(0.02)

        drain_deadline = float("inf")
        threads: list[threading.Thread] = []
        try:
            proc.start()
            keys_before = len(probe.keys)
            warm = self.warm_up([cid])
            store = open_store(url)
            cpu0 = cpu_seconds(proc.pid)
            wait_publishers = self.children.publish_async(self.port, per_publisher,
                                                          self.latency_rate / PUBLISHERS)
            time.sleep(0.5)  # the publishers' common start
            threads = [threading.Thread(target=markers, daemon=True),
                       threading.Thread(target=checker, daemon=True)]
            for t in threads:
                t.start()
            pubs = wait_publishers()
            drain_deadline = time.monotonic() + 10
            stop.set()
            for t in threads:
                t.join(15)
            total = warm + len(sent) + per_publisher * PUBLISHERS
            done, _ = self.wait_acked([cid], total, timeout_s=max(60, n / 500))
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            stop.set()
            for t in threads:
                t.join(15)
            if store is not None:
                store.close()
            self.finish([proc], [cid])
        lat = [seen[ts] - sent[ts] for ts in sent if ts in seen]
        start = min(p["started"] for p in pubs)
        expected = {k for p in self.plans for ks in p.keys[:per_publisher] for k in ks}
        readings = len(expected)
        result = {"offered_msg_s": n / (max(p["published"] for p in pubs) - start),
                  "stored_msg_s": n / (done - start), "messages": n,
                  "seconds": self.latency_s, "markers": len(sent), "markers_seen": len(lat),
                  "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
                  "max_ms": max(lat, default=float("nan")) * 1000,
                  "cpu_s_per_million_readings": cpu / readings * 1e6}
        result["check"] = self.verify(url, expected | set(probe.keys[keys_before:]))
        self.drop_store(url)
        return result

    @staticmethod
    def _throughput(messages: int, readings: int, seconds: float,
                    samples: list[tuple[float, int]], offset: int) -> dict[str, Any]:
        """End-to-end rates, and the steady rate between 10 % and 90 % acknowledged."""
        out: dict[str, Any] = {"messages": messages, "readings": readings,
                               "seconds": seconds, "msg_s": messages / seconds,
                               "readings_s": readings / seconds}
        lo = next((s for s in samples if s[1] - offset >= 0.1 * messages), None)
        hi = next((s for s in samples if s[1] - offset >= 0.9 * messages), None)
        if lo is not None and hi is not None and hi[0] > lo[0]:
            out["steady_msg_s"] = (hi[1] - lo[1]) / (hi[0] - lo[0])
        return out


# --- summary -----------------------------------------------------------------------------------


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min and max."""
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}


PHASES = ("live", "drain", "live2", "latency")


def _naive(run: dict[str, Any]) -> float:
    """The naive pipeline's live msg/s of the run (NaN without InfluxDB in the run)."""
    naive = run["ceiling"].get("naive")
    return float(naive["msg_s"]) if naive else float("nan")
ROWS: list[tuple[str, str, Callable[[dict[str, Any]], float], str]] = [
    # (label, unit, value of one run of one backend, format)
    ("live, 1 worker", "msg/s", lambda r: r["live"]["msg_s"], ",.0f"),
    ("live, 1 worker", "readings/s", lambda r: r["live"]["readings_s"], ",.0f"),
    ("  offered by the 2 publishers", "msg/s", lambda r: r["live"]["offered_msg_s"], ",.0f"),
    ("  ceiling (counting subscriber)", "msg/s", lambda r: r["ceiling"]["live"]["msg_s"], ",.0f"),
    ("  farmtel / ceiling", "", lambda r: r["live"]["msg_s"] / r["ceiling"]["live"]["msg_s"],
     ".2f"),
    ("  naive pipeline into InfluxDB", "msg/s", lambda r: _naive(r), ",.0f"),
    ("  farmtel / naive pipeline", "", lambda r: r["live"]["msg_s"] / _naive(r), ".2f"),
    ("drain, 1 worker", "msg/s", lambda r: r["drain"]["msg_s"], ",.0f"),
    ("drain, 1 worker", "readings/s", lambda r: r["drain"]["readings_s"], ",.0f"),
    ("  ceiling (counting subscriber)", "msg/s", lambda r: r["ceiling"]["drain"]["msg_s"],
     ",.0f"),
    ("  farmtel / ceiling", "", lambda r: r["drain"]["msg_s"] / r["ceiling"]["drain"]["msg_s"],
     ".2f"),
    ("live, 2 workers (shared sub.)", "msg/s", lambda r: r["live2"]["msg_s"], ",.0f"),
    ("  2 workers / 1 worker", "", lambda r: r["live2"]["msg_s"] / r["live"]["msg_s"], ".2f"),
    ("latency p50 at fixed load", "ms", lambda r: r["latency"]["p50_ms"], ",.0f"),
    ("latency p99 at fixed load", "ms", lambda r: r["latency"]["p99_ms"], ",.0f"),
    ("  offered during the latency phase", "msg/s", lambda r: r["latency"]["offered_msg_s"],
     ",.0f"),
    ("  stored during the latency phase", "msg/s", lambda r: r["latency"]["stored_msg_s"],
     ",.0f"),
    ("CPU per million readings (live)", "s", lambda r: r["live"]["cpu_s_per_million_readings"],
     ".1f"),
    ("peak RSS of a worker", "MiB",
     lambda r: max(r[p]["peak_rss_mib"] for p in ("live", "drain", "live2")), ",.0f"),
    ("lost readings (all phases)", "",
     lambda r: sum(r[p]["check"]["lost"] for p in PHASES), ",.0f"),
    ("duplicated readings (all phases)", "",
     lambda r: sum(r[p]["check"]["duplicated"] + r[p]["check"]["unexpected"] for p in PHASES),
     ",.0f"),
]


def summarise(runs: list[dict[str, Any]], backends: Sequence[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for backend in backends:
        per_run = [run[backend] | {"ceiling": run["ceiling"]} for run in runs]
        summary[backend] = {f"{label.strip()} [{unit}]" if unit else label.strip():
                            spread(value(r) for r in per_run)
                            for label, unit, value, _ in ROWS}
    return summary


def table(runs: list[dict[str, Any]], backends: Sequence[str]) -> str:
    width = 26
    lines = [f"{'':36}{'':11}" + "".join(f"{b + ' median (min-max)':>{width + 2}}"
                                         for b in backends)]
    for label, unit, value, fmt in ROWS:
        cells = []
        for backend in backends:
            s = spread(value(run[backend] | {"ceiling": run["ceiling"]}) for run in runs)
            cell = (f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"
                    if len(runs) > 1 else f"{s['median']:{fmt}}")
            cells.append(f"{cell:>{width + 2}}")
        lines.append(f"{label:36}{unit:11}" + "".join(cells))
    return "\n".join(lines)


def run_all(bench: Bench, args: argparse.Namespace, started: float) -> list[dict[str, Any]]:
    """Every run: the ceiling, then each backend's phases."""
    runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        result: dict[str, Any] = {"ceiling": bench.ceiling(f"r{run}")}
        c = result["ceiling"]
        if "influxdb" in args.backends:
            c["naive"] = bench.naive(f"r{run}")
        naive = f", naive pipeline {c['naive']['msg_s']:,.0f} msg/s" if "naive" in c else ""
        print(f"run {run + 1}: ceiling live {c['live']['msg_s']:,.0f} msg/s (offered "
              f"{c['live']['offered_msg_s']:,.0f}), drain {c['drain']['msg_s']:,.0f} msg/s"
              f"{naive}", flush=True)
        for backend in args.backends:
            tag = f"{backend}-r{run}"
            r = {"live": bench.live(backend, f"{tag}-live", 1),
                 "drain": bench.drain(backend, f"{tag}-drain"),
                 "live2": bench.live(backend, f"{tag}-live2", 2),
                 "latency": bench.latency(backend, f"{tag}-lat")}
            if backend == "influxdb":
                r["field_conflict"] = fc = bench.field_conflict(f"r{run}")
                print(f"run {run + 1} influxdb field type conflict (store sink, "
                      f"{fc['readings']:,} readings): clean {fc['clean']['readings_s']:,.0f} "
                      f"readings/s, with a conflicting integer vwc_pct "
                      f"{fc['conflict']['readings_s']:,.0f} readings/s (x{fc['ratio']:.2f}); "
                      f"stored {fc['conflict']['stored']:,}, refused {fc['conflict']['rejected']}",
                      flush=True)
            result[backend] = r
            print(f"run {run + 1} {backend}: live {r['live']['msg_s']:,.0f} msg/s (offered "
                  f"{r['live']['offered_msg_s']:,.0f}), drain {r['drain']['msg_s']:,.0f}, "
                  f"2 workers {r['live2']['msg_s']:,.0f}, p99 {r['latency']['p99_ms']:,.0f} ms, "
                  f"lost {sum(r[p]['check']['lost'] for p in PHASES)}, duplicated "
                  f"{sum(r[p]['check']['duplicated'] for p in PHASES)} "
                  f"({time.monotonic() - started:.0f} s elapsed)", flush=True)
        runs.append(result)
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--messages", type=int, default=40_000,
                    help="messages per phase (both publishers together)")
    ap.add_argument("--devices", type=int, default=100_000, help="registered devices")
    ap.add_argument("--backends", default="sqlite,influxdb",
                    help="comma-separated: sqlite, influxdb")
    ap.add_argument("--latency-s", type=float, default=8.0,
                    help="length of the fixed-load latency phase [s] (at most --messages worth)")
    ap.add_argument("--latency-rate", type=int, default=5_000,
                    help="offered load of the latency phase [msg/s]")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--alerts", choices=("separate", "in-ingest"), default="separate",
                    help="separate: ingest only stores, as in docker-compose.yml (default); "
                         "in-ingest: each worker also evaluates the streaming alert rules")
    ap.add_argument("--publisher", choices=("lean", "reliable"), default="lean",
                    help="lean: raw-socket QoS 1 publishers (default); reliable: the "
                         "simulators' paho ReliablePublisher (window 100), itself the limit")
    ap.add_argument("--quick", action="store_true",
                    help="one run, 20,000 messages, 4 s of latency: a smoke check")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="py-spy the worker of each 1-worker live and drain phase into DIR "
                         "(collapsed stacks per thread; skews that phase's figures a little)")
    args = ap.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(args.backends) - {"sqlite", "influxdb"}:
        ap.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if args.quick:
        args.runs, args.messages, args.latency_s = 1, 20_000, 4.0

    machine = MachineLoad()
    tmp = Path(tempfile.mkdtemp(prefix="farmtel-bench-ingest-"))
    (tmp / "logs").mkdir()
    bench: Bench | None = None
    try:
        bench = Bench(args, tmp)
        config = {
            "runs": args.runs, "messages_per_phase": bench.messages,
            "readings_per_phase": bench.readings, "devices": bench.fleet.size,
            "publishers": f"{PUBLISHERS} processes, {args.publisher}",
            "latency_rate_msg_s": args.latency_rate, "latency_s": bench.latency_s,
            "latency_messages": int(args.latency_rate * bench.latency_s),
            "markers_per_s": MARKERS_PER_S, "backends": args.backends,
            "stats_interval_s": float(STATS_INTERVAL_S),
            "worker": "python -m farmtel.cli ingest: MQTT 3.1.1, batches of 5000 readings / 200 ms",
        }
        print(f"ingest bench: {args.runs} run(s) x {', '.join(args.backends)}; "
              f"{bench.fleet.size:,} registered devices; per phase {bench.messages:,} messages "
              f"= {bench.readings:,} readings ({bench.readings / bench.messages:.1f} per message; "
              f"1 in {GATEWAY_EVERY} a gateway message of {RECORDS_PER_GATEWAY_MESSAGE} records) "
              f"from {PUBLISHERS} {args.publisher} publisher processes; latency phase "
              f"{config['latency_messages']:,} messages at {args.latency_rate:,} msg/s "
              f"({bench.latency_s:g} s); load average at start {' '.join(machine.load_average)}", flush=True)
        bench.start()
        runs = run_all(bench, args, machine.started)
    finally:
        if bench is not None:
            bench.close()
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        **machine.report(),
        "config": config,
        "summary": summarise(runs, args.backends),
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"ingest-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print()
    print(table(runs, args.backends))
    if "influxdb" in args.backends:
        fc = [run["influxdb"]["field_conflict"] for run in runs]
        clean = spread(f["clean"]["readings_s"] for f in fc)
        conflict = spread(f["conflict"]["readings_s"] for f in fc)
        ratio = spread(f["ratio"] for f in fc)
        print(f"InfluxDB with a field type conflict (store sink, {fc[0]['readings']:,} readings "
              f"in batches of {WRITE_BATCH:,}), median (min-max): clean "
              f"{clean['median']:,.0f} ({clean['min']:,.0f}-{clean['max']:,.0f}) readings/s, "
              f"conflict {conflict['median']:,.0f} ({conflict['min']:,.0f}-"
              f"{conflict['max']:,.0f}) readings/s, conflict / clean {ratio['median']:.2f} "
              f"({ratio['min']:.2f}-{ratio['max']:.2f})")
    print(f"\n{args.runs} run(s) in {machine.footer()}; results in {out}")
    bad = sum(run[b][p]["check"]["lost"] + run[b][p]["check"]["duplicated"]
              + run[b][p]["check"]["unexpected"]
              for run in runs for b in args.backends for p in PHASES)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
