"""Adopting orphaned ingest identities: their spool and their broker session.

A worker identity (``ingest.identity``) whose lock no live process holds is an orphan: a
replica scaled away, killed and not restarted, or a folder of the earlier host-name layout.
What it leaves behind must reach the store: the batches in its spool (acknowledged to the
broker, so only there), and the messages Mosquitto keeps queuing for its persistent session
(a shared subscription keeps handing an offline member its share: README "Replicas").

Every live worker scans for orphans at start and every ``ADOPT_INTERVAL_S``; holding an
orphan's lock, it runs a short-lived consumer under the orphan's client id that unsubscribes
at once (new messages go to the live members), stores what was queued, replays the spool, and
then ends the session (a clean-session connect). Measured on Mosquitto 2.0 (``python -m
bench.shared_sessions``): queued messages are still delivered after the unsubscribe, while a
non-persistent member's unacknowledged messages are *not* redelivered to the group, which is
why ingest keeps persistent sessions and adopts them instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.identity import Claim, orphans
from ingest.mqtt_source import MqttSourceConfig

log = logging.getLogger(__name__)

ADOPT_INTERVAL_S = 5.0
"""How often a live worker looks for orphaned identities [s]."""
SESSION_ENDED = ".session-ended"
"""Marker file: the broker holds no session for this identity (written once one is ended)."""


def session_ended(directory: Path) -> bool:
    """Whether the identity of ``directory`` has no broker session left."""
    return (directory / SESSION_ENDED).exists()


def session_started(directory: Path) -> None:
    """Mark that the identity is about to (re)create a persistent session."""
    (directory / SESSION_ENDED).unlink(missing_ok=True)


def mark_session_ended(directory: Path) -> None:
    """Record that the identity's broker session was ended."""
    (directory / SESSION_ENDED).touch()


def end_session(config: MqttSourceConfig, timeout_s: float = 10.0) -> None:
    """Connect as ``config.client_id`` with a clean session and leave: the broker drops the
    session (and anything still queued in it). Raises ``ConnectionError`` if not accepted."""
    v5 = config.protocol == mqtt.MQTTv5
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id,
                         protocol=config.protocol, clean_session=None if v5 else True)
    if config.username is not None:
        client.username_pw_set(config.username, config.password)
    if config.tls_ca_file is not None:
        client.tls_set(ca_certs=str(config.tls_ca_file),
                       certfile=str(config.tls_cert_file) if config.tls_cert_file else None,
                       keyfile=str(config.tls_key_file) if config.tls_key_file else None)
    accepted = threading.Event()
    client.on_connect = lambda _c, _u, _f, reason, _p: (
        None if reason.is_failure else accepted.set())
    kwargs: dict[str, object] = {}
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        kwargs = {"clean_start": True, "properties": props}
    client.connect(config.host, config.port, **kwargs)  # type: ignore[arg-type]
    client.loop_start()
    try:
        if not accepted.wait(timeout_s):
            raise ConnectionError(f"the broker did not accept {config.client_id} to end its "
                                  "session")
    finally:
        client.disconnect()
        client.loop_stop()


class Adopter:
    """Looks for orphaned identities under ``root`` and hands each, locked, to ``adopt``."""

    def __init__(self, root: Path, own_id: str, adopt: Callable[[Claim, threading.Event], None],
                 *, interval_s: float = ADOPT_INTERVAL_S) -> None:
        self._root = root
        self._own_id = own_id
        self._adopt = adopt
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Scan now, then every ``interval_s``, on a thread of its own."""
        self._thread = threading.Thread(target=self._loop, name="ingest-adopter", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish the adoption under way (its consumer stops cleanly), then stop scanning."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def scan(self) -> None:
        """Adopt every orphan found now, one after the other."""
        for claim in orphans(self._root, exclude=self._own_id):
            try:
                if self._stopping.is_set():
                    return
                self._adopt(claim, self._stopping)
            except Exception:
                log.exception("adopting the orphaned ingest identity %s failed; will retry",
                              claim.client_id)
            finally:
                claim.release()

    def _loop(self) -> None:
        while True:
            self.scan()
            if self._stopping.wait(self._interval_s):
                return
