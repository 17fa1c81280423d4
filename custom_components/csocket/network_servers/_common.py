"""Helpers shared by the network-server adapters.

The value helpers are total: bad input gives None, never an exception, because
parse() runs on whatever anyone publishes on the broker.
"""

from __future__ import annotations

import abc
import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

from .models import (
    Adapter,
    DeviceRef,
    Downlink,
    DownlinkStatus,
    Event,
    Ignored,
    Uplink,
)

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from collections.abc import Collection, Mapping, Sequence

# MQTT single-level wildcard; also what an empty application id means.
WILDCARD: Final = "+"

# Marks a key that is absent, where absent and null mean different things.
MISSING: Final = object()

# LoRaWAN application ports; 0 carries MAC commands, 224+ are reserved.
MIN_F_PORT: Final = 1
MAX_F_PORT: Final = 223

_HEX_DIGITS: Final = frozenset("0123456789abcdef")

# Error/log codes about downlinks: ChirpStack v4 LogCode, v3 ErrorType (proto
# names like DOWNLINK_GATEWAY and the older as.ErrorType names like
# DATA_DOWN_GATEWAY / DEVICE_QUEUE_ITEM_SIZE).
_DOWNLINK_ERROR_PREFIXES: Final = ("DOWNLINK", "DATA_DOWN", "DEVICE_QUEUE_ITEM")
_DOWNLINK_ERROR_CODES: Final = frozenset({"F_CNT_DOWN", "EXPIRED"})

# ChirpStack's Handlebars placeholders: {{name}}.
HANDLEBARS: Final = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def dig(obj: object, *path: str) -> object:
    """Return obj[path[0]][path[1]]..., or None when any level is missing."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_int(value: object) -> int | None:
    """Integer from a JSON number or a string of digits; None otherwise.

    Strings are accepted because Protobuf JSON mappings and some servers send
    integers as strings; booleans are rejected although they are ints.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def as_str(value: object) -> str | None:
    """Non-empty string from a string or an integer id; None otherwise."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_float(value: object) -> float | None:
    """Float from a JSON number; None otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def b64decode(text: str) -> bytes | None:
    """Decode strict base64; None when invalid."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None


def b64encode(data: bytes) -> str:
    """Base64 text of data."""
    return base64.b64encode(data).decode("ascii")


def normalize_eui(value: object) -> str | None:
    """16 lower-case hex digits from a hex or base64 EUI; None when invalid.

    ChirpStack v3's "json" marshaler sends EUIs as base64 (12 characters for
    8 bytes), every other format as hex, so the two cannot be confused.
    """
    if not isinstance(value, str):
        return None
    if len(value) == 16:
        lower = value.lower()
        return lower if _HEX_DIGITS.issuperset(lower) else None
    raw = b64decode(value)
    return raw.hex() if raw is not None and len(raw) == 8 else None


def parse_time(value: object) -> datetime | None:
    """Aware datetime from RFC 3339; naive times are taken as UTC.

    Python >= 3.11 accepts nanoseconds here (truncated to microseconds).
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def link_quality(
    rx_info: object,
    rssi_keys: Sequence[str],
    snr_key: str,
    gateway_path: Sequence[str],
) -> tuple[int | None, float | None, int]:
    """Best RSSI, best SNR and the number of gateways in an rxInfo list.

    Entries of the same gateway (one per antenna on TTS) count once.
    """
    if not isinstance(rx_info, list):
        return None, None, 0
    best_rssi: float | None = None
    best_snr: float | None = None
    gateways: set[str] = set()
    anonymous = 0
    for entry in rx_info:
        if not isinstance(entry, dict):
            continue
        for key in rssi_keys:
            rssi = as_float(entry.get(key))
            if rssi is not None:
                if best_rssi is None or rssi > best_rssi:
                    best_rssi = rssi
                break
        snr = as_float(entry.get(snr_key))
        if snr is not None and (best_snr is None or snr > best_snr):
            best_snr = snr
        gateway = dig(entry, *gateway_path)
        if isinstance(gateway, str) and gateway:
            gateways.add(gateway)
        else:
            anonymous += 1
    rssi_int = round(best_rssi) if best_rssi is not None else None
    return rssi_int, best_snr, len(gateways) + anonymous


def is_downlink_error(code: object) -> bool:
    """Whether a ChirpStack error/log code is about a downlink."""
    return isinstance(code, str) and (
        code.startswith(_DOWNLINK_ERROR_PREFIXES) or code in _DOWNLINK_ERROR_CODES
    )


def ack_status(obj: Mapping[str, Any]) -> DownlinkStatus:
    """Status of a ChirpStack ack event; a timeout has acknowledged false/absent."""
    if obj.get("acknowledged") is True:
        return DownlinkStatus.ACKNOWLEDGED
    return DownlinkStatus.NOT_ACKNOWLEDGED


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in insertion order (the documented order)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def device_ref(
    dev_eui: object,
    *,
    application_id: object = None,
    device_id: object = None,
    device_name: object = None,
) -> DeviceRef | None:
    """DeviceRef from raw JSON values; None without a valid DevEUI."""
    eui = normalize_eui(dev_eui)
    if eui is None:
        return None
    return DeviceRef(
        dev_eui=eui,
        application_id=as_str(application_id),
        device_id=as_str(device_id),
        device_name=as_str(device_name),
    )


def config_text(config: Mapping[str, Any], key: str, default: str) -> str:
    """A stripped text setting; the default when absent or blank."""
    value = config.get(key)
    text = str(value).strip() if value is not None else ""
    return text or default


def application_of(device: DeviceRef, configured: str) -> str | None:
    """The device's application (seen in its uplinks), else the configured one."""
    if device.application_id:
        return device.application_id
    return None if configured == WILDCARD else configured


def filter_matches(levels: Sequence[str], topic: str) -> bool:
    """MQTT topic-filter match; levels is the filter split on "/"."""
    parts = topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or (level not in ("+", parts[index])):
            return False
    return len(parts) == len(levels)


class TopicTemplate:
    """A topic with placeholders, tokenised once.

    render() fills every placeholder, filter() turns the unknown ones into
    "+" wildcards for subscribing, match() extracts them from a topic.
    """

    __slots__ = ("_matchers", "_segments", "template", "variables")

    def __init__(
        self,
        template: str,
        allowed: Collection[str],
        *,
        syntax: re.Pattern[str] = HANDLEBARS,
        required: Collection[str] = (),
        matchable: bool = False,
    ) -> None:
        """Tokenise; ValueError on unknown or missing placeholders."""
        self.template = template
        self._segments = [_tokenise(segment, syntax) for segment in template.split("/")]
        self.variables = frozenset(
            text for segment in self._segments for text, is_var in segment if is_var
        )
        if unknown := sorted(self.variables - set(allowed)):
            raise ValueError(
                f"Topic {template!r} uses unsupported placeholder(s) "
                f"{', '.join(unknown)}; supported: {', '.join(sorted(allowed))}"
            )
        if missing := sorted(set(required) - self.variables):
            raise ValueError(
                f"Topic {template!r} lacks the placeholder(s) {', '.join(missing)}"
            )
        # (prefix, variable or None, suffix) per level, for match().
        self._matchers: list[tuple[str, str | None, str]] = []
        if matchable:
            for segment in self._segments:
                names = [i for i, (_, is_var) in enumerate(segment) if is_var]
                if len(names) > 1:
                    raise ValueError(
                        f"Topic {template!r} has two placeholders in one level"
                    )
                if not names:
                    self._matchers.append(("".join(t for t, _ in segment), None, ""))
                    continue
                i = names[0]
                self._matchers.append(
                    (
                        "".join(t for t, _ in segment[:i]),
                        segment[i][0],
                        "".join(t for t, _ in segment[i + 1 :]),
                    )
                )

    def render(self, values: Mapping[str, str | None]) -> str:
        """The topic with every placeholder filled; ValueError when one is unknown."""
        levels = []
        for segment in self._segments:
            level = []
            for text, is_var in segment:
                if not is_var:
                    level.append(text)
                    continue
                value = values.get(text)
                if not value:
                    raise ValueError(
                        f"Topic {self.template!r} needs the device's {text}, "
                        "which is not known (yet)"
                    )
                level.append(value)
            levels.append("".join(level))
        return "/".join(levels)

    def filter(self, values: Mapping[str, str]) -> str:
        """Topic filter: placeholders without a value (or "+") become "+"."""
        levels = []
        for segment in self._segments:
            level = []
            for text, is_var in segment:
                value = values.get(text, "+") if is_var else text
                if value == "+" and is_var:
                    level = ["+"]
                    break
                level.append(value)
            levels.append("".join(level))
        return "/".join(levels)

    def match(self, topic: str) -> dict[str, str] | None:
        """Placeholder values of a topic, or None when it does not fit."""
        parts = topic.split("/")
        if len(parts) != len(self._matchers):
            return None
        found: dict[str, str] = {}
        for part, (prefix, name, suffix) in zip(parts, self._matchers, strict=True):
            if name is None:
                if part != prefix:
                    return None
            elif (
                len(part) > len(prefix) + len(suffix)
                and part.startswith(prefix)
                and part.endswith(suffix)
            ):
                found[name] = part[len(prefix) : len(part) - len(suffix)]
            else:
                return None
        return found


def _tokenise(segment: str, syntax: re.Pattern[str]) -> list[tuple[str, bool]]:
    """Split one topic level into (text, is_placeholder) tokens."""
    tokens: list[tuple[str, bool]] = []
    position = 0
    for found in syntax.finditer(segment):
        if found.start() > position:
            tokens.append((segment[position : found.start()], False))
        tokens.append((found.group(1), True))
        position = found.end()
    if position < len(segment) or not tokens:
        tokens.append((segment[position:], False))
    return tokens


@dataclass(frozen=True, slots=True)
class RawUplink:
    """Uplink values as found in the JSON, checked by JsonAdapter.uplink()."""

    f_port: object
    data: object  # base64 text; None is an empty payload; MISSING is an error
    f_cnt: object
    rx_info: object
    time: object
    decoded: object = None
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class DownlinkFields:
    """A checked downlink, ready to be put into a server's format."""

    dev_eui: str  # 16 lower-case hex digits
    f_port: int
    data: str  # base64
    confirmed: bool
    correlation_id: str


class JsonAdapter(Adapter):
    """Base of the adapters: JSON decoding, uplink checks and downlink checks."""

    # Defaults of the keys this server uses, in display order.
    defaults: ClassVar[Mapping[str, Any]]
    qos: ClassVar[int] = 1
    # Appended to the reason when a message is binary (Protobuf) instead of JSON.
    binary_hint: ClassVar[str] = ""
    rssi_keys: ClassVar[tuple[str, ...]] = ("rssi",)
    snr_key: ClassVar[str] = "snr"
    gateway_path: ClassVar[tuple[str, ...]]

    def parse(self, topic: str, payload: bytes) -> Event:
        """Turn one MQTT message into a neutral event; never raises."""
        try:
            obj = json.loads(payload)
        except (ValueError, TypeError, RecursionError):
            return Ignored(self._not_json_reason(payload), topic)
        if not isinstance(obj, dict):
            return Ignored("payload is JSON but not an object", topic)
        try:
            return self.parse_object(topic, obj)
        except Exception as err:  # noqa: BLE001 - last resort: never raise to the hub
            return Ignored(f"could not parse message: {err!r}", topic)

    def _not_json_reason(self, payload: bytes) -> str:
        # Broken JSON starts like JSON; anything else is most likely Protobuf.
        head = payload.lstrip()[:1] if isinstance(payload, bytes | str) else b""
        if head in (b"{", b"[", "{", "[") or not self.binary_hint:
            return "payload is not valid JSON"
        return f"payload is not JSON; {self.binary_hint}"

    @abc.abstractmethod
    def parse_object(self, topic: str, obj: dict[str, Any]) -> Event:
        """Turn one decoded JSON object into a neutral event."""

    def uplink(self, topic: str, device: DeviceRef, raw: RawUplink) -> Uplink | Ignored:
        """Uplink from raw JSON values, or Ignored with the reason."""
        eui = device.dev_eui
        port = as_int(raw.f_port)
        if port is None:
            reason = f"uplink without a valid FPort ({raw.f_port!r:.40})"
        elif port == 0:
            reason = "uplink on FPort 0 (MAC commands only)"
        elif port != self.f_port:
            reason = f"uplink on FPort {port}, expected {self.f_port}"
        elif raw.data is MISSING:
            reason = "uplink without data"
        else:
            payload = b"" if raw.data is None else _payload(raw.data)
            if payload is not None:
                rssi, snr, gateways = link_quality(
                    raw.rx_info, self.rssi_keys, self.snr_key, self.gateway_path
                )
                return Uplink(
                    device=device,
                    f_port=port,
                    payload=payload,
                    f_cnt=as_int(raw.f_cnt),
                    rssi=rssi,
                    snr=snr,
                    gateway_count=gateways,
                    received_at=parse_time(raw.time),
                    decoded=raw.decoded if isinstance(raw.decoded, dict) else None,
                    simulated=raw.simulated,
                )
            reason = f"uplink data is not base64 ({raw.data!r:.40})"
        return Ignored(reason, topic, eui)

    def build_downlink(
        self,
        device: DeviceRef,
        payload: bytes,
        *,
        f_port: int | None = None,
        confirmed: bool = False,
        correlation_id: str | None = None,
    ) -> Downlink:
        """Topic and JSON for a downlink; ValueError when it cannot be addressed."""
        dev_eui = normalize_eui(device.dev_eui)
        if dev_eui is None:
            raise ValueError(f"Invalid DevEUI {device.dev_eui!r}")
        port = self.f_port if f_port is None else f_port
        if not MIN_F_PORT <= port <= MAX_F_PORT:
            raise ValueError(f"FPort must be {MIN_F_PORT}-{MAX_F_PORT}, got {port}")
        fields = DownlinkFields(
            dev_eui,
            port,
            b64encode(payload),
            confirmed,
            correlation_id or str(uuid.uuid4()),
        )
        topic, body = self.downlink_message(device, fields)
        return Downlink(topic, dumps(body), fields.correlation_id, self.qos)

    @abc.abstractmethod
    def downlink_message(
        self, device: DeviceRef, fields: DownlinkFields
    ) -> tuple[str, dict[str, Any]]:
        """Topic and JSON body of a checked downlink."""

    @staticmethod
    def no_device(topic: str, value: object) -> Ignored:
        """Ignored for a message without a usable DevEUI."""
        return Ignored(f"message without a valid DevEUI ({value!r:.40})", topic)


def _payload(data: object) -> bytes | None:
    return b64decode(data) if isinstance(data, str) else None
