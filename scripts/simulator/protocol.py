"""The WS523 byte protocol, written independently of the integration's codec.

Uplink encoder (ws523-protocol.md section 1) and downlink parser (section 2):
a second implementation on purpose, so the tests can check csocket's codec
against it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final


def record(channel: int, kind: int, data: bytes) -> bytes:
    """One ``channel | type | data`` record."""
    return bytes((channel, kind)) + data


@dataclass(frozen=True, slots=True)
class Reading:
    """One electrical measurement, already in the device's units."""

    on: bool
    voltage: float  # V, one decimal
    power: int  # W
    current: int  # mA
    power_factor: int  # %
    energy: int  # Wh


def encode_report(reading: Reading, *, changed: bool = False) -> bytes:
    """An electrical report in the device's record order.

    ``changed`` sets bit 4 of the socket status: a change report (button,
    downlink, delay task or protection trip) instead of a periodic one.
    """
    status = int(reading.on) | (0x10 if changed else 0)
    return b"".join(
        (
            record(0x08, 0x70, bytes((status,))),
            record(0x05, 0x81, struct.pack("<B", _clamp(reading.power_factor, 100))),
            record(0x07, 0xC9, struct.pack("<H", _clamp(reading.current, 0xFFFF))),
            record(
                0x03,
                0x74,
                struct.pack("<H", _clamp(round(reading.voltage * 10), 0xFFFF)),
            ),
            record(0x06, 0x83, struct.pack("<I", _clamp(reading.energy, 0xFFFFFFFF))),
            record(0x04, 0x80, struct.pack("<I", _clamp(reading.power, 0xFFFFFFFF))),
        )
    )


def _clamp(value: int, maximum: int) -> int:
    return max(0, min(int(value), maximum))


@dataclass(slots=True)
class Settings:
    """What a socket remembers (and the simulator saves with ``--state``)."""

    on: bool
    energy_wh: float
    alarm_enabled: bool = True
    alarm_threshold: int = 10  # A
    protection_enabled: bool = True
    protection_threshold: int = 10  # A
    button_lock: int = 0x8000  # raw uint16: bit 15 locked, low bits lock time
    recording: bool = True
    led: bool = True


def encode_basic_info(sn: str, settings: Settings) -> bytes:
    """The basic-information frame sent after a join (user guide example)."""
    return b"".join(
        (
            record(0xFF, 0x01, b"\x01"),  # protocol version 1
            record(0xFF, 0x16, bytes.fromhex(sn)),
            record(0xFF, 0x09, b"\x01\x00"),  # hardware v1.0
            record(0xFF, 0x0A, b"\x01\x03"),  # firmware v1.3
            record(
                0xFF,
                0x24,
                bytes((int(settings.alarm_enabled), settings.alarm_threshold)),
            ),
            record(
                0xFF,
                0x30,
                bytes(
                    (int(settings.protection_enabled), settings.protection_threshold)
                ),
            ),
            record(0xFF, 0x25, struct.pack("<H", settings.button_lock)),
            record(0xFF, 0x26, bytes((int(settings.recording),))),
        )
    )


# --- Downlink parser (ws523-protocol.md section 2) -----------------------------

# Header -> (command name, total length including the header).
DOWNLINKS: Final[dict[bytes, tuple[str, int]]] = {
    b"\x08": ("socket", 4),
    b"\xff\x03": ("report_interval", 4),
    b"\xff\x10": ("reboot", 3),
    b"\xff\x22": ("delay_task", 6),
    b"\xff\x23": ("delete_delay_task", 4),
    b"\xff\x24": ("overcurrent_alarm", 4),
    b"\xff\x25": ("button_lock", 4),
    b"\xff\x26": ("power_consumption_enabled", 3),
    b"\xff\x27": ("reset_power_consumption", 3),
    b"\xff\x28": ("report_status", 3),
    b"\xff\x2c": ("report_attribute", 3),
    b"\xff\x2f": ("led_enabled", 3),
    b"\xff\x30": ("overcurrent_protection", 4),
}


@dataclass(frozen=True, slots=True)
class Command:
    """One downlink command: its name, its bytes and its arguments."""

    name: str
    raw: bytes
    args: bytes


def parse_downlink(data: bytes) -> tuple[list[Command], bytes]:
    """The commands in a downlink and the bytes the device could not parse.

    Like the device, parsing stops at the first unknown or truncated command.
    """
    commands: list[Command] = []
    index = 0
    while index < len(data):
        header = data[index : index + (1 if data[index] == 0x08 else 2)]
        spec = DOWNLINKS.get(header)
        if spec is None or index + spec[1] > len(data):
            return commands, data[index:]
        name, length = spec
        raw = data[index : index + length]
        commands.append(Command(name, raw, raw[len(header) :]))
        index += length
    return commands, b""


# Settings the device echoes back, ff-prefixed with the command's own bytes.
ECHOED: Final = frozenset(
    {
        "report_interval",
        "overcurrent_alarm",
        "overcurrent_protection",
        "button_lock",
        "power_consumption_enabled",
        "led_enabled",
    }
)


def describe(reading: Reading) -> str:
    """A reading for the log."""
    if not reading.on:
        return f"off, {reading.voltage} V, {reading.energy} Wh"
    return (
        f"on, {reading.power} W, {reading.voltage} V, {reading.current} mA, "
        f"PF {reading.power_factor} %, {reading.energy} Wh"
    )
