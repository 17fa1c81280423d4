"""csocket's own reading of PUBLISH packets, ahead of paho (mqtt_reader.py).

A scripted MQTT 5 peer on 127.0.0.1 plays the broker, so the bytes, how they
are cut into reads and the connection's end are exactly what a test says:
Mosquitto decides none of that. The real broker's backlog, TLS and downlink
paths are in test_transport.py and test_commands.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

import aiomqtt
import pytest
from aiomqtt import ProtocolVersion

from custom_components.csocket.connection import (
    BrokerSettings,
    close_client,
    open_client,
)
from custom_components.csocket.mqtt_reader import PacketReader

TOPIC = b"application/app/device/24e124148b123456/event/up"
CONNACK = b"\x20\x03\x00\x00\x00"  # MQTT 5: no session, success, no properties
CONNACK_311 = b"\x20\x02\x00\x00"
PINGRESP = b"\xd0\x00"


def varint(value: int) -> bytes:
    """MQTT's variable byte integer."""
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish(
    payload: bytes,
    *,
    qos: int = 0,
    mid: int = 0,
    properties: bytes = b"",
    v5: bool = True,
    topic: bytes = TOPIC,
) -> bytes:
    """A PUBLISH packet, MQTT 5 (with `properties`) or 3.1.1."""
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        body += varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


# A user property ("source", "test") and a content type: skipped, not payload.
PROPERTIES = (
    b"\x26\x00\x06source\x00\x04test\x03" + len(b"json").to_bytes(2, "big") + b"json"
)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def start_peer(
    script: Script, end: bytes = b"", *, v5: bool = True
) -> asyncio.Server:
    """A peer that answers CONNECT, runs `script`, writes `end` and hangs up."""

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        header = await reader.readexactly(2)  # CONNECT, short enough for 1 byte
        await reader.readexactly(header[1])
        writer.write(CONNACK if v5 else CONNACK_311)
        await script(reader, writer)
        with contextlib.suppress(ConnectionError):  # a script may reset it
            writer.write(end)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(broker, "127.0.0.1", 0)


async def run_peer(
    script: Script, *, end: bytes = b"", v5: bool = True
) -> tuple[list[bytes], aiomqtt.MqttError | None]:
    """Connect csocket's client to a peer running `script` after CONNACK.

    Then the peer writes `end` and hangs up. Returns the payloads delivered
    (prefixed with their topic when it is not TOPIC) and how the client's
    connection ended.
    """
    received: list[bytes] = []

    def on_message(topic: str, payload: bytes) -> None:
        if topic != TOPIC.decode():
            payload = f"topic {topic!r}: ".encode() + payload
        received.append(payload)

    server = await start_peer(script, end, v5=v5)
    settings = BrokerSettings(host="127.0.0.1", port=server.sockets[0].getsockname()[1])
    async with server:
        client = await open_client(
            settings,
            None,
            identifier="csocket-reader",
            persistent=False,
            protocol=ProtocolVersion.V5 if v5 else ProtocolVersion.V311,
            on_message=on_message,
        )
        ended: aiomqtt.MqttError | None = None
        try:
            async with asyncio.timeout(10):
                async for _ in client.messages:
                    pass
        except aiomqtt.MqttError as err:
            ended = err
    return received, ended


async def dribble(writer: asyncio.StreamWriter, data: bytes, cut: int) -> None:
    """Write `data` in pieces of `cut` bytes, each its own TCP segment."""
    for start in range(0, len(data), cut):
        writer.write(data[start : start + cut])
        await writer.drain()
        await asyncio.sleep(0.002)  # pacing only: the result cannot depend on it


@pytest.mark.parametrize(
    ("cut", "v5"),
    [(1, True), (3, True), (7, True), (1000, True), (1, False), (1000, False)],
    ids=["1-v5", "3-v5", "7-v5", "1000-v5", "1-v311", "1000-v311"],
)
async def test_packets_cut_anywhere_arrive_whole_in_order_and_acknowledged(
    allow_loopback: None, cut: int, *, v5: bool
) -> None:
    """Each PUBLISH is delivered once, whole, however its bytes arrive.

    QoS 1 ones are acknowledged by message id. The packets paho handles (here
    a PINGRESP between two messages) reach it whole and keep their place. A
    payload of 300 bytes takes a two-byte length; MQTT 5 properties are
    skipped, not delivered as payload. MQTT 3.1.1 (a broker refusing MQTT 5)
    has no properties.
    """
    long = bytes(range(256)) + b"x" * 44
    stream = (
        publish(b"one", qos=1, mid=1, properties=PROPERTIES if v5 else b"", v5=v5)
        + PINGRESP
        + publish(long, qos=1, mid=0x1234, v5=v5)
        + publish(b"three", v5=v5)
    )
    acks: list[bytes] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await dribble(writer, stream, cut)
        acks.extend([await reader.readexactly(4), await reader.readexactly(4)])

    received, ended = await run_peer(script, end=publish(b"sentinel", v5=v5), v5=v5)

    assert received == [b"one", long, b"three", b"sentinel"]
    assert acks == [b"\x40\x02\x00\x01", b"\x40\x02\x12\x34"]  # PUBACKs, in order
    assert ended is not None  # the peer hung up


async def test_a_message_longer_than_one_read_arrives_whole(
    allow_loopback: None,
) -> None:
    """A packet larger than the reader takes per wake-up (64 KiB).

    Its length takes three bytes; it is assembled over several reads, and
    the message after it still arrives.
    """
    big = bytes(range(256)) * 300  # 76 800 bytes

    async def script(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(big, qos=1, mid=9) + publish(b"after"))

    received, _ = await run_peer(script)

    assert received == [big, b"after"]


async def test_qos_2_goes_through_paho_in_its_place(allow_loopback: None) -> None:
    """A QoS 2 message (csocket subscribes at QoS 1; a broker may still send one).

    paho runs the PUBREC / PUBREL / PUBCOMP exchange and delivers it at
    PUBREL; the messages around it keep their order.
    """
    exchange: list[bytes] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(b"before") + publish(b"two", qos=2, mid=7))
        exchange.append(await reader.readexactly(4))  # PUBREC
        writer.write(b"\x62\x02\x00\x07")  # PUBREL
        exchange.append(await reader.readexactly(4))  # PUBCOMP

    received, _ = await run_peer(script, end=publish(b"after"))

    assert received == [b"before", b"two", b"after"]
    assert exchange == [b"\x50\x02\x00\x07", b"\x70\x02\x00\x07"]


@pytest.mark.parametrize(
    "tail",
    [
        publish(b"cut off")[:-2],  # the connection ends inside a packet
        b"\x30\xff\xff\xff\xff\x01",  # a length of five bytes: malformed
    ],
    ids=["cut-off", "malformed"],
)
async def test_the_end_comes_after_every_complete_packet(
    allow_loopback: None, caplog: pytest.LogCaptureFixture, tail: bytes
) -> None:
    """Complete packets before the end are delivered; then the connection ends.

    What follows them, a packet the end cut off or one paho refuses, ends the
    connection (the transport reconnects) and delivers nothing.
    """

    async def script(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(b"one") + publish(b"two", qos=1, mid=2))

    received, ended = await run_peer(script, end=tail)

    assert received == [b"one", b"two"]
    assert isinstance(ended, aiomqtt.MqttError)
    assert [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("custom_components")
    ] == []


async def test_paho_reads_through_the_packet_reader(allow_loopback: None) -> None:
    """The reader is in place: paho's socket attribute is what csocket set.

    `_sock` is paho's own attribute. Were it renamed in a new paho, csocket
    would silently fall back to paho's reading (correct, 4 times the CPU per
    message: scripts/bench_receive.py) rather than fail.
    """

    async def script(
        reader: asyncio.StreamReader, _writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # until the client leaves

    server = await start_peer(script)
    settings = BrokerSettings(host="127.0.0.1", port=server.sockets[0].getsockname()[1])
    async with server:
        with_reader = await open_client(
            settings, None, identifier="a", persistent=False, on_message=print
        )
        without = await open_client(settings, None, identifier="b", persistent=False)
        try:
            assert isinstance(with_reader._client.socket(), PacketReader)
            # Without a message callback aiomqtt's queue gets paho's messages.
            assert not isinstance(without._client.socket(), PacketReader)
        finally:
            await close_client(with_reader)
            await close_client(without)


def _csocket_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("custom_components")
    ]


async def test_a_topic_that_is_not_utf8_is_acknowledged_and_skipped(
    allow_loopback: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile PUBLISH whose topic is not UTF-8 (a broker should refuse it).

    paho gets it (csocket's reader does not decode it), csocket logs one error
    for the connection, acknowledges it so the broker does not send it again,
    and the next message arrives.
    """
    acks: list[bytes] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(b"bad", qos=1, mid=5, topic=b"application/\xff"))
        acks.append(await reader.readexactly(4))

    received, _ = await run_peer(script, end=publish(b"after"))

    assert received == [b"after"]
    assert acks == [b"\x40\x02\x00\x05"]
    assert _csocket_errors(caplog) == ["Error handling an MQTT message"]


@pytest.mark.parametrize(
    ("bad", "delivered"),
    [
        # MQTT 5 allows an empty topic with a topic alias, which csocket never
        # grants: paho delivers it as it is; the hub ignores the topic.
        (publish(b"aliased", topic=b""), [b"topic '': aliased", b"after"]),
        # A topic longer than its packet, a property length of five bytes:
        # paho refuses the packet and the connection ends there.
        (b"\x30\x04\x00\x09ab" + publish(b"lost"), []),
        (
            b"\x30\x0a" + len(b"ab").to_bytes(2, "big") + b"ab\xff\xff\xff\xff\x01x",
            [],
        ),
    ],
    ids=["empty-topic", "topic-too-long", "properties-malformed"],
)
async def test_malformed_publish_packets_get_paho_handling(
    allow_loopback: None,
    caplog: pytest.LogCaptureFixture,
    bad: bytes,
    delivered: list[bytes],
) -> None:
    """PUBLISH packets csocket's reader does not take: paho decides.

    Nothing of them is delivered as a message of TOPIC, no packet after a
    refused one is read, and csocket logs no error (the transport reports the
    lost connection and reconnects).
    """

    async def script(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(b"before") + bad)

    received, ended = await run_peer(script, end=publish(b"after"))

    assert received == [b"before", *delivered]
    assert ended is not None
    assert _csocket_errors(caplog) == []


async def test_a_broker_disconnect_ends_the_reading(allow_loopback: None) -> None:
    """The broker's DISCONNECT (MQTT 5, "session taken over") goes to paho.

    paho closes the connection; a message behind it is not delivered.
    """

    async def script(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(b"one") + b"\xe0\x01\x8e" + publish(b"never"))

    received, ended = await run_peer(script)

    assert received == [b"one"]
    assert ended is not None


async def test_a_reset_connection_ends_after_the_complete_packets(
    allow_loopback: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The peer resets the connection (RST) right after two messages.

    Both are delivered (the second's acknowledgement says csocket read it
    before the reset); the reset reaches paho as the connection's end.
    """

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(publish(b"one") + publish(b"two", qos=1, mid=3))
        assert await reader.readexactly(4) == b"\x40\x02\x00\x03"  # PUBACK
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    received, ended = await run_peer(script)

    assert received == [b"one", b"two"]
    assert ended is not None
    assert _csocket_errors(caplog) == []
