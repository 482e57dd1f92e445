"""Who may connect to the broker and which topics each may use, from the registry.

One permission model, two enforcers:

* Mosquitto: :func:`sync_mosquitto` writes its ``password_file`` (``user:$7$...`` lines: the
  registry already stores Mosquitto's PBKDF2-SHA512 format) and its ``acl_file``; a SIGHUP
  makes Mosquitto reload both and drop clients they no longer admit.
* the embedded amqtt broker: ``devices.broker.embedded_auth`` asks :func:`load_broker_users` and
  :func:`topic_allowed` directly.

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


def _usable_name(name: str) -> bool:
    """Mosquitto's files cannot carry a ``:`` in a user name, nor whitespace."""
    return bool(name) and ":" not in name and not any(c.isspace() for c in name)


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
            log.warning("device %r cannot be given a broker login (':' or space in the name)",
                        username)
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
        return BrokerUser(account.username, pw_hash, read=INGEST_READ, write=INGEST_WRITE)
    return BrokerUser(account.username, pw_hash, write=SIMULATOR_WRITE)


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


def render_password_file(users: Iterable[BrokerUser]) -> str:
    """Mosquitto ``password_file`` text: ``user:$7$...`` lines."""
    lines = ["# generated by farmtel mosquitto-sync from the registry: do not edit"]
    lines += [f"{u.username}:{u.password_hash}" for u in users]
    return "\n".join(lines) + "\n"


def render_acl_file(users: Iterable[BrokerUser]) -> str:
    """Mosquitto ``acl_file`` text: a ``user`` block with ``topic read|write`` lines each.

    No line precedes the first ``user``, so anonymous clients (if any were admitted) get nothing.
    """
    lines = ["# generated by farmtel mosquitto-sync from the registry: do not edit"]
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


def write_mosquitto_files(session: Session, password_file: Path, acl_file: Path,
                          services: Sequence[ServiceAccount] = (), *,
                          mode: int = 0o640) -> bool:
    """Write both files from the registry; True if either changed."""
    users = load_broker_users(session, services, read_password_hashes(password_file))
    changed = _write_if_changed(password_file, render_password_file(users), mode)
    return _write_if_changed(acl_file, render_acl_file(users), mode) or changed


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
