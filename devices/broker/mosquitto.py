"""Who may connect to the broker and which topics each may use, from the registry.

One permission model, two enforcers:

* Mosquitto: :func:`sync_mosquitto` writes its ``password_file`` (``user:$7$...`` lines: the
  registry already stores Mosquitto's PBKDF2-SHA512 format) and its ``acl_file``; a SIGHUP
  makes Mosquitto reload both and drop clients they no longer admit.
* the embedded amqtt broker: ``devices.broker.embedded_auth`` asks :func:`load_broker_users` and
  :func:`topic_allowed` directly.

Identities: a device's client id is its user name (Mosquitto: ``use_username_as_clientid
true`` on the device listener; the embedded broker rewrites it the same way), so a device can
never use, take over or discard another principal's session. Services log in on a listener of
their own with their own password and ACL files (``<file>.services``): device credentials do
not work there. Client ids starting with ``farmtel-`` belong to farmtel's services, so a device
whose id starts with it gets no login. :func:`render_listener_config` is the listener section
both files expect (``deploy/mosquitto.conf`` and the tests use it).

Devices may only publish (``write``) on their own topic: ``farmtel/<farm>/<id>/telemetry``,
or ``farmtel/<farm>/<id>/gateway`` for a gateway (ingest checks per record that the device
behind a gateway is registered as its child). Devices read nothing. Revoked and retired
devices have no entry at all. Service accounts: ingest reads ``farmtel/#`` (also as a ``$share`` group) and
writes alert transitions; the simulator writes any device topic (a test tool: do not give it
a password in production).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.contract import TOPIC_ROOT, gateway_topic, telemetry_topic
from devices.credentials import hash_password, verify_password
from devices.registry import Device, Site, current_version, live_device

log = logging.getLogger(__name__)

ServiceRole = Literal["ingest", "simulator"]

INGEST_READ = (f"{TOPIC_ROOT}/#", f"$share/+/{TOPIC_ROOT}/#")
INGEST_WRITE = (f"{TOPIC_ROOT}/alerts/#",)
SIMULATOR_WRITE = (f"{TOPIC_ROOT}/+/+/telemetry", f"{TOPIC_ROOT}/+/+/gateway")
DEVICE_DATA = SIMULATOR_WRITE
"""Topics that carry device data: never retained (Mosquitto ``retain_available false``)."""
SERVICE_CLIENT_ID_PREFIX = "farmtel-"
"""Client ids of farmtel's services start with this; no device login may."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A farmtel service's broker login (clear-text password from settings)."""

    username: str
    password: str
    role: ServiceRole


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """One broker login: its password hash and the topic filters it may read and write."""

    username: str
    password_hash: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    service: bool = False


def _usable_name(name: str) -> bool:
    """Mosquitto's files cannot carry a ``:`` in a user name, nor whitespace; ``farmtel-*`` names
    are services' client ids (a device's client id is its user name)."""
    return (bool(name) and ":" not in name and not any(c.isspace() for c in name)
            and not name.startswith(SERVICE_CLIENT_ID_PREFIX))


def device_users(session: Session) -> list[BrokerUser]:
    """Every device in service (neither revoked nor retired) as a broker user, with the topic
    it may publish on."""
    rows = session.execute(
        select(Device.mqtt_username, Device.password_hash, Device.id, Device.type, Site.farm_id)
        .join(Site, Device.site_id == Site.id)
        .where(live_device())
        .order_by(Device.mqtt_username)
    )
    users = []
    for username, pw_hash, device_id, device_type, farm_id in rows:
        if not _usable_name(username):
            log.warning("device %r cannot be given a broker login (':' or space in the name, "
                        "or a service's %r prefix)", username, SERVICE_CLIENT_ID_PREFIX)
            continue
        topic = (gateway_topic(farm_id, device_id) if device_type == "gateway"
                 else telemetry_topic(farm_id, device_id))
        users.append(BrokerUser(username, pw_hash, write=(topic,)))
    return users


def service_user(account: ServiceAccount, known_hash: str | None = None) -> BrokerUser:
    """A service account as a broker user; ``known_hash`` is reused if it still matches."""
    pw_hash = known_hash if known_hash and verify_password(account.password, known_hash) \
        else hash_password(account.password)
    if account.role == "ingest":
        return BrokerUser(account.username, pw_hash, read=INGEST_READ, write=INGEST_WRITE,
                          service=True)
    return BrokerUser(account.username, pw_hash, write=SIMULATOR_WRITE, service=True)


def load_broker_users(session: Session, services: Sequence[ServiceAccount] = (),
                      known_hashes: dict[str, str] | None = None) -> list[BrokerUser]:
    """Service accounts first, then devices; a device may not take a service's name."""
    known = known_hashes or {}
    users = [service_user(a, known.get(a.username)) for a in services]
    taken = {u.username for u in users}
    for user in device_users(session):
        if user.username in taken:
            log.warning("device login %r clashes with a service account: ignored", user.username)
            continue
        users.append(user)
    return users


def topic_matches(topic: str, pattern: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest); ``$`` topics need a literal start."""
    t_parts, p_parts = topic.split("/"), pattern.split("/")
    if topic.startswith("$") and not pattern.startswith("$"):
        return False
    for i, p in enumerate(p_parts):
        if p == "#":
            return True
        if i >= len(t_parts) or (p != "+" and p != t_parts[i]):
            return False
    return len(t_parts) == len(p_parts)


def topic_allowed(user: BrokerUser, topic: str, access: Literal["read", "write"]) -> bool:
    """Whether ``user`` may read (receive) or write (publish) ``topic``."""
    patterns = user.read if access == "read" else user.write
    return any(topic_matches(topic, p) for p in patterns)


def filter_allowed(user: BrokerUser, topic_filter: str) -> bool:
    """Whether a subscription filter stays inside what ``user`` may read.

    The filter must be at least as narrow as one read pattern: every level of the pattern is
    ``#`` (covers the rest), ``+`` matching a level of the filter that is not ``#``, or equal.
    """
    f_parts = topic_filter.split("/")
    for pattern in user.read:
        p_parts = pattern.split("/")
        ok = True
        for i, p in enumerate(p_parts):
            if p == "#":
                break
            if i >= len(f_parts) or f_parts[i] == "#" or (p != "+" and p != f_parts[i]):
                ok = False
                break
        else:
            ok = len(f_parts) == len(p_parts)
        if ok:
            return True
    return False


# --- Mosquitto files ------------------------------------------------------------------------


def _header(kind: str) -> list[str]:
    which = ("farmtel's services (the service listener)" if kind == "services"
             else "devices (the device listener, use_username_as_clientid true)")
    return ["# generated by farmtel mosquitto-sync from the registry: do not edit",
            f"# logins of {which}; the mosquitto.conf these files expect:"]


def _commented(text: str) -> list[str]:
    return [f"#   {line}" if line else "#" for line in text.splitlines()]


def render_password_file(users: Iterable[BrokerUser], kind: str = "devices",
                         config: str = "") -> str:
    """Mosquitto ``password_file`` text: ``user:$7$...`` lines."""
    lines = _header(kind) + _commented(config)
    lines += [f"{u.username}:{u.password_hash}" for u in users]
    return "\n".join(lines) + "\n"


def render_acl_file(users: Iterable[BrokerUser], kind: str = "devices", config: str = "") -> str:
    """Mosquitto ``acl_file`` text: a ``user`` block with ``topic read|write`` lines each.

    No line precedes the first ``user``, so anonymous clients (if any were admitted) get nothing.
    """
    lines = _header(kind) + _commented(config)
    for u in users:
        lines += ["", f"user {u.username}"]
        lines += [f"topic read {t}" for t in u.read]
        lines += [f"topic write {t}" for t in u.write]
    return "\n".join(lines) + "\n"


def read_password_hashes(path: Path) -> dict[str, str]:
    """``{user: hash}`` of an existing password file (empty if missing)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            user, pw_hash = line.split(":", 1)
            out[user] = pw_hash
    return out


def _write_if_changed(path: Path, text: str, mode: int) -> bool:
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    tmp.replace(path)  # Mosquitto never reads a half-written file
    return True


def service_file(path: Path) -> Path:
    """The services' counterpart of a device password or ACL file: ``<path>.services``."""
    return path.with_name(path.name + ".services")


def render_listener_config(password_file: Path, acl_file: Path, *,
                           service_listener: str = "1883",
                           device_listener: str = "8883",
                           device_tls: str = "", service_tls: str = "") -> str:
    """The part of ``mosquitto.conf`` the generated files expect (``deploy/mosquitto.conf``).

    Two listeners with their own logins (``per_listener_settings true``): services on
    ``service_listener`` (internal network only) with ``<file>.services``; devices on
    ``device_listener`` with ``use_username_as_clientid true``, so a device's client id is
    always its user name. ``retain_available false``: nobody publishes retained messages (a
    client that tries is disconnected, a retained will refused at CONNECT), so ingest never sees
    device data replayed. ``device_tls``/``service_tls``: ``certfile``/``keyfile``/``cafile``
    lines of either listener.
    """
    def listener(address: str, pw: Path, acl: Path, extra: str) -> str:
        port, _, host = address.partition(" ")
        return (f"listener {port}{' ' + host if host else ''}\nallow_anonymous false\n"
                f"password_file {pw}\nacl_file {acl}\n{extra}")

    return ("per_listener_settings true\nretain_available false\n"
            + listener(service_listener, service_file(password_file), service_file(acl_file),
                       service_tls)
            + listener(device_listener, password_file, acl_file,
                       "use_username_as_clientid true\n" + device_tls))


def write_mosquitto_files(session: Session, password_file: Path, acl_file: Path,
                          services: Sequence[ServiceAccount] = (), *,
                          mode: int = 0o640) -> bool:
    """Write the device files and the services' (``<file>.services``) from the registry;
    True if any changed."""
    known = read_password_hashes(password_file) | read_password_hashes(service_file(password_file))
    users = load_broker_users(session, services, known)
    config = render_listener_config(password_file, acl_file)
    changed = False
    for kind, pw, acl in (("devices", password_file, acl_file),
                          ("services", service_file(password_file), service_file(acl_file))):
        mine = [u for u in users if u.service == (kind == "services")]
        changed |= _write_if_changed(pw, render_password_file(mine, kind, config), mode)
        changed |= _write_if_changed(acl, render_acl_file(mine, kind, config), mode)
    return changed


def reload_mosquitto(pid_file: Path | None = None, pid: int | None = None) -> bool:
    """SIGHUP Mosquitto (by pid or pid file) so it re-reads its password and ACL files."""
    if pid is None and pid_file is not None:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            log.warning("no Mosquitto pid in %s: not reloaded", pid_file)
            return False
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        log.warning("Mosquitto pid %d is gone: not reloaded", pid)
        return False
    return True


def sync_mosquitto(sessions: sessionmaker[Any], password_file: Path, acl_file: Path,
                   services: Sequence[ServiceAccount] = (), *, pid_file: Path | None = None,
                   pid: int | None = None, mode: int = 0o640) -> tuple[int, bool]:
    """Regenerate Mosquitto's files; reload it if they changed. Returns (registry version, changed)."""
    with sessions() as session:
        version = current_version(session)
        changed = write_mosquitto_files(session, password_file, acl_file, services, mode=mode)
    if changed:
        log.info("mosquitto auth files updated (registry version %d)", version)
        reload_mosquitto(pid_file, pid)
    return version, changed
