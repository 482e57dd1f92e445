"""Broker security, enforced by the broker itself: a real Mosquitto with the files farmtel
generates from the registry, and the embedded amqtt broker with farmtel's auth/ACL plugins.

Absence is proven with barriers, not sleeps: MQTT keeps the order of one client's messages,
so once a later, allowed message has arrived, an earlier forged one would have too.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from amqtt.contexts import Action
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from devices.broker.embedded import EmbeddedBroker
from devices.broker.embedded_auth import RegistryBrokerAccess
from devices.broker.mosquitto import ServiceAccount, render_listener_config, sync_mosquitto
from devices.contract import record
from devices.provisioning import rotate_credentials
from farmtel.cli import cmd_mosquitto_sync
from farmtel.runtime import Metadata, build_api
from storage.clock import now_ms
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry, start_ingest, wait_for
from tests.servers import MosquittoServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DEVICES = {"sm-1": "soil_moisture", "sm-2": "soil_moisture", "gw-1": "gateway",
           "col-1": "livestock_collar"}
INGEST = ServiceAccount("farmtel-ingest", "ingest-secret-1", "ingest")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SM1, SM2 = "farmtel/farm-a/sm-1/telemetry", "farmtel/farm-a/sm-2/telemetry"
GW = "farmtel/farm-a/gw-1/gateway"


@dataclass
class Client:
    """A paho client that records its CONNACK, SUBACKs, PUBACK codes and received messages."""

    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    protocol: MQTTProtocolVersion = mqtt.MQTTv311
    clean_session: bool = True
    keepalive_s: int = 30
    connack: ReasonCode | None = None
    session_present: bool = False
    disconnects: int = 0
    received: list[tuple[str, bytes]] = field(default_factory=list)
    retained: list[tuple[str, bytes]] = field(default_factory=list)
    puback: dict[int, ReasonCode] = field(default_factory=dict)
    suback: dict[int, list[ReasonCode]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._connected = threading.Event()
        self._lock = threading.Lock()
        v5 = self.protocol == mqtt.MQTTv5
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                        protocol=self.protocol, clean_session=None if v5 else self.clean_session)
        if self.username is not None:
            c.username_pw_set(self.username, self.password)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = lambda _c, _u, mid, codes, _p: self.suback.__setitem__(mid, codes)
        c.on_disconnect = self._on_disconnect
        self.client = c

    def _on_connect(self, _c, _u, flags, reason: ReasonCode, _p) -> None:
        self.connack = reason
        self.session_present = bool(flags.session_present)
        self._connected.set()

    def _on_disconnect(self, _c, _u, _f, _reason, _p) -> None:
        self.disconnects += 1

    def _on_message(self, _c, _u, m: mqtt.MQTTMessage) -> None:
        (self.retained if m.retain else self.received).append((m.topic, bytes(m.payload)))

    def _on_publish(self, _c, _u, mid: int, reason: ReasonCode, _p) -> None:
        with self._lock:
            self.puback[mid] = reason

    def connect(self) -> ReasonCode:
        """Connect once (no retries); the CONNACK's reason code (a failure code when the broker
        closed the connection without CONNACK, as Mosquitto does to a refused 3.1.1 will)."""
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive_s)
        self.client.loop_start()
        wait_for(lambda: self._connected.is_set() or self.disconnects > 0, 10, "CONNACK")
        if self.connack is None:
            self.close()
            return ReasonCode(PacketTypes.CONNACK, identifier=0x80)
        if self.connack.is_failure:
            self.close()
        return self.connack

    def subscribe(self, topic: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None, "not connected"
        wait_for(lambda: mid in self.suback, 10, f"SUBACK for {topic}")
        return self.suback[mid]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and wait for the PUBACK; its reason code (MQTT 5 tells refusals)."""
        info = self.client.publish(topic, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        wait_for(lambda: info.mid in self.puback, 10, f"PUBACK for {topic}")
        return self.puback[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Vanish without DISCONNECT (the broker then publishes the will)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()


@dataclass
class Fleet:
    """A broker with the small registry: devices connect on ``port``, services on
    ``service_port`` (Mosquitto's two listeners; the embedded broker has one)."""

    meta: Metadata
    passwords: dict[str, str]
    port: int
    tmp: Path
    service_port: int = 0
    server: MosquittoServer | None = None

    def client(self, name: str, username: str | None = None, password: str | None = None,
               protocol: MQTTProtocolVersion = mqtt.MQTTv311) -> Client:
        return Client(self.port, f"{name}-{id(self)}", username, password, protocol)

    def device(self, device_id: str, protocol: MQTTProtocolVersion = mqtt.MQTTv311, *,
               client_id: str | None = None, clean_session: bool = True,
               keepalive_s: int = 30) -> Client:
        return Client(self.port, client_id or f"{device_id}-{id(self)}", device_id,
                      self.passwords[device_id], protocol, clean_session, keepalive_s)

    def ingest(self, client_id: str | None = None, *, persistent: bool = False) -> Client:
        return Client(self.service_port or self.port, client_id or f"ingest-{id(self)}",
                      INGEST.username, INGEST.password, clean_session=not persistent)


def registry_with_passwords(tmp_path: Path) -> tuple[Metadata, dict[str, str]]:
    """The small registry, with every device's (rotated, hence known) password."""
    meta = small_registry(settings_for(tmp_path), DEVICES)
    with meta.sessions() as s, s.begin():
        passwords = {d: rotate_credentials(s, d).mqtt_password for d in DEVICES}
    return meta, passwords


def refused(c: Client) -> bool:
    """Connect, note whether the broker refused, disconnect."""
    code = c.connect()
    if not code.is_failure:
        c.close()
    return code.is_failure


def connected(c: Client) -> Client:
    code = c.connect()
    assert not code.is_failure, code
    return c


def generated_mosquitto(tmp_path: Path, meta: Metadata, extra_config: str = "") -> MosquittoServer:
    """A Mosquitto configured as mosquitto-sync's files expect (``render_listener_config``):
    devices on ``port``, services on ``service_port``."""
    pw_file, acl_file = tmp_path / "passwd", tmp_path / "acl"
    sync_mosquitto(meta.sessions, pw_file, acl_file, [INGEST])
    service_port = free_port()
    server = MosquittoServer(extra_config=extra_config, listener_config=render_listener_config(
        pw_file, acl_file, service_listener=f"{service_port} 127.0.0.1",
        device_listener="{port} 127.0.0.1"))
    server.service_port = service_port  # type: ignore[attr-defined]
    return server


@pytest.fixture(params=["mosquitto", "embedded"])
def fleet(request, tmp_path) -> Iterator[Fleet]:
    meta, passwords = registry_with_passwords(tmp_path)
    if request.param == "mosquitto":
        with generated_mosquitto(tmp_path, meta) as server:
            yield Fleet(meta, passwords, server.port, tmp_path,
                        service_port=server.service_port,  # type: ignore[attr-defined]
                        server=server)
    else:
        access = RegistryBrokerAccess(meta.sessions, [INGEST], min_check_interval_s=0.1)
        broker = EmbeddedBroker("127.0.0.1", free_port(), access=access)
        broker.start()
        try:
            yield Fleet(meta, passwords, broker.port, tmp_path)
        finally:
            broker.stop()


def apply_registry_change(fleet: Fleet) -> None:
    """Mosquitto: regenerate the files and SIGHUP (as `farmtel mosquitto-sync` does);
    the embedded broker reads the registry by itself."""
    server = fleet.server
    if server is not None:
        sync_mosquitto(fleet.meta.sessions, fleet.tmp / "passwd", fleet.tmp / "acl", [INGEST],
                       pid=server.pid)


def test_anonymous_and_wrong_passwords_are_refused(fleet):
    assert refused(fleet.client("anon"))
    assert refused(fleet.client("bad", "sm-1", "not-the-password"))
    assert refused(fleet.client("nobody", "nobody", "x"))
    assert refused(fleet.client("svc", INGEST.username, "wrong"))
    assert not refused(fleet.device("sm-1"))


def test_a_device_cannot_publish_as_another(fleet):
    ingest = connected(fleet.ingest())
    sm1 = connected(fleet.device("sm-1"))
    try:
        assert not ingest.subscribe("farmtel/+/+/telemetry")[0].is_failure
        assert not ingest.subscribe("farmtel/+/+/gateway")[0].is_failure
        sm1.publish(SM2, b"forged as sm-2")
        sm1.publish(GW, b"forged as the gateway")
        sm1.publish(SM1, b"own")  # barrier: sm-1's messages arrive in order
        wait_for(lambda: (SM1, b"own") in ingest.received, 10, "sm-1's own message")
        assert ingest.received == [(SM1, b"own")]
    finally:
        sm1.close()
        ingest.close()


def test_a_gateway_publishes_only_on_its_gateway_topic(fleet):
    ingest = connected(fleet.ingest())
    gw = connected(fleet.device("gw-1"))
    try:
        ingest.subscribe("farmtel/#")
        gw.publish("farmtel/farm-a/col-1/telemetry", b"child as itself: ingest-only path")
        gw.publish(GW, b"records")
        wait_for(lambda: len(ingest.received) >= 1, 10, "gateway message")
        assert ingest.received == [(GW, b"records")]
    finally:
        gw.close()
        ingest.close()


@pytest.mark.parametrize("fleet", ["mosquitto"], indirect=True)  # amqtt 0.12: MQTT 3.1.1 only
def test_mqtt5_device_is_told_its_forged_publish_is_not_authorised(fleet):
    sm1 = connected(fleet.device("sm-1", mqtt.MQTTv5))
    try:
        assert sm1.publish(SM2, b"forged").getName() == "Not authorized"
        assert not sm1.publish(SM1, b"own").is_failure
    finally:
        sm1.close()


def test_devices_cannot_read_other_devices_topics(fleet):
    ingest = connected(fleet.ingest())
    spy = connected(fleet.device("sm-1"))
    sm2 = connected(fleet.device("sm-2"))
    try:
        ingest.subscribe("farmtel/#")
        codes = spy.subscribe("farmtel/#")
        # Mosquitto grants every SUBSCRIBE and filters each delivery by the read ACL;
        # the embedded broker refuses the subscription itself (0x80).
        assert codes[0].is_failure or fleet.server is not None
        sm2.publish(SM2, b"private")
        wait_for(lambda: (SM2, b"private") in ingest.received, 10, "ingest got sm-2's message")
        spy.publish(SM1, b"barrier")  # the broker routed sm-2's message before this PUBACK
        assert spy.received == []
    finally:
        for c in (sm2, spy, ingest):
            c.close()


@pytest.mark.parametrize("fleet", ["mosquitto"], indirect=True)  # amqtt 0.12: no $share
def test_ingest_account_can_use_a_shared_subscription(fleet):
    ingest = connected(fleet.ingest())
    sm1 = connected(fleet.device("sm-1"))
    try:
        assert not ingest.subscribe("$share/farmtel-ingest/farmtel/+/+/telemetry")[0].is_failure
        sm1.publish(SM1, b"shared")
        wait_for(lambda: ingest.received == [(SM1, b"shared")], 10, "shared delivery")
    finally:
        sm1.close()
        ingest.close()


def test_revoked_device_is_refused_at_its_next_connection(fleet):
    store = open_store(f"sqlite:///{fleet.tmp / 'telemetry.db'}")
    api = TestClient(build_api(fleet.meta, store))
    sm2 = connected(fleet.device("sm-2"))
    sm2.close()
    try:
        r = api.post("/api/v1/devices/sm-2/revoke", headers=ADMIN)
        assert r.status_code == 200 and r.json()["revoked"] is True
        assert api.post("/api/v1/devices/sm-2/revoke", headers=ADMIN).status_code == 200
        assert api.post("/api/v1/devices/nope/revoke", headers=ADMIN).status_code == 404
        assert api.post("/api/v1/devices/sm-2/rotate-credentials",
                        headers=ADMIN).status_code == 409
        apply_registry_change(fleet)
        wait_for(lambda: refused(fleet.device("sm-2")), 10, "revoked device refused")
        assert not refused(fleet.device("sm-1"))  # the others are untouched
    finally:
        store.close()


def test_retired_device_is_refused_at_its_next_connection(fleet):
    store = open_store(f"sqlite:///{fleet.tmp / 'telemetry.db'}")
    api = TestClient(build_api(fleet.meta, store))
    sm2 = connected(fleet.device("sm-2"))
    sm2.close()
    try:
        r = api.post("/api/v1/devices/sm-2/retire", headers=ADMIN)
        assert r.status_code == 200 and r.json()["retired_at"] is not None
        apply_registry_change(fleet)
        wait_for(lambda: refused(fleet.device("sm-2")), 10, "retired device refused")
        assert not refused(fleet.device("sm-1"))  # the others are untouched
    finally:
        store.close()


def test_rotated_credentials_replace_the_old_ones(fleet):
    store = open_store(f"sqlite:///{fleet.tmp / 'telemetry.db'}")
    api = TestClient(build_api(fleet.meta, store))
    try:
        old = fleet.passwords["sm-1"]
        agro = api.post("/api/v1/devices/sm-1/rotate-credentials")
        assert agro.status_code == 401
        r = api.post("/api/v1/devices/sm-1/rotate-credentials", headers=ADMIN)
        assert r.status_code == 200, r.text
        new = r.json()["mqtt_password"]
        assert new != old and r.json()["mqtt_username"] == "sm-1"
        apply_registry_change(fleet)
        wait_for(lambda: refused(fleet.client("old", "sm-1", old)), 10, "old password refused")
        assert not refused(fleet.client("new", "sm-1", new))
    finally:
        store.close()


def test_mosquitto_sync_command_writes_files_and_reloads(tmp_path):
    meta, passwords = registry_with_passwords(tmp_path)
    settings = settings_for(tmp_path, mosquitto_password_file=tmp_path / "pw",
                            mosquitto_acl_file=tmp_path / "acl",
                            mqtt_username=INGEST.username, mqtt_password=INGEST.password)
    args = argparse.Namespace(watch=0.0, pid=None, mode="600")
    cmd_mosquitto_sync(settings, args)
    acl, services_acl = (tmp_path / "acl").read_text(), (tmp_path / "acl.services").read_text()
    assert "user sm-1\ntopic write farmtel/farm-a/sm-1/telemetry\n" in acl
    assert "user gw-1\ntopic write farmtel/farm-a/gw-1/gateway\n" in acl
    assert f"user {INGEST.username}\ntopic read farmtel/#\ntopic read $share/+/farmtel/#\n" \
        in services_acl
    assert INGEST.username not in acl and "sm-1" not in services_acl
    assert "#   use_username_as_clientid true" in acl  # the config the files expect, documented
    before = (tmp_path / "pw").read_text()
    with MosquittoServer(password_file=tmp_path / "pw", acl_file=tmp_path / "acl") as server:
        assert not refused(Client(server.port, "c1", "sm-1", passwords["sm-1"]))
        cmd_mosquitto_sync(settings, argparse.Namespace(watch=0.0, pid=server.pid, mode="600"))
        assert (tmp_path / "pw").read_text() == before  # unchanged registry: same file
        with meta.sessions() as s, s.begin():
            new = rotate_credentials(s, "sm-1").mqtt_password
        cmd_mosquitto_sync(settings, argparse.Namespace(watch=0.0, pid=server.pid, mode="600"))
        wait_for(lambda: refused(Client(server.port, "c2", "sm-1", passwords["sm-1"])), 10,
                 "old password refused after sync")
        assert not refused(Client(server.port, "c3", "sm-1", new))


@pytest.fixture
def certs(tmp_path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    d = tmp_path / "certs"
    d.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=farmtel-test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "server.crt")
    return d


def tls_client(port: int, ca: Path, client_id: str, username: str, password: str) -> Client:
    c = Client(port, client_id, username, password)
    c.client.tls_set(ca_certs=str(ca))
    return c


def test_ingest_and_devices_over_tls_to_mosquitto(tmp_path, certs):
    meta, passwords = registry_with_passwords(tmp_path)
    sync_mosquitto(meta.sessions, tmp_path / "passwd", tmp_path / "acl", [INGEST])
    tls_port = free_port()
    tls = (f"certfile {certs / 'server.crt'}\nkeyfile {certs / 'server.key'}\n"
           f"cafile {certs / 'ca.crt'}\n")
    with MosquittoServer(listener_config=render_listener_config(
            tmp_path / "passwd", tmp_path / "acl", service_listener="{port} 127.0.0.1",
            device_listener=f"{tls_port} 127.0.0.1", device_tls=tls, service_tls=tls)) as server:
        settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=server.port,
                                mqtt_username=INGEST.username, mqtt_password=INGEST.password,
                                mqtt_tls_ca_file=certs / "ca.crt",
                                mqtt_client_id=f"tls-{tmp_path.name}")
        store, worker = start_ingest(settings, meta)
        sm1 = tls_client(tls_port, certs / "ca.crt", "sm1-tls", "sm-1", passwords["sm-1"])
        try:
            wait_for(lambda: worker.connected, 15, "ingest connected over TLS")
            assert not sm1.connect().is_failure
            ts = now_ms() - 1000
            sm1.publish(SM1, orjson.dumps(record(ts, 1, {"vwc_pct": 31.5})))
            wait_for(lambda: worker.metrics["readings_stored"] == 1, 15, "stored via TLS")
            assert [(r.device_id, r.value, r.ts_ms) for r in store.latest(["sm-1"])] == \
                [("sm-1", 31.5, ts)]
        finally:
            sm1.close()
            worker.stop()
            store.close()


def test_embedded_broker_tls_listener(tmp_path, certs):
    meta, passwords = registry_with_passwords(tmp_path)
    access = RegistryBrokerAccess(meta.sessions, [INGEST])
    tls_port = free_port()
    broker = EmbeddedBroker("127.0.0.1", free_port(), access=access, tls_port=tls_port,
                            tls_cert_file=certs / "server.crt", tls_key_file=certs / "server.key")
    broker.start()
    try:
        ingest = tls_client(tls_port, certs / "ca.crt", "ing-tls", INGEST.username,
                            INGEST.password)
        sm1 = tls_client(tls_port, certs / "ca.crt", "sm1-tls", "sm-1", passwords["sm-1"])
        assert not ingest.connect().is_failure and not sm1.connect().is_failure
        try:
            ingest.subscribe("farmtel/#")
            sm1.publish(SM1, b"over tls")
            wait_for(lambda: ingest.received == [(SM1, b"over tls")], 10, "TLS delivery")
        finally:
            sm1.close()
            ingest.close()
    finally:
        broker.stop()


# --- sessions and identities (issue 14: 1, 2, 3, 13) ------------------------------------------


def offline_ingest_with_queue(fleet: Fleet, client_id: str, count: int) -> list[bytes]:
    """Ingest's persistent session (subscribed, then offline) with ``count`` of sm-2's
    messages queued in it; the payloads, in order."""
    ingest = connected(fleet.ingest(client_id, persistent=True))
    assert not ingest.subscribe("farmtel/+/+/telemetry")[0].is_failure
    ingest.close()
    sm2 = connected(fleet.device("sm-2"))
    payloads = [f"queued {i}".encode() for i in range(count)]
    try:
        for p in payloads:
            sm2.publish(SM2, p)
    finally:
        sm2.close()
    return payloads


def back_online(fleet: Fleet, client_id: str, payloads: list[bytes]) -> Client:
    """Ingest reconnects to its session and gets exactly ``payloads`` (then a live barrier)."""
    ingest = connected(fleet.ingest(client_id, persistent=True))
    try:
        assert ingest.session_present
        wait_for(lambda: len(ingest.received) >= len(payloads), 20, "queued messages")
        sm1 = connected(fleet.device("sm-1"))
        sm1.publish(SM1, b"barrier")
        sm1.close()
        wait_for(lambda: (SM1, b"barrier") in ingest.received, 10, "barrier")
        assert [p for t, p in ingest.received if t == SM2] == payloads  # all, once, in order
    finally:
        ingest.close()
    return ingest


@pytest.mark.parametrize("service_id", ["farmtel-ingest", "farmtel-alerts-feed"])
def test_a_device_cannot_take_over_or_discard_a_service_session(fleet, service_id):
    # while the service is connected: the device's CONNECT must not kick it off
    live = connected(fleet.ingest(service_id, persistent=True))
    live.subscribe("farmtel/+/+/telemetry")
    attacker = fleet.device("sm-1", client_id=service_id)
    if not attacker.connect().is_failure:
        attacker.close()
    sm2 = connected(fleet.device("sm-2"))
    sm2.publish(SM2, b"live")
    sm2.close()
    wait_for(lambda: (SM2, b"live") in live.received, 10, "live message")
    assert live.disconnects == 0 and live.client.is_connected()
    live.close()
    # while it is away: a clean-session CONNECT with its client id must not discard its queue
    payloads = offline_ingest_with_queue(fleet, service_id, 200)
    attacker = fleet.device("sm-1", client_id=service_id)
    if not attacker.connect().is_failure:
        attacker.close()
    back_online(fleet, service_id, payloads)


def test_a_device_cannot_read_a_service_session_queue(fleet):
    payloads = offline_ingest_with_queue(fleet, "farmtel-ingest", 20)
    thief = fleet.device("sm-1", client_id="farmtel-ingest", clean_session=False)
    if not thief.connect().is_failure:
        thief.publish(SM1, b"thief's own")  # a round trip after any queued delivery began
        thief.close()
    assert thief.received == [] and thief.retained == []
    back_online(fleet, "farmtel-ingest", payloads)


class NarrowingAccess(RegistryBrokerAccess):
    """The registry's rules, minus receiving the topics in ``hidden`` (rights that changed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden: set[str] = set()

    def allowed(self, username: str | None, topic: str, action: Action) -> bool:
        if action == Action.RECEIVE and topic in self.hidden:
            return False
        return super().allowed(username, topic, action)


def test_queued_messages_are_read_checked_when_delivered(tmp_path):
    """Embedded broker (its own delivery path; Mosquitto checks its ACL itself): rights that
    change while a session is offline apply to what was queued for it."""
    meta, passwords = registry_with_passwords(tmp_path)
    access = NarrowingAccess(meta.sessions, [INGEST], min_check_interval_s=0.1)
    broker = EmbeddedBroker("127.0.0.1", free_port(), access=access)
    broker.start()
    try:
        fleet = Fleet(meta, passwords, broker.port, tmp_path)
        offline_ingest_with_queue(fleet, "farmtel-ingest", 20)
        access.hidden.add(SM2)
        ingest = connected(fleet.ingest("farmtel-ingest", persistent=True))
        try:
            sm1 = connected(fleet.device("sm-1"))
            sm1.publish(SM1, b"barrier")
            sm1.close()
            wait_for(lambda: (SM1, b"barrier") in ingest.received, 10, "barrier")
            assert ingest.received == [(SM1, b"barrier")] and ingest.retained == []
        finally:
            ingest.close()
    finally:
        broker.stop()


def test_a_new_connection_of_the_same_login_replaces_the_older_one(fleet):
    first = connected(fleet.ingest("farmtel-ingest"))
    first.client.reconnect_delay_set(30, 30)  # no ping-pong with the second
    second = connected(fleet.ingest("farmtel-ingest"))
    try:
        wait_for(lambda: first.disconnects >= 1, 10, "the older connection closed")
        assert second.disconnects == 0 and second.client.is_connected()
    finally:
        first.close()
        second.close()


def test_device_client_ids_are_bound_to_their_logins(fleet):
    """Mosquitto's use_username_as_clientid and the embedded broker: whatever client id a
    device asks for, it gets its own; two devices cannot share one."""
    sm1 = connected(fleet.device("sm-1", client_id="shared-id"))
    sm2 = connected(fleet.device("sm-2", client_id="shared-id"))
    try:
        ingest = connected(fleet.ingest())
        ingest.subscribe("farmtel/+/+/telemetry")
        sm1.publish(SM1, b"one")
        sm2.publish(SM2, b"two")
        wait_for(lambda: len(ingest.received) == 2, 10, "both devices' messages")
        assert sm1.disconnects == 0 and sm2.disconnects == 0  # neither took the other over
        ingest.close()
    finally:
        sm1.close()
        sm2.close()


@pytest.mark.parametrize("retain", [False, True])
def test_a_will_on_another_farms_topic_is_never_published(fleet, retain):
    forged = b'{"ts": "2026-01-01T00:00:00Z", "seq": 1, "readings": {"vwc_pct": 99}}'
    ingest = connected(fleet.ingest())
    try:
        ingest.subscribe("farmtel/#")
        attacker = fleet.device("sm-1")
        attacker.client.will_set("farmtel/farm-b/sm-b/telemetry", forged, qos=1, retain=retain)
        if not attacker.connect().is_failure:  # Mosquitto refuses a retained will outright
            attacker.drop()
        control = fleet.device("sm-2")  # control: an allowed will is published
        control.client.will_set(SM2, b"control will", qos=1)
        connected(control).drop()
        wait_for(lambda: (SM2, b"control will") in ingest.received, 10, "the control's will")
        late = connected(fleet.ingest())  # nothing retained either
        late.subscribe("farmtel/#")
        late.close()
        assert all(t != "farmtel/farm-b/sm-b/telemetry" for t, _ in
                   ingest.received + ingest.retained + late.received + late.retained)
    finally:
        ingest.close()


def test_the_will_is_published_when_the_keep_alive_expires(fleet):
    ingest = connected(fleet.ingest())
    try:
        ingest.subscribe("farmtel/+/+/telemetry")
        silent = fleet.device("sm-1", keepalive_s=1)
        silent.client.will_set(SM1, b"gone quiet", qos=1)
        connected(silent).client.loop_stop()  # socket open, no PINGREQ from now on
        wait_for(lambda: (SM1, b"gone quiet") in ingest.received, 15, "will after 1.5 x keep-alive")
        silent.drop()
    finally:
        ingest.close()


def test_devices_cannot_leave_retained_telemetry(fleet):
    sm1 = connected(fleet.device("sm-1"))
    info = sm1.client.publish(SM1, b"retained garbage", qos=1, retain=True)
    # Mosquitto (retain_available false) disconnects the device; the embedded broker strips
    # the flag (the message itself is delivered as live data)
    wait_for(lambda: info.mid in sm1.puback or not sm1.client.is_connected(), 10,
             "PUBACK or disconnection")
    sm1.close()
    late = connected(fleet.ingest())
    try:
        late.subscribe("farmtel/#")
        sm2 = connected(fleet.device("sm-2"))
        sm2.publish(SM2, b"barrier")
        sm2.close()
        wait_for(lambda: (SM2, b"barrier") in late.received, 10, "barrier")
        assert late.retained == []
    finally:
        late.close()


# --- the permission model itself (no broker) --------------------------------------------------


def test_topic_and_filter_rules():
    from devices.broker.mosquitto import BrokerUser, filter_allowed, topic_allowed, topic_matches

    assert topic_matches("farmtel/a/b/telemetry", "farmtel/+/+/telemetry")
    assert topic_matches("farmtel/a/b/telemetry", "farmtel/#")
    assert not topic_matches("farmtel/a/b/telemetry/x", "farmtel/+/+/telemetry")
    assert not topic_matches("$SYS/broker/load", "#")
    ingest = BrokerUser("i", "h", read=("farmtel/#", "$share/+/farmtel/#"))
    device = BrokerUser("sm-1", "h", write=("farmtel/farm-a/sm-1/telemetry",))
    assert filter_allowed(ingest, "farmtel/+/+/telemetry")
    assert filter_allowed(ingest, "$share/farmtel-ingest/farmtel/+/+/gateway")
    assert not filter_allowed(ingest, "#") and not filter_allowed(ingest, "+/+/+/telemetry")
    assert not filter_allowed(device, "farmtel/farm-a/sm-1/telemetry")  # devices read nothing
    assert topic_allowed(device, "farmtel/farm-a/sm-1/telemetry", "write")
    assert not topic_allowed(device, "farmtel/farm-a/sm-2/telemetry", "write")
    assert not topic_allowed(device, "farmtel/farm-b/sm-1/telemetry", "write")


def test_generated_files_never_name_revoked_devices(tmp_path):
    from devices.provisioning import revoke_device

    meta, _ = registry_with_passwords(tmp_path)
    with meta.sessions() as s, s.begin():
        revoke_device(s, "sm-2")
    _, changed = sync_mosquitto(meta.sessions, tmp_path / "pw", tmp_path / "acl", [INGEST])
    assert changed
    pw, acl = (tmp_path / "pw").read_text(), (tmp_path / "acl").read_text()
    assert "sm-2" not in pw and "sm-2" not in acl
    assert {line.split(":")[0] for line in pw.splitlines() if not line.startswith("#")} == \
        {"sm-1", "gw-1", "col-1"}
    services = (tmp_path / "pw.services").read_text()
    assert {line.split(":")[0] for line in services.splitlines() if not line.startswith("#")} \
        == {"farmtel-ingest"}
    assert sync_mosquitto(meta.sessions, tmp_path / "pw", tmp_path / "acl", [INGEST])[1] is False


def test_client_id_rules_of_the_embedded_broker(tmp_path):
    meta, _ = registry_with_passwords(tmp_path)
    access = RegistryBrokerAccess(meta.sessions, [INGEST], allow_anonymous=True,
                                  reserved_client_ids=("farmtel-ingest", "farmtel-alerts-feed"))
    access.refresh(force_check=True)
    assert access.client_id_for("sm-1", "farmtel-ingest") == "sm-1"  # a device: its own name
    assert access.client_id_for("sm-1", "anything") == "sm-1"
    assert access.client_id_for(INGEST.username, "farmtel-ingest") == "farmtel-ingest"
    assert access.client_id_for(INGEST.username, "sm-2") is None  # a service: no device's id
    assert access.client_id_for(None, "farmtel-alerts-feed") is None  # anonymous: no service's
    assert access.client_id_for(None, "sm-2") == "sm-2"  # demo devices using their id
    assert access.is_device_data("farmtel/farm-a/sm-1/telemetry")
    assert access.is_device_data("farmtel/farm-a/gw-1/gateway")
    assert not access.is_device_data("farmtel/alerts/farm-a/field-1")


def test_service_client_id_prefix_is_never_a_device_login(tmp_path):
    from devices.broker.mosquitto import SERVICE_CLIENT_ID_PREFIX, device_users

    meta = small_registry(settings_for(tmp_path), {"sm-1": "soil_moisture",
                                                   "farmtel-alerts-feed": "soil_moisture"})
    with meta.sessions() as s:
        names = {u.username for u in device_users(s)}
    assert names == {"sm-1"} and SERVICE_CLIENT_ID_PREFIX == "farmtel-"
