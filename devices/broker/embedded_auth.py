"""amqtt plugins that make the embedded broker enforce the registry's credentials and ACLs.

The permission model is ``devices.broker.mosquitto`` (the same one Mosquitto gets as files):
devices log in with their provisioned credentials and publish only on their own topic,
service accounts come from settings, revoked and retired devices are refused. The registry is re-read
whenever its version changes: checked at every connection (so a revoked device is refused
at its next connection) and at most every ``min_check_interval_s`` while publishing (so a
revoked device that is still connected loses its rights within that interval).

Client ids are bound to logins (:meth:`RegistryBrokerAccess.client_id_for`, applied by
``devices.broker.embedded_sessions.FarmtelBroker`` before any session is touched): a device
always gets its own user name as client id (Mosquitto's ``use_username_as_clientid`` on the
device listener), a service may not use a device's id, and an anonymous client (demo mode) not
a client id reserved for a service.

amqtt 0.12 plugin API: ``BaseAuthPlugin.authenticate(session=)`` returns True/False;
``BaseTopicPlugin.topic_filtering(session=, topic=, action=)`` is asked for PUBLISH,
SUBSCRIBE and RECEIVE. Both plugins share one :class:`RegistryBrokerAccess`, handed to them
through their ``Config`` dataclass.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session as MqttSession
from sqlalchemy.orm import sessionmaker

from devices.broker.mosquitto import (
    DEVICE_DATA,
    BrokerUser,
    ServiceAccount,
    filter_allowed,
    load_broker_users,
    topic_allowed,
    topic_matches,
)
from devices.credentials import verify_password
from devices.registry import current_version

log = logging.getLogger(__name__)


class RegistryBrokerAccess:
    """Broker logins and topic rights from the registry, cached and reloaded on change.

    With ``allow_anonymous`` (``farmtel up``'s local demo mode) a client without a user name
    is admitted and may do anything; named clients are still checked.
    """

    def __init__(
        self,
        sessions: sessionmaker[Any],
        services: Sequence[ServiceAccount] = (),
        *,
        allow_anonymous: bool = False,
        reserved_client_ids: Collection[str] = (),
        min_check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._services = tuple(services)
        self.allow_anonymous = allow_anonymous
        self._reserved = frozenset(reserved_client_ids)
        self._min_check_interval_s = min_check_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._users: MappingProxyType[str, BrokerUser] = MappingProxyType({})
        self._version = -1
        self._last_check = float("-inf")

    def refresh(self, *, force_check: bool = False) -> bool:
        """Reload if the registry changed; the version is checked at most every interval
        unless ``force_check``. True if it reloaded."""
        now = self._clock()
        if not force_check and now - self._last_check < self._min_check_interval_s:
            return False
        with self._lock, self._sessions() as session:
            self._last_check = now
            version = current_version(session)
            if version == self._version:
                return False
            known = {u.username: u.password_hash for u in self._users.values()}
            users = load_broker_users(session, self._services, known)
            self._users = MappingProxyType({u.username: u for u in users})
            self._version = version
        log.info("embedded broker: %d logins (registry version %d)", len(users), version)
        return True

    def due(self) -> bool:
        """True when the next ``refresh`` would check the registry version."""
        return self._clock() - self._last_check >= self._min_check_interval_s

    def user(self, username: str) -> BrokerUser | None:
        """The cached login, or ``None`` (unknown, revoked or retired)."""
        return self._users.get(username)

    def is_device(self, username: str | None) -> bool:
        """Whether ``username`` is a device's login."""
        user = self._users.get(username) if username is not None else None
        return user is not None and not user.service

    @staticmethod
    def is_device_data(topic: str) -> bool:
        """Whether ``topic`` carries device data (never retained)."""
        return any(topic_matches(topic, p) for p in DEVICE_DATA)

    def client_id_for(self, username: str | None, client_id: str) -> str | None:
        """The client id an authenticated login gets, or None if it may not use ``client_id``.

        A device: its user name, whatever it asked for. A service: not a device's id. An
        anonymous client: not a client id reserved for a service (``reserved_client_ids``).
        """
        if self.is_device(username):
            assert username is not None
            return username
        if username is None:
            return None if client_id in self._reserved else client_id
        return None if self.is_device(client_id) else client_id

    def authenticate(self, username: str | None, password: str | None) -> bool:
        """Whether these credentials may connect."""
        if username is None:
            return self.allow_anonymous
        user = self._users.get(username)
        return user is not None and verify_password(password or "", user.password_hash)

    def allowed(self, username: str | None, topic: str, action: Action) -> bool:
        """Whether ``username`` may publish, subscribe to or receive ``topic``."""
        if username is None:
            return self.allow_anonymous
        user = self._users.get(username)
        if user is None:
            return False
        if action == Action.PUBLISH:
            return topic_allowed(user, topic, "write")
        if action == Action.SUBSCRIBE:
            return filter_allowed(user, topic)
        return topic_allowed(user, topic, "read")


def _access(config: Any) -> RegistryBrokerAccess:
    access = getattr(config, "access", None)
    if not isinstance(access, RegistryBrokerAccess):
        raise TypeError("farmtel broker plugins need config {'access': RegistryBrokerAccess}")
    return access


class FarmtelAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Admits clients whose user name and password match the registry (or a service account)."""

    @dataclass
    class Config:
        """The shared registry view."""

        access: Any = None

    async def authenticate(self, *, session: MqttSession) -> bool:
        """Check the registry version, then the credentials (PBKDF2, off the event loop)."""
        access = _access(self.context.config)
        try:
            await asyncio.to_thread(access.refresh, force_check=True)
        except Exception:  # keep serving from the cache if the metadata DB hiccups
            log.exception("embedded broker: registry reload failed")
        ok = await asyncio.to_thread(access.authenticate, session.username, session.password)
        if not ok:
            log.warning("embedded broker: refused connection of client %r (user %r)",
                        session.client_id, session.username)
        return ok


class FarmtelTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Publish, subscribe and receive rights from the registry (see ``devices.broker.mosquitto``)."""

    @dataclass
    class Config:
        """The shared registry view."""

        access: Any = None

    async def topic_filtering(self, *, session: MqttSession | None = None,
                              topic: str | None = None,
                              action: Action | None = None) -> bool:
        """True if the client may do ``action`` on ``topic``."""
        access = _access(self.context.config)
        if session is None or topic is None or action is None:
            return False
        if access.due():
            try:
                await asyncio.to_thread(access.refresh)
            except Exception:
                log.exception("embedded broker: registry reload failed")
        ok = access.allowed(session.username, topic, action)
        if not ok and action != Action.RECEIVE:
            log.warning("embedded broker: %s of %r by user %r denied", action.value, topic,
                        session.username)
        return ok


def plugin_config(access: RegistryBrokerAccess) -> dict[str, Any]:
    """The amqtt ``plugins`` section enabling both farmtel plugins."""
    return {
        f"{__name__}.FarmtelAuthPlugin": {"access": access},
        f"{__name__}.FarmtelTopicPlugin": {"access": access},
    }
