"""The dedicated broker transport: receiving, and ending its persistent session."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import aiomqtt
import pytest
from aiomqtt import ProtocolVersion
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.csocket.connection import (
    BrokerSettings,
    async_end_session,
    build_tls_context,
    close_client,
    open_client,
)
from custom_components.csocket.const import DOMAIN
from custom_components.csocket.mqtt_client import READ_BATCH, CsocketClient
from custom_components.csocket.network_servers import Subscription
from custom_components.csocket.transport import BrokerTransport

from .broker import Broker
from .common import PASSWORD, USER
from .pki import Pki

TOPIC = "application/app/device/24e124148b123456/event/up"


async def test_end_session_when_the_broker_hangs_up(
    hass: HomeAssistant, allow_loopback: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The old broker accepts the clean session and hangs up at once.

    A broker being replaced often goes away just then (or kicks the client for a
    newer one with the same id). Nothing may be left behind on the closed
    socket: no write handler whose file descriptor is gone ("Exception in
    callback BaseSelectorEventLoop.add_writer ... [Errno 9] Bad file
    descriptor" in the log). Mosquitto cannot be made to hang up at exactly
    this moment, so a minimal peer on 127.0.0.1 plays the broker.
    """
    connects: list[bytes] = []

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        header = await reader.readexactly(2)  # CONNECT, short enough for 1 byte
        connects.append(header + await reader.readexactly(header[1]))
        writer.write(b"\x20\x02\x00\x00")  # CONNACK: accepted
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = BrokerSettings(
        host="127.0.0.1", port=port, username=USER, password=PASSWORD
    )
    entry = MockConfigEntry(domain=DOMAIN, entry_id="01JDEADBEEF")
    async with server:
        await async_end_session(hass, settings, entry)
        await hass.async_block_till_done()

    (connect,) = connects
    assert connect[0] == 0x10  # CONNECT
    assert connect[2:9] == b"\x00\x04MQTT\x04"  # MQTT 3.1.1, as aiomqtt connects
    flags = connect[9]
    assert flags & 0x02  # clean session: the broker drops the persistent one
    assert flags & 0xC0 == 0xC0  # with the entry's username and password
    assert b"csocket-01JDEADBEEF" in connect
    assert USER.encode() in connect
    assert PASSWORD.encode() in connect
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("protocol", [ProtocolVersion.V311, ProtocolVersion.V5])
async def test_end_session_drops_the_queued_uplinks(
    hass: HomeAssistant, auth_broker: Broker, protocol: ProtocolVersion
) -> None:
    """After ending the session the broker no longer queues uplinks for it.

    csocket's sessions are MQTT 5 ones that never expire (3.1.1 on an older
    broker); the 3.1.1 clean-session CONNECT ends either.
    """
    auth = {"username": USER, "password": PASSWORD}
    async with CsocketClient(
        auth_broker.host,
        auth_broker.port,
        identifier="csocket-old",
        protocol=protocol,
        persistent=True,
        **auth,
    ) as old:
        await old.subscribe(TOPIC, qos=1)
    await auth_broker.publish(TOPIC, b"queued while away", **auth)

    settings = BrokerSettings(
        host=auth_broker.host,
        port=auth_broker.port,
        client_id="csocket-old",
        **auth,
    )
    await async_end_session(hass, settings, MockConfigEntry(domain=DOMAIN))

    # A persistent session would deliver the queued uplink before the sentinel
    # (one connection keeps the order); a dropped one has no subscription left.
    async with auth_broker.client(
        identifier="csocket-old", clean_session=False, **auth
    ) as again:
        await again.subscribe(TOPIC, qos=1)
        await auth_broker.publish(TOPIC, b"sentinel", **auth)
        async with asyncio.timeout(5):
            message = await anext(aiter(again.messages))
    assert message.payload == b"sentinel"


async def test_a_failing_message_handler_keeps_the_connection(
    hass: HomeAssistant, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Messages reach the handler straight from paho; an exception stays there.

    Raised into paho, it would end the connection; instead it is logged once
    and the messages after it still arrive on the same connection.
    """
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    transport = BrokerTransport(
        hass, entry, BrokerSettings(host=broker.host, port=broker.port)
    )
    received: list[bytes] = []
    states: list[bool] = []
    done = asyncio.Event()

    def on_message(topic: str, payload: bytes) -> None:
        assert topic == TOPIC
        received.append(payload)
        if payload == b"sentinel":
            done.set()
        else:
            raise ValueError(payload)

    transport.on_message = on_message
    transport.on_state = states.append
    await transport.async_start([Subscription(TOPIC, 1)])
    try:
        for payload in (b"bad 1", b"bad 2", b"sentinel"):
            await broker.publish(TOPIC, payload)
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await transport.async_stop()

    assert received == [b"bad 1", b"bad 2", b"sentinel"]
    assert states == [True, False]  # one connection, ended only by the stop
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Error handling an MQTT message"]


# More than one read batch, and more than the broker's in-flight window (20).
BACKLOG = 3 * READ_BATCH + 7


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_a_backlog_arrives_whole_in_order_and_acknowledged(
    tmp_path: Path, allow_loopback: None, pki: Pki, *, tls: bool
) -> None:
    """Uplinks queued while csocket was away arrive complete, each acknowledged.

    The broker sends them back to back: csocket reads them in batches and
    writes its QoS 1 acknowledgements on the event loop. Without them the
    broker would stop at its in-flight window, and send the rest again to the
    session's next connection.
    """
    extra = ""
    if tls:
        cert, key = pki.server_files("ip")
        extra = f"cafile {pki.directory / 'ca.crt'}\ncertfile {cert}\nkeyfile {key}\n"
    instance = Broker(tmp_path / "broker", extra_config=extra)
    instance.start()
    settings = BrokerSettings(
        host=instance.host,
        port=instance.port,
        tls=tls,
        ca_cert=pki.ca_pem if tls else None,
    )
    context = build_tls_context(settings)
    received: list[bytes] = []
    sentinel = asyncio.Event()

    def on_message(_topic: str, payload: bytes) -> None:
        received.append(payload)
        if payload == b"sentinel":
            sentinel.set()

    async def connect_and_publish(*payloads: bytes) -> list[bytes]:
        """What the next connection gets, up to a sentinel after `payloads`."""
        received.clear()
        sentinel.clear()
        client = await open_client(
            settings,
            context,
            identifier="csocket-backlog",
            persistent=True,
            on_message=on_message,
        )
        try:
            async with aiomqtt.Client(
                instance.host, instance.port, tls_context=context
            ) as publisher:
                for payload in (*payloads, b"sentinel"):
                    await publisher.publish(TOPIC, payload, qos=1)
            async with asyncio.timeout(20):
                await sentinel.wait()
        finally:
            await close_client(client)
        return list(received)

    try:
        client = await open_client(
            settings, context, identifier="csocket-backlog", persistent=True
        )
        await client.subscribe(TOPIC, qos=1)
        await close_client(client)
        async with aiomqtt.Client(
            instance.host, instance.port, tls_context=context
        ) as publisher:
            for index in range(BACKLOG):
                await publisher.publish(TOPIC, b"%d" % index, qos=1)

        backlog = [b"%d" % index for index in range(BACKLOG)]
        assert await connect_and_publish() == [*backlog, b"sentinel"]
        # Every one was acknowledged: nothing comes again before the next sentinel.
        assert await connect_and_publish(b"new") == [b"new", b"sentinel"]
    finally:
        instance.stop()


async def test_tls_records_holding_many_messages_are_read_to_the_end(
    allow_loopback: None, pki: Pki
) -> None:
    """Messages TLS decoded already are read although the socket is quiet.

    A broker may pack many small messages into one TLS record (Mosquitto
    writes one record per packet; others buffer). Once the record is
    decrypted the socket has nothing more to signal: the messages beyond one
    read batch must still come. A minimal TLS peer plays the broker.
    """
    count = 2 * READ_BATCH + 5
    topic = TOPIC.encode()

    def publish_packet(index: int) -> bytes:
        # MQTT 5 PUBLISH, QoS 0: topic, empty properties, payload.
        body = len(topic).to_bytes(2, "big") + topic + b"\x00" + b"%d" % index
        return bytes([0x30, len(body)]) + body

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        header = await reader.readexactly(2)  # CONNECT, short enough for 1 byte
        await reader.readexactly(header[1])
        # CONNACK (MQTT 5: no session, success, no properties), then every
        # message in a single write: one TLS record.
        writer.write(
            b"\x20\x03\x00\x00\x00"
            + b"".join(publish_packet(index) for index in range(count))
        )
        await writer.drain()
        await reader.read()  # until the client leaves

    cert, key = pki.server_files("ip")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = await asyncio.start_server(broker, "127.0.0.1", 0, ssl=server_context)
    settings = BrokerSettings(
        host="127.0.0.1",
        port=server.sockets[0].getsockname()[1],
        tls=True,
        ca_cert=pki.ca_pem,
    )
    received: list[bytes] = []
    complete = asyncio.Event()

    def on_message(_topic: str, payload: bytes) -> None:
        received.append(payload)
        if len(received) == count:
            complete.set()

    async with server:
        client = await open_client(
            settings,
            build_tls_context(settings),
            identifier="csocket-records",
            persistent=False,
            on_message=on_message,
        )
        try:
            async with asyncio.timeout(10):
                await complete.wait()
        finally:
            await close_client(client)
    assert received == [b"%d" % index for index in range(count)]


def test_the_client_replaces_only_what_aiomqtt_has() -> None:
    """Every aiomqtt method csocket's client replaces still exists in aiomqtt.

    They are aiomqtt's private paho callbacks: after a rename in a new aiomqtt
    the replacement would silently never run (no refusal reasons, no batched
    reads) rather than fail.
    """
    replaced = {
        name
        for name in vars(CsocketClient)
        if name.startswith("_on_") or name == "_pending_call"
    }
    assert replaced == {
        "_on_publish",
        "_on_message",
        "_on_disconnect",
        "_on_socket_open",
        "_on_socket_register_write",
        "_pending_call",
    }
    assert all(callable(getattr(aiomqtt.Client, name, None)) for name in replaced)


async def test_a_cancelled_connect_hangs_up(
    hass: HomeAssistant, allow_loopback: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant stopping (or the entry unloading) mid-connect.

    The connection is closed at once instead of being left open for the
    broker's answer, and its end raises nothing on the event loop (aiomqtt
    read the cancelled connect future there: "CancelledError: Home Assistant
    is stopping" at stop). A peer that never answers CONNECT plays a slow
    broker.
    """
    connected = asyncio.Event()
    closed = asyncio.Event()

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        header = await reader.readexactly(2)
        await reader.readexactly(header[1])  # CONNECT, never answered
        connected.set()
        # csocket's DISCONNECT, if any, then the end of the connection.
        while await reader.read(1024):
            pass
        closed.set()
        writer.close()

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = BrokerSettings(host="127.0.0.1", port=port)
    async with server:
        task = hass.async_create_task(
            open_client(settings, None, identifier="csocket-slow", persistent=True)
        )
        async with asyncio.timeout(10):
            await connected.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(10):
            await closed.wait()
        await hass.async_block_till_done()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
