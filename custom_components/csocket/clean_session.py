"""One bare MQTT 3.1.1 CONNECT with a clean session: the broker drops our old one.

Ending csocket's persistent session (on reconfigure and entry removal) takes one
round trip, so it does not go through aiomqtt: aiomqtt's disconnect asks the
event loop, via `call_soon_threadsafe`, to add a write handler for the socket's
file descriptor. When the broker hangs up in the same loop iteration (a broker
being replaced often does, or one that kicks us for a newer client with the same
id), the socket is closed before that handler is added and the loop logs
"Exception in callback BaseSelectorEventLoop.add_writer ... OSError: [Errno 9]
Bad file descriptor" (aiomqtt 2.5) - or, with the number already reused,
watches someone else's socket. Plain asyncio streams close what they opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

# MQTT 3.1.1, which every broker speaks: a clean-session CONNECT ends the
# session of csocket's client id, whether MQTT 5 or 3.1.1 made it.
_PROTOCOL = b"\x00\x04MQTT\x04"
_CONNECT = 0x10
_CONNACK = 0x20
_DISCONNECT = b"\xe0\x00"
_CLEAN_SESSION = 0x02
_PASSWORD = 0x40
_USERNAME = 0x80
_KEEP_ALIVE = 10  # s; the connection lasts one round trip
CONNACK_ACCEPTED = 0


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, digit = length >> 7, length & 0x7F
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """CONNECT with the clean-session flag (and credentials when given)."""
    flags = _CLEAN_SESSION
    payload = _field(client_id.encode())
    if username is not None:  # MQTT 3.1.1: no password without a username
        flags |= _USERNAME
        payload += _field(username.encode())
        if password is not None:
            flags |= _PASSWORD
            payload += _field(password.encode())
    body = _PROTOCOL + bytes((flags,)) + _KEEP_ALIVE.to_bytes(2, "big") + payload
    return bytes((_CONNECT,)) + _remaining_length(len(body)) + body


async def async_connect_clean(
    host: str, port: int, tls_context: ssl.SSLContext | None, connect: bytes
) -> int:
    """Send `connect` (see `connect_packet`), disconnect; the CONNACK return code.

    Raises OSError (including TLS errors) or EOFError when the broker cannot be
    reached or hangs up before answering.
    """
    reader, writer = await asyncio.open_connection(host, port, ssl=tls_context)
    try:
        writer.write(connect)
        connack = await reader.readexactly(4)
        if connack[0] != _CONNACK:
            raise ConnectionError(f"no CONNACK from the broker ({connack[0]:#x})")
        if connack[3] == CONNACK_ACCEPTED:
            # The session is gone already; a broker that hangs up now loses nothing.
            with contextlib.suppress(ConnectionError):
                writer.write(_DISCONNECT)
                await writer.drain()
        return connack[3]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
