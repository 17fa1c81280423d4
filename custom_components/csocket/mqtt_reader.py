"""The broker's packets, read for paho; the PUBLISH packets taken on the way.

paho reads a packet with a system call per header byte and builds for each
PUBLISH an `MQTTMessage` (with its lock) and, under MQTT 5, a `Properties`
object filled from a 27-entry table and cleared again: about 20 µs of CPU per
uplink, more than csocket's parse and decode together (scripts/bench_receive.py).
csocket needs the topic, the payload and the acknowledgement.

So a `PacketReader` stands in for paho's socket. It reads what the socket
holds in one call, takes the complete QoS 0 and 1 PUBLISH packets itself, and
hands paho every other packet (CONNACK, SUBACK, the PUBACKs of csocket's own
downlinks, PINGRESP, DISCONNECT, QoS 2 and anything malformed) whole, through
`recv`: paho never sees part of a packet, nor a packet it did not read from
the start. The end of the connection (EOF or an error) reaches paho the same
way, after every complete packet before it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, Final

from paho.mqtt.client import Client

# Bytes read from the socket per wake-up at most: about 60 ChirpStack uplinks.
# Under load the rest waits for the next turn of the event loop (the socket
# still signals it), so other callbacks keep running. More than a TLS record
# holds (16 KiB): a read never leaves decoded bytes behind in TLS, which the
# socket would not signal.
READ_SIZE: Final = 65536
PUBLISH: Final = 0x30
# A variable byte integer has at most 4 bytes (2**28 - 1).
MAX_LENGTH_BYTES: Final = 4

# Nothing to read now. TLS may also want to write first (a renegotiation,
# TLS 1.2 only): the next wake-up, or paho's next write, moves it on.
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class PacketReader:
    """paho's socket: reads ahead and takes the PUBLISH packets."""

    def __init__(
        self,
        sock: Any,
        *,
        v5: bool,
        on_publish: Callable[[str, bytes, int, int], None],
    ) -> None:
        """Read `sock` (paho's, plain or TLS); `on_publish(topic, payload, qos, mid)`.

        `on_publish` delivers and acknowledges a message paho never sees.
        """
        self._sock = sock
        self._v5 = v5
        self._on_publish = on_publish
        self._in = bytearray()
        # Bytes at the head of `_in` that paho may read now: one whole packet.
        self._for_paho = 0
        # Whether the socket ended, and with which error (EOF: None). paho
        # hears of it once every complete packet before it was processed.
        self._ended = False
        self._error: OSError | None = None
        self._end_for_paho = False

    def __getattr__(self, name: str) -> Any:
        """Everything else (send, fileno, close, pending) is the socket's."""
        return getattr(self._sock, name)

    def recv(self, size: int) -> bytes:
        """Read for paho: the packet handed to it, then the end of the socket."""
        if self._for_paho:
            count = min(size, self._for_paho)
            data = bytes(self._in[:count])
            del self._in[:count]
            self._for_paho -= count
            return data
        if self._end_for_paho:
            if self._error is not None:
                raise self._error
            return b""
        raise BlockingIOError

    def read(self, client: Client) -> None:
        """Read the socket once and process the packets it completed."""
        if not self._ended:
            self._fill()
        self._process(client)
        if self._ended and client.socket() is self:
            # A packet cut off by the end is never completed: paho reads the
            # end itself (b"" or the error) and reports the lost connection.
            self._in.clear()
            self._for_paho = 0
            self._end_for_paho = True
            client.loop_read()

    def _fill(self) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except _WOULD_BLOCK:
            return
        except OSError as err:
            self._ended, self._error = True, err
            return
        if data:
            self._in += data
        else:
            self._ended = True

    def _process(self, client: Client) -> None:
        buf = self._in
        v5 = self._v5
        pos = 0
        end = len(buf)
        try:
            while pos < end:
                first = buf[pos]
                length, index = _varint(buf, pos + 1, end)
                if length is None:
                    return  # the header is not complete yet
                if length < 0:
                    stop = index  # a malformed length: paho refuses it
                else:
                    stop = index + length
                    if stop > end:
                        return  # the packet is not complete yet
                    if first & 0xF0 == PUBLISH and (
                        message := _publish(buf, first, index, stop, v5=v5)
                    ):
                        pos = stop
                        self._on_publish(*message)
                        continue
                size = stop - pos
                del buf[:pos]
                pos = 0
                self._hand_to_paho(client, size)
                if client.socket() is not self:
                    return  # paho closed the connection (e.g. a refusing CONNACK)
                end = len(buf)
        finally:
            if pos:
                del buf[:pos]

    def _hand_to_paho(self, client: Client, size: int) -> None:
        self._for_paho = size
        client.loop_read()
        if self._for_paho:
            # paho stopped inside the packet (it closed the socket): the rest
            # belongs to no one.
            del self._in[: self._for_paho]
            self._for_paho = 0


def _publish(
    buf: bytearray, first: int, start: int, stop: int, *, v5: bool
) -> tuple[str, bytes, int, int] | None:
    """Topic, payload, QoS and message id of a QoS 0/1 PUBLISH; None: paho's.

    QoS 2 needs paho's PUBREC/PUBREL exchange; an empty topic (an alias,
    which csocket never allows) or a malformed packet gets paho's handling.
    """
    qos = (first >> 1) & 3
    if qos > 1 or stop - start < 2:
        return None
    topic_end = start + 2 + ((buf[start] << 8) | buf[start + 1])
    if topic_end == start + 2 or topic_end > stop:
        return None
    pos, mid = topic_end, 0
    if qos:
        mid = (buf[pos] << 8) | buf[pos + 1] if pos + 2 <= stop else 0
        pos += 2
    if v5:
        # The properties (none csocket uses): their length, then them.
        length, pos = _varint(buf, pos, stop)
        if length is None or length < 0:
            return None
        pos += length
    if pos > stop:
        return None
    try:
        topic = buf[start + 2 : topic_end].decode()
    except UnicodeDecodeError:
        return None
    return topic, bytes(buf[pos:stop]), qos, mid


def _varint(buf: bytearray, pos: int, end: int) -> tuple[int | None, int]:
    """MQTT's variable byte integer at `pos` and the position after it.

    None: `end` cut it off; -1: malformed (a fifth byte).
    """
    value = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 7 * MAX_LENGTH_BYTES:
            return -1, pos
    return None, pos
