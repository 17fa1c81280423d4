"""Helpers shared by the network-server adapters.

The value helpers are total: bad input gives None, never an exception, because
parse() runs on whatever anyone publishes on the broker.

parse() is on the path of every uplink, so it is written for speed: JSON is
decoded with orjson when available (Home Assistant always ships it, ~3x faster
than json), topics are matched with one precompiled regex, and values are
checked inline rather than through intermediate objects.
"""

from __future__ import annotations

import abc
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._address import AddressBook, Addressing, check_topic
from .models import (
    DOWNLINK_INVALID_REQUEST,
    IGNORED_PROTOBUF,
    Adapter,
    DeviceRef,
    Downlink,
    DownlinkError,
    DownlinkStatus,
    Event,
    Ignored,
    Join,
    Uplink,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence


def _json_loads() -> Callable[[bytes | str], Any]:
    """orjson.loads when installed (Home Assistant depends on it), else json.loads."""
    try:
        from orjson import loads  # noqa: PLC0415 - optional dependency
    except ImportError:
        return json.loads
    return loads


# JSON text to Python objects; ValueError on invalid JSON.
json_loads = _json_loads()

# MQTT single-level wildcard; also what an empty application id means.
WILDCARD: Final = "+"

# Marks a key that is absent, where absent and null mean different things.
MISSING: Final = object()

# Stands in for a missing JSON object, to read from without type checks.
EMPTY: Final[Mapping[str, Any]] = {}

# LoRaWAN application ports; 0 carries MAC commands, 224+ are reserved.
MIN_F_PORT: Final = 1
MAX_F_PORT: Final = 223

# Error/log codes about downlinks: ChirpStack v4 LogCode, v3 ErrorType (proto
# names like DOWNLINK_GATEWAY and the older as.ErrorType names like
# DATA_DOWN_GATEWAY / DEVICE_QUEUE_ITEM_SIZE).
_DOWNLINK_ERROR_PREFIXES: Final = ("DOWNLINK", "DATA_DOWN", "DEVICE_QUEUE_ITEM")
_DOWNLINK_ERROR_CODES: Final = frozenset({"F_CNT_DOWN", "EXPIRED"})

# ChirpStack's Handlebars placeholders: {{name}}.
HANDLEBARS: Final = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# What a template that is not matchable matches: nothing.
_NO_MATCH: Final = re.compile("(?!)")


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


def b64decode(text: str) -> bytes | None:
    """Decode strict base64 (what base64.b64decode(validate=True) does); or None."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None


def b64encode(data: bytes) -> str:
    """Base64 text of data."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def hex_eui(value: object) -> str | None:
    """16 lower-case hex digits from an EUI of 16 hex digits; None otherwise."""
    if not isinstance(value, str) or len(value) != 16:
        return None
    # fromhex skips whitespace, but 8 bytes need all 16 characters.
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 8 else None


def normalize_eui(value: object) -> str | None:
    """16 lower-case hex digits from a hex or base64 EUI; None when invalid.

    Only ChirpStack v3's "json" marshaler sends EUIs as base64 (12 characters
    for 8 bytes); every other format must use hex_eui().
    """
    if not isinstance(value, str):
        return None
    if len(value) == 16:
        return hex_eui(value)
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

    Entries of the same gateway (one per antenna on TTS) count once. One pass;
    numbers are the exact JSON types int and float (bool is neither).
    """
    if not isinstance(rx_info, list):
        return None, None, 0
    best_rssi: float | None = None  # int or float as sent
    best_snr: float | None = None
    gateways: set[str] = set()
    anonymous = 0
    rssi_key, rssi_fallbacks = rssi_keys[0], rssi_keys[1:]
    gateway_key, gateway_rest = gateway_path[0], gateway_path[1:]
    for entry in rx_info:
        if not isinstance(entry, dict):
            continue
        rssi = entry.get(rssi_key)
        if rssi_fallbacks and rssi.__class__ not in _NUMBER:
            rssi = _first_number(entry, rssi_fallbacks)
        if rssi.__class__ in _NUMBER and (best_rssi is None or rssi > best_rssi):
            best_rssi = rssi
        snr = entry.get(snr_key)
        if snr.__class__ in _NUMBER and (best_snr is None or snr > best_snr):
            best_snr = snr
        gateway = entry.get(gateway_key)
        for key in gateway_rest:  # TTS: gateway_ids.gateway_id
            gateway = gateway.get(key) if isinstance(gateway, dict) else None
        if gateway.__class__ is str and gateway:
            gateways.add(gateway)
        else:
            anonymous += 1
    return (
        round(best_rssi) if isinstance(best_rssi, float) else best_rssi,
        None if best_snr is None else float(best_snr),
        len(gateways) + anonymous,
    )


def _first_number(entry: dict[str, Any], keys: Sequence[str]) -> object:
    """The first int or float under keys in entry; None when there is none."""
    for key in keys:
        value = entry.get(key)
        if value.__class__ in _NUMBER:
            return value
    return None


_NUMBER: Final = (int, float)


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
    application_id: object = None,
    device_id: object = None,
    device_name: object = None,
    *,
    base64: bool = False,
) -> DeviceRef | None:
    """DeviceRef from raw JSON values; None without a valid DevEUI.

    The DevEUI must be 16 hex digits, or also base64 with base64=True (only
    ChirpStack v3's json marshaler uses it). A device sends the same values
    in every message, so the DeviceRef of recent ones is reused (it is
    immutable). Only str, int and None values are keys: 1 == 1.0 == True
    would mix up values that as_str() tells apart.
    """
    cacheable = (
        dev_eui.__class__ is str
        and application_id.__class__ in _KEY_TYPES
        and device_id.__class__ in _KEY_TYPES
        and device_name.__class__ in _KEY_TYPES
    )
    if cacheable:
        key = (dev_eui, application_id, device_id, device_name, base64)
        if (device := _DEVICES.get(key)) is not None:
            return device
    eui = normalize_eui(dev_eui) if base64 else hex_eui(dev_eui)
    if eui is None:
        return None
    device = DeviceRef(
        eui, as_str(application_id), as_str(device_id), as_str(device_name)
    )
    return remember(_DEVICES, key, device) if cacheable else device


def remember[K, V](cache: dict[K, V], key: K, value: V) -> V:
    """cache[key] = value; a full cache is emptied first (junk topics, devices)."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


# Entries of each cache of parse(): more than the sockets of the largest site
# (10 000 benchmarked), or round-robin uplinks empty a cache before any hit.
# The caches save ~7 % of the hub's time per uplink (in-process, 1 000 sockets);
# full, each holds a few MB.
CACHE_SIZE: Final = 16384
_KEY_TYPES: Final = frozenset({str, int, type(None)})
_DEVICES: Final[dict[tuple[object, object, object, object, bool], DeviceRef]] = {}


def config_text(config: Mapping[str, Any], key: str, default: str) -> str:
    """A stripped text setting; the default when absent or blank."""
    value = config.get(key)
    text = str(value).strip() if value is not None else ""
    return text or default


def application_of(device: DeviceRef, configured: str) -> str | None:
    """The configured application; for all applications, the device's.

    The device's application is the one of the topic its uplinks arrived on,
    never one named in a message body.
    """
    return device.application_id if configured == WILDCARD else configured


def configured_or_topic(configured: str, seen: str | None) -> str | None:
    """The application of a message: the configured one, else the topic's."""
    return seen if configured == WILDCARD else configured


class TopicTemplate:
    """A topic with placeholders, tokenised once.

    render() fills every placeholder, filter() turns the unknown ones into
    "+" wildcards for subscribing, match() extracts them from a topic.
    """

    __slots__ = ("_segments", "groups", "regex", "template", "variables")

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
        # match(): regex group i + 1 holds the value of groups[i].
        self.groups: tuple[str, ...] = ()
        self.regex = _NO_MATCH
        if matchable:
            # (prefix, variable or None, suffix) per level.
            matchers: list[tuple[str, str | None, str]] = []
            for segment in self._segments:
                names = [i for i, (_, is_var) in enumerate(segment) if is_var]
                if len(names) > 1:
                    raise ValueError(
                        f"Topic {template!r} has two placeholders in one level"
                    )
                if not names:
                    matchers.append(("".join(t for t, _ in segment), None, ""))
                    continue
                i = names[0]
                matchers.append(
                    (
                        "".join(t for t, _ in segment[:i]),
                        segment[i][0],
                        "".join(t for t, _ in segment[i + 1 :]),
                    )
                )
            # A value is the non-empty rest of a level between prefix and suffix.
            self.groups = tuple(name for _, name, _ in matchers if name)
            self.regex = re.compile(
                "/".join(
                    re.escape(prefix)
                    if name is None
                    else f"{re.escape(prefix)}([^/]+){re.escape(suffix)}"
                    for prefix, name, suffix in matchers
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
                    raise DownlinkError(
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
        """Placeholder values of a topic, or None when it does not fit.

        Only a matchable template matches anything.
        """
        found = self.regex.fullmatch(topic)
        if found is None:
            return None
        return dict(zip(self.groups, found.groups(), strict=True))


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
class DownlinkFields:
    """A checked downlink, ready to be put into a server's format."""

    dev_eui: str  # 16 lower-case hex digits
    f_port: int
    data: str  # base64
    confirmed: bool
    correlation_id: str


def other_application(configured: str, seen: str | None, topic: str) -> Ignored | None:
    """Ignored for a topic of another application than the configured one.

    Subscriptions already select the application; this guards against a
    broker still delivering an earlier configuration's topics.
    """
    if configured == WILDCARD or seen is None or seen == configured:
        return None
    return Ignored(f"topic of application {seen!r}, not {configured!r}", topic)


class JsonAdapter(Addressing, Adapter):
    """Base of the adapters: JSON decoding, uplink checks and downlink checks."""

    # Defaults of the keys this server uses, in display order.
    defaults: ClassVar[Mapping[str, Any]]
    qos: ClassVar[int] = 1
    # Appended to the reason when a message is binary (Protobuf) instead of JSON.
    binary_hint: ClassVar[str] = ""
    rssi_keys: ClassVar[tuple[str, ...]] = ("rssi",)
    snr_key: ClassVar[str] = "snr"
    gateway_path: ClassVar[tuple[str, ...]]

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Store the configuration; no device is addressed yet."""
        super().__init__(config)
        self.address_book = AddressBook()

    def parse(self, topic: str, payload: bytes) -> Event:
        """Turn one MQTT message into a neutral event; never raises."""
        try:
            obj = json_loads(payload)
        except (ValueError, TypeError, RecursionError):
            return self._not_json(topic, payload)
        if not isinstance(obj, dict):
            return Ignored("payload is JSON but not an object", topic)
        try:
            return self.parse_object(topic, obj)
        except Exception as err:  # noqa: BLE001 - last resort: never raise to the hub
            return Ignored(f"could not parse message: {err!r}", topic)

    def _not_json(self, topic: str, payload: bytes) -> Ignored:
        # Broken JSON starts like JSON; anything else is most likely Protobuf.
        head = payload.lstrip()[:1] if isinstance(payload, bytes | str) else b""
        if head in (b"{", b"[", "{", "[") or not self.binary_hint:
            return Ignored("payload is not valid JSON", topic)
        return Ignored(
            f"payload is not JSON; {self.binary_hint}", topic, code=IGNORED_PROTOBUF
        )

    @abc.abstractmethod
    def parse_object(self, topic: str, obj: dict[str, Any]) -> Event:
        """Turn one decoded JSON object into a neutral event."""

    def uplink(  # noqa: PLR0913, PLR0917 - the raw values, no intermediate object
        self,
        topic: str,
        device: DeviceRef,
        f_port: object,
        data: object,
        f_cnt: object,
        rx_info: object,
        time: object,
        decoded: object = None,
        simulated: bool = False,
    ) -> Uplink | Ignored:
        """Uplink from raw JSON values, or Ignored with the reason.

        data is base64 text; None is an empty payload; MISSING is an error.
        """
        port = f_port if type(f_port) is int else as_int(f_port)
        if port is None:
            reason = f"uplink without a valid FPort ({f_port!r:.40})"
        elif port == 0:
            reason = "uplink on FPort 0 (MAC commands only)"
        elif port != self.f_port:
            reason = f"uplink on FPort {port}, expected {self.f_port}"
        elif data is MISSING:
            reason = "uplink without data"
        else:
            payload = b"" if data is None else _payload(data)
            if payload is not None:
                identified = self.identify(topic, device)
                if isinstance(identified, Ignored):
                    return identified
                rssi, snr, gateways = link_quality(
                    rx_info, self.rssi_keys, self.snr_key, self.gateway_path
                )
                return Uplink(
                    identified,
                    port,
                    payload,
                    f_cnt if type(f_cnt) is int else as_int(f_cnt),
                    rssi,
                    snr,
                    gateways,
                    parse_time(time),
                    decoded if isinstance(decoded, dict) else None,
                    simulated,
                    device.device_name or device.device_id,
                )
            reason = f"uplink data is not base64 ({data!r:.40})"
        return Ignored(reason, topic, device.dev_eui)

    def join(self, topic: str, device: DeviceRef, time: object) -> Join | Ignored:
        """Join of the device as it is addressed, or Ignored with the reason."""
        identified = self.identify(topic, device)
        if isinstance(identified, Ignored):
            return identified
        return Join(identified, parse_time(time))

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
        dev_eui = hex_eui(device.dev_eui)
        if dev_eui is None:
            raise DownlinkError(
                f"Invalid DevEUI {device.dev_eui!r}", DOWNLINK_INVALID_REQUEST
            )
        port = self.f_port if f_port is None else f_port
        if not MIN_F_PORT <= port <= MAX_F_PORT:
            raise DownlinkError(
                f"FPort must be {MIN_F_PORT}-{MAX_F_PORT}, got {port}",
                DOWNLINK_INVALID_REQUEST,
            )
        device = self.addressed(device, dev_eui)
        fields = DownlinkFields(
            dev_eui,
            port,
            b64encode(payload),
            confirmed,
            correlation_id or str(uuid.uuid4()),
        )
        topic, body = self.downlink_message(device, fields)
        check_topic(topic, self.command_filter(dev_eui))
        # Addressed as the hub knows it when no uplink was seen (yet).
        self.address_book.settle(device, self.address_fields())
        return Downlink(topic, dumps(body), fields.correlation_id, self.qos)

    @abc.abstractmethod
    def downlink_message(
        self, device: DeviceRef, fields: DownlinkFields
    ) -> tuple[str, dict[str, Any]]:
        """Topic and JSON body of a checked downlink."""


def _payload(data: object) -> bytes | None:
    return b64decode(data) if isinstance(data, str) else None
