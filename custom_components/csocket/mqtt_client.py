"""csocket's aiomqtt client: MQTT 5, so a broker can say no to a downlink.

Under MQTT 3.1.1 a broker acknowledges a publish its ACL drops, and the user
waits the whole command timeout for a socket that never got the downlink. An
MQTT 5 PUBACK carries a reason code (0x87 "Not authorized"); aiomqtt discards
it, so this client keeps it for the publish that is waiting.

It also receives more cheaply than aiomqtt: messages go straight to the hub,
the socket is read in batches, PUBLISH packets are taken before paho parses
them (mqtt_reader.py) and acknowledgements are written on the event loop (see
"The socket" below; scripts/bench_receive.py and scripts/bench_e2e.py measure
it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Self, TypeVar

import aiomqtt
from aiomqtt import ProtocolVersion
from aiomqtt.exceptions import MqttConnectError
from aiomqtt.types import PahoSocket
from paho.mqtt.client import (
    MQTT_CLEAN_START_FIRST_ONLY,
    CleanStartOption,
    Client,
    DisconnectFlags,
    MQTTMessage,
)
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .mqtt_reader import PacketReader

_T = TypeVar("_T")

_LOGGER = logging.getLogger(__name__)

# aiomqtt's and paho's own records go to their own logger (listed in the
# manifest), not to csocket's.
LIBRARY_LOGGER = logging.getLogger("aiomqtt")
# The socket errors paho logs as ERROR when the broker goes away: csocket
# reports the outage itself, once (transport.py), so these are debug detail.
_CONNECTION_LOSS = ("failed to receive on socket", "timeout on socket")
# MQTT 5: the broker keeps the session until it is ended explicitly
# (clean_session.py), as a 3.1.1 persistent session.
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
# What paho reports when a 3.1.1-only broker answers an MQTT 5 CONNECT.
UNSUPPORTED_PROTOCOL = ReasonCode(PacketTypes.CONNACK, "Unsupported protocol version")

# Packets read per wake-up of the socket at most: under load the broker's
# messages queue up in the socket, and an event-loop turn per message costs more
# than the message's own reading. The bound keeps other callbacks running.
READ_BATCH = 64

# The message ids of the publish running in the current task.
_PUBLISH_MIDS: ContextVar[list[int] | None] = ContextVar(
    "csocket_publish_mids", default=None
)


class _ConnectionLossIsDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(
            _CONNECTION_LOSS
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return LIBRARY_LOGGER.isEnabledFor(logging.DEBUG)
        return True


LIBRARY_LOGGER.addFilter(_ConnectionLossIsDebug())


def refuses_protocol(err: aiomqtt.MqttError) -> bool:
    """Whether a failed MQTT 5 connect means the broker only speaks 3.1.1."""
    return isinstance(err, MqttConnectError) and err.rc == UNSUPPORTED_PROTOCOL


class CsocketClient(aiomqtt.Client):
    """An aiomqtt client whose publish reports a refusing PUBACK."""

    def __init__(
        self,
        *args: Any,
        protocol: ProtocolVersion,
        persistent: bool,
        on_message: Callable[[str, bytes], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Connect with `protocol`; a persistent session survives disconnects.

        With `on_message`, each message goes straight to it from paho's read
        callback (on the event loop) instead of through aiomqtt's `Message`,
        queue and `messages` iterator, a task and a wait per message;
        `messages` then only ends, with MqttError, when the connection does.
        """
        properties: Properties | None = None
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY
        if protocol is ProtocolVersion.V5:
            clean_start = not persistent
            if persistent:
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
                properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        super().__init__(
            *args,
            protocol=protocol,
            # MQTT 3.1.1's flag; MQTT 5 uses clean_start and the expiry above.
            clean_session=None if protocol is ProtocolVersion.V5 else not persistent,
            clean_start=clean_start,
            properties=properties,
            logger=LIBRARY_LOGGER,
            **kwargs,
        )
        self.protocol = protocol
        # MQTT 5: the broker ended the connection itself (a DISCONNECT with a
        # reason, e.g. "session taken over"), rather than going away.
        self.sent_away = False
        self._refused: dict[int, ReasonCode] = {}
        self._deliver = on_message
        self._delivery_failed = False
        self._received = 0  # messages paho has handed over, for `_read`
        if on_message is not None:
            # Acknowledged once handed over, by `_handle_message`: also those
            # the PacketReader takes, which paho never sees.
            self._client.manual_ack_set(True)
        # Created on the event loop; paho calls back from the connect thread too.
        self._loop_thread = threading.get_ident()

    async def __aenter__(self) -> Self:
        """Connect; a connection that ended while connecting stays ended.

        aiomqtt replaces a completed `_disconnected` once connected, for a
        client reused after an earlier connection; csocket never reuses one.
        A broker's DISCONNECT, hang-up or malformed packet read together with
        the CONNACK would be forgotten, and the connection would look up with
        nothing left to read.
        """
        ended = self._disconnected
        await super().__aenter__()
        if ended.done():
            self._disconnected = ended
        return self

    async def publish_or_refusal(
        self, topic: str, payload: bytes, *, qos: int, wait: float
    ) -> str | None:
        """Publish; the broker's reason when its PUBACK refused the message.

        `wait` is aiomqtt's own publish timeout (it raises MqttError).
        """
        mids: list[int] = []
        token = _PUBLISH_MIDS.set(mids)
        try:
            await self.publish(topic, payload, qos=qos, timeout=wait)
        finally:
            _PUBLISH_MIDS.reset(token)
        for mid in mids:
            if (code := self._refused.pop(mid, None)) is not None:
                return f"{code.getName()}, {code.value:#04x}"  # type: ignore[no-untyped-call]  # paho is untyped here
        return None

    def _on_publish(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        if reason_code.is_failure:
            self._refused[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        self._received += 1
        if self._deliver is None:
            super()._on_message(client, userdata, message)
            return
        try:
            topic: str | None = message.topic  # paho decodes it here
        except UnicodeDecodeError as err:
            self._delivery_failed_once(err)
            topic = None  # not delivered, still acknowledged
        self._handle_message(topic, message.payload, message.qos, message.mid)

    def _handle_message(
        self, topic: str | None, payload: bytes, qos: int, mid: int
    ) -> None:
        """Deliver a message, then acknowledge it (also if delivering failed)."""
        deliver = self._deliver
        try:
            if topic is not None and deliver is not None:
                deliver(topic, payload)
        except Exception as err:  # noqa: BLE001 - logged with its traceback
            self._delivery_failed_once(err)
        finally:
            if qos:
                self._client.ack(mid, qos)

    def _delivery_failed_once(self, err: Exception) -> None:
        # An exception raised into paho would end the connection: log it,
        # once per connection, and go on with the next message.
        if not self._delivery_failed:
            self._delivery_failed = True
            _LOGGER.error("Error handling an MQTT message", exc_info=err)

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        self.sent_away = flags.is_disconnect_packet_from_server
        if self._connected.cancelled():
            # An abandoned connect (see `abandon`): nothing waits for this
            # connection, and aiomqtt would raise reading the cancelled future
            # inside paho's read, on the event loop.
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def abandon(self) -> None:
        """Hang up a connection whose connect was cancelled (e.g. at stop).

        aiomqtt leaves it open: the broker's CONNACK would make it a live
        connection nobody uses until the broker's keep-alive ends it.
        """
        self._client.disconnect()

    # The socket, read and written on the event loop -------------------------
    # aiomqtt reads one packet per readiness event and has the loop watch for
    # writability from another thread's point of view (a wake-up through the
    # loop's self-pipe, then add_writer and remove_writer) for every QoS 1
    # acknowledgement: per uplink, several system calls and event-loop turns
    # that cost more than reading the message. With a message callback, paho
    # reads through a PacketReader, which takes the PUBLISH packets itself
    # (mqtt_reader.py); without one (aiomqtt's queue), paho reads in batches.

    def _on_socket_open(self, client: Client, userdata: Any, sock: PahoSocket) -> None:
        if self._deliver is not None and getattr(client, "_sock", None) is sock:
            # paho reads through the PacketReader from here on. `_sock` is
            # paho's own attribute (aiomqtt reads it too); paho 2.1 calls this
            # right after setting it and before writing anything.
            sock = PacketReader(
                sock,
                v5=self.protocol is ProtocolVersion.V5,
                on_publish=self._handle_message,
            )
            client._sock = sock  # noqa: SLF001 - see above
        super()._on_socket_open(client, userdata, sock)
        # Scheduled after aiomqtt's add_reader (same thread-safe queue): replaces it.
        self._loop.call_soon_threadsafe(
            self._loop.add_reader, sock.fileno(), self._read, client
        )

    def _read(self, client: Client) -> None:
        """Read what the socket has (PacketReader), else up to READ_BATCH packets."""
        sock = client.socket()
        more = False
        try:
            if isinstance(sock, PacketReader):
                sock.read(client)
            else:
                more = self._read_through_paho(client)
        except Exception as exc:  # noqa: BLE001 - as aiomqtt: the connection broke
            self._connection_broke(exc)
            return
        if more:
            # TLS holds decoded bytes, which the socket does not signal.
            self._loop.call_soon(self._read, client)

    def _read_through_paho(self, client: Client) -> bool:
        """Let paho read; True when the batch filled and TLS holds more."""
        for _ in range(READ_BATCH):
            before = self._received
            client.loop_read()
            # Nothing delivered: the socket is empty (or it was not a
            # PUBLISH; the next wake-up goes on). TLS may hold decoded
            # bytes the socket no longer signals.
            if self._received == before and not _tls_pending(client):
                return False
        return _tls_pending(client)

    def _on_socket_register_write(
        self, client: Client, userdata: Any, sock: PahoSocket
    ) -> None:
        if threading.get_ident() != self._loop_thread:
            # The connect thread queues CONNECT: aiomqtt's thread-safe way.
            super()._on_socket_register_write(client, userdata, sock)
            return
        # On the loop (acknowledgements, publishes): the socket is almost
        # always writable, so write on the next turn without watching it.
        self._loop.call_soon(self._write, client, sock)

    def _write(self, client: Client, sock: PahoSocket) -> None:
        try:
            client.loop_write()
        except Exception as exc:  # noqa: BLE001 - as aiomqtt: the connection broke
            self._connection_broke(exc)
            return
        if client.want_write() and client.socket() is sock:
            # The send buffer is full: wait until the socket takes more.
            super()._on_socket_register_write(client, None, sock)

    def _connection_broke(self, exc: Exception) -> None:
        """Mark the connection broken, as aiomqtt does, and end it.

        paho raised (a malformed packet it could not parse, a socket error while
        writing). aiomqtt only marks the connection: its socket stayed open and
        was read on, its messages delivered while the transport connected anew.
        """
        if self._disconnected.done():
            return
        self._disconnected.set_exception(exc)
        # Read by whoever waits for the end; marked read here so that asyncio
        # does not log it when nobody does (aiomqtt's care in _on_disconnect).
        self._disconnected.exception()
        sock = self._client.socket()
        if sock is not None:
            self._loop.remove_reader(sock.fileno())
        # paho closes the socket once the DISCONNECT is written (or fails).
        self._client.disconnect()

    @contextlib.contextmanager
    def _pending_call(
        self, mid: int, value: _T, pending_dict: dict[int, _T]
    ) -> Iterator[None]:
        # aiomqtt's publish registers its message id here, in the caller's task.
        mids = _PUBLISH_MIDS.get()
        if mids is not None and pending_dict is self._pending_publishes:
            mids.append(mid)
        with super()._pending_call(mid, value, pending_dict):
            yield


def _tls_pending(client: Client) -> bool:
    """Whether a TLS socket holds decoded bytes (paho issue 131, as aiomqtt)."""
    sock = client.socket()
    pending = getattr(sock, "pending", None)
    return pending is not None and pending() > 0
