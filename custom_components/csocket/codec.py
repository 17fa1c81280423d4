"""Payload codec for the Milesight WS523 / Linovision IOT-CSOCKET smart plug.

The contract is ``ws523-protocol.md`` (sections 1, 2 and 4). Every frame, up or
down, is a sequence of ``channel | type | data`` records with fixed-length,
little-endian data.

This module is stdlib-only and has no package-relative imports, so it can be
loaded straight from its file path by tests and benchmarks without Home
Assistant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

__all__ = [
    "FPORT",
    "RANGES",
    "UPLINK_FIELDS",
    "CodecError",
    "Range",
    "decode_uplink",
    "encode_downlink",
    "encode_socket",
]

FPORT: Final = 85
"""Default LoRaWAN application port of the device (configurable over NFC)."""

UPLINK_FIELDS: Final = frozenset(
    {
        "active_power",
        "button_lock",
        "button_lock_time",
        "current",
        "delay_task",
        "delay_task_deleted",
        "device_status",
        "firmware_version",
        "hardware_version",
        "led_enabled",
        "lorawan_class",
        "overcurrent_alarm",
        "overcurrent_protection",
        "power_consumption",
        "power_consumption_enabled",
        "power_consumption_reset",
        "power_factor",
        "power_outage",
        "protocol_version",
        "reboot",
        "report_attribute",
        "report_interval",
        "report_status",
        "reset_event",
        "sn",
        "socket_changed",
        "socket_status",
        "tsl_version",
        "voltage",
    }
)
"""Every field :func:`decode_uplink` can return, except ``"unparsed"``."""


class CodecError(ValueError):
    """A downlink command is unknown, has the wrong type or is out of range."""


# --- Uplink ----------------------------------------------------------------

# A parser receives the output dict and the record's data bytes (their length
# already checked against the table) and stores its field(s) into the dict.
_Parser = Callable[[dict[str, Any], bytes], None]

_LORAWAN_CLASSES: Final = ("Class A", "Class B", "Class C", "Class CtoB")


def _uint(field: str) -> _Parser:
    """Parse a little-endian unsigned integer of any width."""

    def parse(out: dict[str, Any], raw: bytes) -> None:
        out[field] = int.from_bytes(raw, "little")

    return parse


def _flag(field: str) -> _Parser:
    """Parse a one-byte flag: 00 is False, anything else (01, ff) True."""

    def parse(out: dict[str, Any], raw: bytes) -> None:
        out[field] = raw[0] != 0

    return parse


def _constant(field: str, value: object) -> _Parser:
    """Parse an event or echo whose data byte(s) carry no information."""

    def parse(out: dict[str, Any], _raw: bytes) -> None:
        out[field] = value

    return parse


def _threshold(field: str) -> _Parser:
    """Parse an overcurrent setting: enable byte, then threshold in A."""

    def parse(out: dict[str, Any], raw: bytes) -> None:
        out[field] = {"enabled": raw[0] != 0, "threshold": raw[1]}

    return parse


def _voltage(out: dict[str, Any], raw: bytes) -> None:
    out["voltage"] = int.from_bytes(raw, "little") / 10


def _socket_status(out: dict[str, Any], raw: bytes) -> None:
    # Bit 0 is the relay state; bit 4 marks a change report (button, downlink,
    # delay task, protection trip).
    out["socket_status"] = (raw[0] & 0x01) != 0
    out["socket_changed"] = (raw[0] & 0x10) != 0


def _hardware_version(out: dict[str, Any], raw: bytes) -> None:
    out["hardware_version"] = f"v{raw[0]}.{raw[1] >> 4}"


def _firmware_version(out: dict[str, Any], raw: bytes) -> None:
    out["firmware_version"] = f"v{raw[0]:x}.{raw[1]:x}"


def _tsl_version(out: dict[str, Any], raw: bytes) -> None:
    out["tsl_version"] = f"v{raw[0]}.{raw[1]}"


def _lorawan_class(out: dict[str, Any], raw: bytes) -> None:
    value = raw[0]
    out["lorawan_class"] = (
        _LORAWAN_CLASSES[value] if value < len(_LORAWAN_CLASSES) else "unknown"
    )


def _sn(out: dict[str, Any], raw: bytes) -> None:
    out["sn"] = raw.hex()


def _delay_task(out: dict[str, Any], raw: bytes) -> None:
    # raw[0] is the task id (always 0: the device keeps a single task); the
    # last byte is 0x10 | target state.
    out["delay_task"] = {
        "delay": int.from_bytes(raw[1:3], "little"),
        "socket_status": (raw[3] & 0x0F) != 0,
    }


def _button_lock(out: dict[str, Any], raw: bytes) -> None:
    value = int.from_bytes(raw, "little")
    out["button_lock"] = (value & 0x8000) != 0
    # Undocumented lock time modelled by the vendor decoder; kept for diagnostics.
    out["button_lock_time"] = value & 0x7FFF


_report_interval = _uint("report_interval")

# Setting echoes arrive with channel ff or fe; both mean the same.
_ECHOES: Final[dict[int, tuple[int, _Parser]]] = {
    0x03: (2, _report_interval),
    0x10: (1, _constant("reboot", value=True)),
    0x22: (4, _delay_task),
    0x23: (2, _constant("delay_task_deleted", value=True)),
    0x24: (2, _threshold("overcurrent_alarm")),
    0x25: (2, _button_lock),
    0x26: (1, _flag("power_consumption_enabled")),
    0x27: (1, _constant("power_consumption_reset", value=True)),
    0x28: (1, _constant("report_status", value=True)),
    0x2C: (1, _constant("report_attribute", value=True)),
    0x2F: (1, _flag("led_enabled")),
    0x30: (2, _threshold("overcurrent_protection")),
}

# (channel, type) header bytes -> (data length, parser). Keyed by the raw two
# header bytes so the decoder needs one slice and one dict lookup per record.
_RECORDS: Final[dict[bytes, tuple[int, _Parser]]] = {
    b"\x03\x74": (2, _voltage),
    b"\x04\x80": (4, _uint("active_power")),
    b"\x05\x81": (1, _uint("power_factor")),
    b"\x06\x83": (4, _uint("power_consumption")),
    b"\x07\xc9": (2, _uint("current")),
    b"\x08\x70": (1, _socket_status),
    b"\xff\x01": (1, _uint("protocol_version")),
    b"\xff\x09": (2, _hardware_version),
    b"\xff\x0a": (2, _firmware_version),
    b"\xff\x0b": (1, _constant("device_status", "on")),
    b"\xff\x0f": (1, _lorawan_class),
    b"\xff\x16": (8, _sn),
    b"\xff\xfe": (1, _constant("reset_event", value=True)),
    b"\xff\xff": (2, _tsl_version),
    # ff = mains lost ("last gasp", hardware >= 1.2), 00 = restored.
    b"\xff\x3f": (1, _flag("power_outage")),
    # Seen in the field; same meaning as the ff03/fe03 echo.
    b"\xfe\x02": (2, _report_interval),
    **{
        bytes((channel, type_)): spec
        for channel in (0xFF, 0xFE)
        for type_, spec in _ECHOES.items()
    },
}


def decode_uplink(data: bytes) -> dict[str, Any]:
    """Decode an uplink frame into the fields of the protocol contract.

    Never raises: decoding stops at the first unknown or truncated record, and
    the remaining bytes are returned as lowercase hex under ``"unparsed"``.
    An empty frame decodes to ``{}``. Accepts any bytes-like object.
    """
    if type(data) is not bytes:
        # bytearray slices cannot key the record table, and len() of a
        # memoryview counts items, not bytes.
        data = bytes(data)
    out: dict[str, Any] = {}
    records = _RECORDS
    end = len(data)
    pos = 0
    while pos < end:
        spec = records.get(data[pos : pos + 2])
        if spec is None:
            break
        length, parse = spec
        start = pos + 2
        stop = start + length
        if stop > end:
            break
        parse(out, data[start:stop])
        pos = stop
    if pos < end:
        out["unparsed"] = data[pos:].hex()
    return out


# --- Downlink --------------------------------------------------------------


class Range(NamedTuple):
    """Valid values of a numeric downlink argument, in the device's unit."""

    low: int
    high: int
    unit: str


# The one place each argument range is written: the encoders validate with it,
# and settings.py turns it into action schemas, number entities and docs.
RANGES: Final[Mapping[str, Range]] = {
    "report_interval": Range(60, 64800, "s"),  # 1..1080 minutes
    "delay": Range(1, 65535, "s"),
    "threshold": Range(1, 30, "A"),
}
_REPORT_INTERVAL_RANGE: Final = (
    RANGES["report_interval"].low,
    RANGES["report_interval"].high,
)
_DELAY_RANGE: Final = (RANGES["delay"].low, RANGES["delay"].high)
_THRESHOLD_RANGE: Final = (RANGES["threshold"].low, RANGES["threshold"].high)
# Disabling may keep the device's threshold, or send 0 when it is unknown.
_DISABLED_THRESHOLD_RANGE: Final = (0, RANGES["threshold"].high)

_Encoder = Callable[[str, object], bytes]


def _check_bool(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        msg = f"{key} must be a bool (True or False), got {value!r}"
        raise CodecError(msg)
    return value


def _check_true(key: str, value: object) -> None:
    if value is not True:
        msg = f"{key} must be True, got {value!r}"
        raise CodecError(msg)


def _check_int(key: str, value: object, bounds: tuple[int, int], unit: str) -> int:
    low, high = bounds
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        msg = f"{key} must be an integer from {low} to {high} {unit}, got {value!r}"
        raise CodecError(msg)
    return value


def _check_mapping(
    key: str,
    value: object,
    required: frozenset[str],
    optional: frozenset[str] = frozenset(),
) -> Mapping[str, Any]:
    allowed = required | optional
    if (
        not isinstance(value, Mapping)
        or not required <= value.keys()
        or not value.keys() <= allowed
    ):
        msg = (
            f"{key} must be a mapping with keys {sorted(required)}"
            + (f" and optionally {sorted(optional)}" if optional else "")
            + f", got {value!r}"
        )
        raise CodecError(msg)
    return value


def _flag_command(header: bytes) -> _Encoder:
    """Build the encoder of an action command whose only valid value is True."""

    def encode(key: str, value: object) -> bytes:
        _check_true(key, value)
        return header

    return encode


def _switch_command(header: bytes, off: bytes, on: bytes) -> _Encoder:
    """Build the encoder of a setting that takes a bool."""

    def encode(key: str, value: object) -> bytes:
        return header + (on if _check_bool(key, value) else off)

    return encode


def _threshold_command(header: bytes) -> _Encoder:
    """Build the encoder of an overcurrent alarm/protection setting.

    A threshold of 1-30 A is required when enabling. When disabling, it may
    be omitted (sent as 0) or given as 0-30 A, so that a caller that knows the
    configured threshold can keep it on the device.
    """

    def encode(key: str, value: object) -> bytes:
        settings = _check_mapping(
            key, value, frozenset({"enabled"}), frozenset({"threshold"})
        )
        enabled = _check_bool(f"{key}.enabled", settings["enabled"])
        if enabled:
            threshold = _check_int(
                f"{key}.threshold",
                settings.get("threshold"),
                _THRESHOLD_RANGE,
                "A when enabled",
            )
        else:
            threshold = _check_int(
                f"{key}.threshold",
                settings.get("threshold", 0),
                _DISABLED_THRESHOLD_RANGE,
                "A when disabled",
            )
        return header + bytes((enabled, threshold))

    return encode


def _encode_socket_status(key: str, value: object) -> bytes:
    # The user guide's form; only byte 1 matters to the device.
    return b"\x08\x01\x00\xff" if _check_bool(key, value) else b"\x08\x00\x00\xff"


def _encode_report_interval(key: str, value: object) -> bytes:
    seconds = _check_int(key, value, _REPORT_INTERVAL_RANGE, "seconds")
    return b"\xff\x03" + seconds.to_bytes(2, "little")


def _encode_delay_task(key: str, value: object) -> bytes:
    task = _check_mapping(key, value, frozenset({"delay", "socket_status"}))
    delay = _check_int(f"{key}.delay", task["delay"], _DELAY_RANGE, "seconds")
    on = _check_bool(f"{key}.socket_status", task["socket_status"])
    # Task id 00, delay, then 0x10 | target state (10 off, 11 on).
    return b"\xff\x22\x00" + delay.to_bytes(2, "little") + (b"\x11" if on else b"\x10")


_ENCODERS: Final[dict[str, _Encoder]] = {
    "socket_status": _encode_socket_status,
    "report_interval": _encode_report_interval,
    "reboot": _flag_command(b"\xff\x10\xff"),
    "delay_task": _encode_delay_task,
    "delete_delay_task": _flag_command(b"\xff\x23\x00\xff"),
    "overcurrent_alarm": _threshold_command(b"\xff\x24"),
    "button_lock": _switch_command(b"\xff\x25\x00", b"\x00", b"\x80"),
    "power_consumption_enabled": _switch_command(b"\xff\x26", b"\x00", b"\x01"),
    "reset_power_consumption": _flag_command(b"\xff\x27\xff"),
    "report_status": _flag_command(b"\xff\x28\xff"),
    "report_attribute": _flag_command(b"\xff\x2c\xff"),
    "led_enabled": _switch_command(b"\xff\x2f", b"\x00", b"\x01"),
    "overcurrent_protection": _threshold_command(b"\xff\x30"),
}


def encode_downlink(commands: Mapping[str, Any]) -> bytes:
    """Encode commands into one downlink frame, one record per key in order.

    Keys mirror the decoded field names (see the protocol contract, section 4).
    Booleans must be real ``bool`` and integers real ``int``: 1/0 or "on" are
    rejected rather than guessed at. An empty mapping encodes to ``b""``.

    Raises:
        CodecError: a key is unknown, or its value has the wrong type or is out
            of range; the message names the key and the allowed values.

    """
    frame = bytearray()
    for key, value in commands.items():
        encoder = _ENCODERS.get(key)
        if encoder is None:
            msg = f"unknown command {key!r}, expected one of {sorted(_ENCODERS)}"
            raise CodecError(msg)
        frame += encoder(key, value)
    return bytes(frame)


def encode_socket(on: bool) -> bytes:
    """Encode the command that switches the socket on or off."""
    return encode_downlink({"socket_status": on})
