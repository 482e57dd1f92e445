"""amqtt 0.12's session handling, replaced where it loses messages or lets one client act on
another's session. Everything else (packet codecs, listeners, subscriptions, plugins) is amqtt's.

What amqtt 0.12 does, and what :class:`FarmtelBroker` / :class:`FarmtelHandler` do instead:

* **CONNECT before authentication.** amqtt looks the client id up, deletes the old session
  (clean session) or hands it over (resume), and takes over a connected client *before* the
  password is checked, so any client, even a refused one, could discard or steal another's
  session. Here the login is checked first, then the client id is bound to the login
  (:meth:`RegistryBrokerAccess.client_id_for`: a device always gets its own user name, as
  Mosquitto's ``use_username_as_clientid``), and a session held by another principal is
  neither resumed, nor discarded, nor taken over: the client is refused (CONNACK 2).
* **Wills.** amqtt publishes a will on any topic. Here the will topic is checked like a
  PUBLISH at CONNECT and a forbidden will is dropped (what Mosquitto 2.0 does: it accepts the
  connection and never publishes that will); a retained will on device data loses its
  retain flag like any such publish (:meth:`FarmtelBroker.retain_message`).
* **Queued messages.** amqtt delivers what it queued for an offline session with the RETAIN
  flag set (so subscribers take them for retained replays), without the read check, and on
  every reconnect sends every retained message matching *anyone's* subscription. Here queued
  messages go out with RETAIN 0 after the read check, and retained messages only for the
  session's own subscriptions, after the read check. Anonymous persistent sessions keep their
  queue too (amqtt drops it).
* **Acknowledged, then dropped.** amqtt sends PUBACK when a message enters the publisher's
  delivery queue, routes that queue one message at a time, and throws away what is left when
  the publisher disconnects. Here the rest of the queue is routed first
  (:meth:`FarmtelBroker._client_message_loop`).
* **QoS 1/2 in flight.** amqtt forgets an outgoing QoS 1/2 message after 5 s without PUBACK
  (or PUBREC/PUBCOMP) and when the connection drops, registers the PUBACK waiter only after
  sending (a fast PUBACK is then "unknown" and the message times out), and resends in-flight
  messages on reconnect only while blocking the session's start. Here a message stays in the
  session's in-flight table until it is acknowledged, whatever the delay, and is resent (DUP)
  at the next connection of that session (MQTT 3.1.1 §4.4), without blocking its start.
* **Keep-alive.** amqtt never closes a silent connection (its read timeout does nothing), so
  wills were never published on keep-alive expiry. Here the connection is closed after 1.5 x
  the keep-alive without a packet (MQTT 3.1.1 §3.1.2.10), which publishes the will.
* **Offline queues.** amqtt queues without bound for an offline persistent session. Here the
  queue is bounded like Mosquitto's ``max_queued_messages`` / ``max_queued_bytes`` (payload
  bytes; 0 = no bound): a message over either bound is dropped, as Mosquitto does, but counted
  (:attr:`FarmtelBroker.queue_dropped`) and logged.
* **Shutdown.** amqtt stops everything at once. :meth:`FarmtelBroker.close_to_devices` first
  closes the listeners and disconnects every client but farmtel's own services, after routing
  what they had been acknowledged; :meth:`FarmtelBroker.undelivered` then says how much the
  remaining subscribers have not acknowledged yet, so ``farmtel up`` lets ingest store it all
  before the broker stops.

``tests/integration/test_broker_security.py`` and ``tests/integration/test_faults_broker.py``
run the same tests on this broker and on Mosquitto; the Eclipse Paho interoperability suite's
offline-queueing, redelivery and keep-alive tests pass on both (see the broker README text).
The overridden methods are amqtt 0.12 internals; ``pyproject.toml`` pins amqtt.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.events import BrokerEvents
from amqtt.mqtt.connack import (
    IDENTIFIER_REJECTED,
    NOT_AUTHORIZED,
    SERVER_UNAVAILABLE,
    ConnackPacket,
)
from amqtt.mqtt.constants import QOS_1, QOS_2
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.pubrel import PubrelPacket
from amqtt.session import OUTGOING, IncomingApplicationMessage, OutgoingApplicationMessage, Session
from amqtt.utils import gen_client_id

log = logging.getLogger(__name__)

KEEPALIVE_FACTOR = 1.5
"""A connection silent for this many keep-alive periods is closed (MQTT 3.1.1 §3.1.2.10)."""

_AUTHENTICATED = "farmtel.authenticated"
_QUEUED_BYTES = "farmtel.queued_bytes"
DROP_LOG_EVERY = 1000
"""After the first drop of a session's queue, one warning per this many drops."""


class FarmtelHandler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's broker-side protocol handler with in-flight messages kept until acknowledged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retries: set[asyncio.Task[None]] = set()

    def handle_read_timeout(self) -> None:
        """No packet for 1.5 x keep-alive: close the connection (the broker then sends the will)."""
        log.info("embedded broker: keep-alive of %r expired, closing",
                 self.session.client_id if self.session else None)
        self._loop.create_task(self.handle_connection_closed())

    async def _retry_deliveries(self) -> None:
        """Resend in-flight messages (DUP) in the background, oldest first."""
        if self.session is None:
            return
        for message in list(self.session.inflight_out.values()):
            task = self._loop.create_task(self._handle_message_flow(message))
            self._retries.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._retries.discard)

    async def _await_ack(self, waiters: dict[int, asyncio.Future[Any]], packet_id: int,
                         packet: Any) -> Any | None:
        """Register a waiter, send ``packet``, wait without a deadline; None if the connection
        went away first (the message then stays in flight for the next connection)."""
        waiter: asyncio.Future[Any] = self._loop.create_future()
        waiters[packet_id] = waiter
        try:
            await self._send_packet(packet)
            return await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                return None
            raise
        finally:
            if waiters.get(packet_id) is waiter:
                del waiters[packet_id]

    async def _handle_qos1_message_flow(
            self, app_message: OutgoingApplicationMessage | IncomingApplicationMessage) -> None:
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos1_message_flow(app_message)
            return
        assert app_message.packet_id is not None and isinstance(app_message,
                                                                OutgoingApplicationMessage)
        self.session.inflight_out[app_message.packet_id] = app_message
        packet = app_message.build_publish_packet(dup=app_message.publish_packet is not None)
        app_message.publish_packet = packet
        puback = await self._await_ack(self._puback_waiters, app_message.packet_id, packet)
        if puback is not None:
            app_message.puback_packet = puback
            self.session.inflight_out.pop(app_message.packet_id, None)

    async def _handle_qos2_message_flow(
            self, app_message: OutgoingApplicationMessage | IncomingApplicationMessage) -> None:
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos2_message_flow(app_message)
            return
        assert app_message.packet_id is not None and isinstance(app_message,
                                                                OutgoingApplicationMessage)
        pid = app_message.packet_id
        self.session.inflight_out[pid] = app_message
        if app_message.pubrel_packet is None:
            packet = app_message.build_publish_packet(dup=app_message.publish_packet is not None)
            app_message.publish_packet = packet
            pubrec = await self._await_ack(self._pubrec_waiters, pid, packet)
            if pubrec is None:
                return
            app_message.pubrec_packet = pubrec
            app_message.pubrel_packet = PubrelPacket.build(pid)
        pubcomp = await self._await_ack(self._pubcomp_waiters, pid, app_message.pubrel_packet)
        if pubcomp is not None:
            app_message.pubcomp_packet = pubcomp
            self.session.inflight_out.pop(pid, None)


ABORT_WAIT_S = 5.0
"""How long a disconnected client's reader may take to parse what it had buffered [s]."""


async def _abort(handler: BrokerProtocolHandler) -> None:
    """Drop a client's connection at once and wait for its reader to end.

    The transport is aborted rather than the reader cancelled (Python 3.11's ``wait_for`` can
    swallow that cancellation, and the reader then goes on acknowledging): from then on no
    PUBACK reaches the client, and every PUBLISH already buffered is parsed into the delivery
    queue (the PUBACK for it is only sent after that), which the client's loop routes before
    it handles the disconnection.
    """
    transport = getattr(getattr(handler.writer, "_writer", None), "transport", None)
    if transport is None:
        await handler.stop()
        return
    transport.abort()
    try:
        await asyncio.wait_for(handler._reader_stopped.wait(), ABORT_WAIT_S)
    except TimeoutError:
        log.warning("embedded broker: reader of %r did not end after the abort",
                    handler.session.client_id if handler.session else None)


class FarmtelBroker(Broker):  # type: ignore[misc]
    """amqtt's ``Broker`` with the session handling described in the module docstring.

    ``access`` (a ``RegistryBrokerAccess``, or None: anyone) binds client ids to logins and
    says which topics carry device data (never retained).
    """

    def __init__(self, config: dict[str, Any], *, access: Any = None,
                 loop: asyncio.AbstractEventLoop | None = None,
                 max_queued_messages: int = 0, max_queued_bytes: int = 0) -> None:
        super().__init__(config, loop=loop)
        self._access = access
        self._max_queued = (max_queued_messages, max_queued_bytes)
        self._closed_to_devices = False
        self.queue_dropped = 0
        """Messages dropped because an offline session's queue was at a bound [messages]."""

    # -- CONNECT ----------------------------------------------------------------------------

    async def _refuse(self, writer: Any, code: int, why: str) -> None:
        log.warning("embedded broker: connection refused: %s", why)
        try:
            await ConnackPacket.build(0, code).to_stream(writer)
        finally:
            await writer.close()
        raise MQTTError(why)

    async def _initialize_client_session(self, reader: Any, writer: Any, remote_address: str,
                                         remote_port: int) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, incoming = await FarmtelHandler.init_from_connect(
                reader, writer, self.plugins_manager, loop=self._loop)
        except NoDataError as exc:
            raise AMQTTError(exc) from exc
        except MQTTError:
            await writer.close()
            raise
        if self._closed_to_devices:  # connected just before the listeners closed
            await self._refuse(writer, SERVER_UNAVAILABLE, "the broker is shutting down")
        # 1. the login, before any existing session is looked at
        if not await super()._authenticate(incoming, None):
            await self._refuse(writer, NOT_AUTHORIZED, f"login of {incoming.client_id!r} refused")
        # 2. the client id this login may use
        client_id: str | None = incoming.client_id or None
        if self._access is not None and client_id is not None:
            client_id = self._access.client_id_for(incoming.username, client_id)
            if client_id is None:
                await self._refuse(writer, IDENTIFIER_REJECTED,
                                   f"client id {incoming.client_id!r} is not {incoming.username!r}'s")
        existing = self._sessions.get(client_id, (None, None))[0] if client_id else None
        if existing is not None and existing.username != incoming.username:
            if self._access is not None and self._access.is_device(incoming.username):
                await self._delete_session(client_id)  # a device's own id: squatters lose it
                existing = None
            else:
                await self._refuse(writer, IDENTIFIER_REJECTED,
                                   f"session {client_id!r} belongs to another principal")
        incoming.client_id = client_id or ""
        # 3. the will, checked like a PUBLISH (forbidden: dropped, as Mosquitto 2.0 does)
        if incoming.will_flag and incoming.will_topic is not None and not await self._topic_filtering(
                incoming, incoming.will_topic, Action.PUBLISH):
            log.warning("embedded broker: will on %r of %r dropped (not allowed)",
                        incoming.will_topic, incoming.username)
            incoming.will_flag, incoming.will_topic, incoming.will_message = False, None, None
        # 4. clean or resumed session (amqtt's rules, now for the same principal only)
        if incoming.clean_session or existing is None:
            if incoming.clean_session and existing is not None:
                if existing.transitions.is_connected():  # the same principal's older connection
                    old = self._sessions[existing.client_id][1]
                    await old.handle_connection_closed()
                    await old.stop()
                await self._delete_session(existing.client_id)
            if not incoming.client_id:
                incoming.client_id = gen_client_id()
            incoming.parent = 0
            session = incoming
        else:
            for attr in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain",
                         "keep_alive", "password"):
                setattr(existing, attr, getattr(incoming, attr))
            existing.clean_session = False
            existing.parent = 1
            session = existing
        session.attributes[_AUTHENTICATED] = True
        if session.keep_alive > 0:
            session.keep_alive = math.ceil(session.keep_alive * KEEPALIVE_FACTOR)
        return handler, session

    async def _authenticate(self, session: Session, _listener: Any) -> bool:
        """Already checked at CONNECT (``_initialize_client_session``)."""
        return bool(session.attributes.pop(_AUTHENTICATED, False))

    # -- connection life ---------------------------------------------------------------------

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: Session,
                                     handler: BrokerProtocolHandler, server: Any,
                                     listener_name: str) -> None:
        if not await self._authenticate(client_session, None):
            await writer.close()
            return
        if client_session.transitions.is_connected():  # same principal, new connection
            log.info("embedded broker: %r reconnected, closing its old connection",
                     client_session.client_id)
            old = self._sessions[client_session.client_id][1]
            await old.handle_connection_closed()
            await old.stop()
        else:
            client_session.transitions.connect()
        handler.attach(client_session, reader, writer)
        self._sessions[client_session.client_id] = (client_session, handler)
        await handler.mqtt_connack_authorize(True)
        await self.plugins_manager.fire_event(BrokerEvents.CLIENT_CONNECTED,
                                              client_id=client_session.client_id,
                                              client_session=client_session)
        await handler.start()
        await self._publish_session_retained_messages(client_session)
        for topic_filter, subscribers in list(self._subscriptions.items()):
            for session, qos in subscribers:
                if session is client_session:
                    await self._publish_retained_messages_for_subscription(
                        (topic_filter, qos), client_session)
        await self._client_message_loop(client_session, handler)

    async def _client_message_loop(self, client_session: Session,
                                   handler: BrokerProtocolHandler) -> None:
        """amqtt's loop, except that messages already acknowledged to the client (PUBACK sent,
        waiting in its delivery queue) are routed before its disconnection is handled; amqtt
        dropped them (up to half of a burst of 500 QoS 1 messages when the publisher
        disconnected right after its last PUBACK)."""
        disconnected = asyncio.ensure_future(handler.wait_disconnect())
        subscribing = asyncio.ensure_future(handler.get_next_pending_subscription())
        unsubscribing = asyncio.ensure_future(handler.get_next_pending_unsubscription())
        delivering = asyncio.ensure_future(handler.mqtt_deliver_next_message())
        try:
            while True:
                done, _ = await asyncio.wait(
                    [disconnected, subscribing, unsubscribing, delivering],
                    return_when=asyncio.FIRST_COMPLETED)
                if subscribing in done:
                    await self._handle_subscription(client_session, handler, subscribing)
                    subscribing = asyncio.ensure_future(handler.get_next_pending_subscription())
                if unsubscribing in done:
                    await self._handle_unsubscription(client_session, handler, unsubscribing)
                    unsubscribing = asyncio.ensure_future(
                        handler.get_next_pending_unsubscription())
                if disconnected in done:
                    if delivering not in done:
                        delivering.cancel()
                        await asyncio.gather(delivering, return_exceptions=True)
                    if not delivering.cancelled() and delivering.exception() is None:
                        await self._handle_message_delivery(client_session, handler, delivering)
                    await self._drain_deliveries(client_session, handler)
                    await self._handle_disconnect(client_session, handler, disconnected)
                    return
                if delivering in done:
                    if not await self._handle_message_delivery(client_session, handler,
                                                               delivering):
                        return
                    delivering = asyncio.ensure_future(handler.mqtt_deliver_next_message())
        except asyncio.CancelledError:
            log.debug("embedded broker: client loop of %r cancelled", client_session.client_id)
        finally:
            waiters = [disconnected, subscribing, unsubscribing, delivering]
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _drain_deliveries(self, session: Session, handler: BrokerProtocolHandler) -> None:
        """Route every message still in the client's delivery queue."""
        while not session.delivered_message_queue.empty():
            done: asyncio.Future[Any] = self._loop.create_future()
            done.set_result(session.delivered_message_queue.get_nowait())
            await self._handle_message_delivery(session, handler, done)

    async def _handle_disconnect(self, client_session: Session, handler: BrokerProtocolHandler,
                                 disconnect_waiter: asyncio.Future[Any]) -> None:
        """amqtt's, unless a newer connection of the same session replaced this one (then its
        will and state belong to the newer connection)."""
        current = self._sessions.get(client_session.client_id or "", (None, None))[1]
        if current is not None and current is not handler:
            await self._stop_handler(handler)
            return
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)

    # -- delivery ----------------------------------------------------------------------------

    async def _may_receive(self, session: Session, topic: str) -> bool:
        if await self._topic_filtering(session, topic=topic, action=Action.RECEIVE):
            return True
        log.warning("embedded broker: %r may not receive %r: not delivered", session.username,
                    topic)
        return False

    async def _publish_session_retained_messages(self, session: Session) -> None:
        """Messages queued while the session was offline: read check, RETAIN 0, not awaited
        (each stays in flight until acknowledged)."""
        handler = self._get_handler(session)
        while handler is not None and not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            session.attributes[_QUEUED_BYTES] = (session.attributes.get(_QUEUED_BYTES, 0)
                                                 - len(queued.data or b""))
            if await self._may_receive(session, queued.topic):
                self._tasks_queue.append(asyncio.ensure_future(
                    handler.mqtt_publish(queued.topic, queued.data, queued.qos, retain=False)))

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                          session: Session) -> None:
        """Retained messages matching one of the session's own filters, after the read check."""
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._may_receive(session, topic):
                self._tasks_queue.append(asyncio.ensure_future(handler.mqtt_publish(
                    retained.topic, retained.data, min(qos, retained.qos or qos), retain=True)))

    async def _retain_broadcast_message(self, broadcast: dict[str, Any], qos: int,
                                        target_session: Session) -> None:
        """Queue for an offline session, within ``max_queued_messages``/``max_queued_bytes``
        (payload bytes; 0 = no bound); over either, the message is dropped, counted, logged."""
        max_messages, max_bytes = self._max_queued
        size = len(broadcast["data"] or b"")
        queued = target_session.attributes.get(_QUEUED_BYTES, 0)
        if ((max_messages and target_session.retained_messages.qsize() >= max_messages)
                or (max_bytes and queued + size > max_bytes)):
            self.queue_dropped += 1
            drops = target_session.attributes["farmtel.queue_dropped"] = (
                target_session.attributes.get("farmtel.queue_dropped", 0) + 1)
            if drops % DROP_LOG_EVERY == 1:
                log.warning("embedded broker: offline queue of %r full (%d messages, %d bytes; "
                            "bounds %d messages, %d bytes): dropped the newest message, %d so "
                            "far", target_session.client_id,
                            target_session.retained_messages.qsize(), queued, max_messages,
                            max_bytes, drops)
            return
        target_session.attributes[_QUEUED_BYTES] = queued + size
        await super()._retain_broadcast_message(broadcast, qos, target_session)

    # -- shutdown ----------------------------------------------------------------------------

    async def close_to_devices(self, keep_users: frozenset[str]) -> int:
        """Close the listeners and disconnect every client whose user name is not in
        ``keep_users``; what they had been acknowledged is routed first. Their wills are not
        published (the broker, not the device, goes away). Returns how many were disconnected.
        """
        self._closed_to_devices = True
        for server in self._servers.values():
            if server.instance is not None:
                server.instance.close()  # no new connection; the open ones stay
        closed = 0
        for session, handler in list(self._sessions.values()):
            if (handler is None or session.username in keep_users
                    or not session.transitions.is_connected()):
                continue
            session.will_flag = False
            await _abort(handler)
            closed += 1
        return closed

    def undelivered(self, users: frozenset[str]) -> int:
        """Messages received but not yet acknowledged by their subscribers: not yet routed,
        being sent, or queued or in flight for a session of ``users`` [messages]."""
        count = self._broadcast_queue._unfinished_tasks  # task_done per routing
        count += sum(1 for task in self._tasks_queue if not task.done())
        for session, _handler in self._sessions.values():
            count += session.delivered_message_queue.qsize()
            if session.username in users:
                count += session.retained_messages.qsize() + len(session.inflight_out)
        return int(count)

    async def _run_broadcast(self, running_tasks: Any) -> None:
        """amqtt's; each routed message is marked done (``undelivered`` counts the rest)."""
        await super()._run_broadcast(running_tasks)
        self._broadcast_queue.task_done()

    async def retain_message(self, source_session: Session | None, topic_name: str | None,
                             data: bytes | bytearray | None, qos: int | None = None) -> None:
        """amqtt's, except that device data (telemetry, gateway topics) is never retained."""
        if (topic_name is not None and self._access is not None
                and self._access.is_device_data(topic_name)):
            log.warning("embedded broker: retain flag on %r ignored (device data is never "
                        "retained)", topic_name)
            return
        await super().retain_message(source_session, topic_name, data, qos)


__all__ = ["DROP_LOG_EVERY", "KEEPALIVE_FACTOR", "QOS_1", "QOS_2", "FarmtelBroker", "FarmtelHandler"]
