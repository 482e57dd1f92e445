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

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.broker.embedded import EmbeddedBroker
from devices.broker.embedded_auth import RegistryBrokerAccess
from devices.broker.mosquitto import ServiceAccount, sync_mosquitto
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
    connack: ReasonCode | None = None
    received: list[tuple[str, bytes]] = field(default_factory=list)
    puback: dict[int, ReasonCode] = field(default_factory=dict)
    suback: dict[int, list[ReasonCode]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._connected = threading.Event()
        self._lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                        protocol=self.protocol)
        if self.username is not None:
            c.username_pw_set(self.username, self.password)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        c.on_publish = self._on_publish
        c.on_subscribe = lambda _c, _u, mid, codes, _p: self.suback.__setitem__(mid, codes)
        self.client = c

    def _on_connect(self, _c, _u, _f, reason: ReasonCode, _p) -> None:
        self.connack = reason
        self._connected.set()

    def _on_publish(self, _c, _u, mid: int, reason: ReasonCode, _p) -> None:
        with self._lock:
            self.puback[mid] = reason

    def connect(self) -> ReasonCode:
        """Connect once (no retries); the CONNACK's reason code."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        assert self._connected.wait(10), "no CONNACK"
        assert self.connack is not None
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


@dataclass
class Fleet:
    meta: Metadata
    passwords: dict[str, str]
    port: int
    tmp: Path

    def client(self, name: str, username: str | None = None, password: str | None = None,
               protocol: MQTTProtocolVersion = mqtt.MQTTv311) -> Client:
        return Client(self.port, f"{name}-{id(self)}", username, password, protocol)

    def device(self, device_id: str, protocol: MQTTProtocolVersion = mqtt.MQTTv311) -> Client:
        return self.client(device_id, device_id, self.passwords[device_id], protocol)

    def ingest(self) -> Client:
        return self.client("ingest", INGEST.username, INGEST.password)


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


@pytest.fixture(params=["mosquitto", "embedded"])
def fleet(request, tmp_path) -> Iterator[Fleet]:
    meta, passwords = registry_with_passwords(tmp_path)
    if request.param == "mosquitto":
        pw_file, acl_file = tmp_path / "passwd", tmp_path / "acl"
        sync_mosquitto(meta.sessions, pw_file, acl_file, [INGEST])
        server = MosquittoServer(password_file=pw_file, acl_file=acl_file)
        with server:
            f = Fleet(meta, passwords, server.port, tmp_path)
            f.server = server  # type: ignore[attr-defined]
            yield f
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
    server = getattr(fleet, "server", None)
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
        assert codes[0].is_failure or hasattr(fleet, "server")
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
    acl = (tmp_path / "acl").read_text()
    assert "user sm-1\ntopic write farmtel/farm-a/sm-1/telemetry\n" in acl
    assert "user gw-1\ntopic write farmtel/farm-a/gw-1/gateway\n" in acl
    assert f"user {INGEST.username}\ntopic read farmtel/#\ntopic read $share/+/farmtel/#\n" in acl
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
    extra = (f"listener {tls_port} 127.0.0.1\ncertfile {certs / 'server.crt'}\n"
             f"keyfile {certs / 'server.key'}\ncafile {certs / 'ca.crt'}\n")
    with MosquittoServer(password_file=tmp_path / "passwd", acl_file=tmp_path / "acl",
                         extra_config=extra) as server:
        del server
        settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=tls_port,
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
        {"farmtel-ingest", "sm-1", "gw-1", "col-1"}
    assert sync_mosquitto(meta.sessions, tmp_path / "pw", tmp_path / "acl", [INGEST])[1] is False
