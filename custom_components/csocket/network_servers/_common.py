"""The adapters' base class and what the adapters share besides JSON values.

parse() is on the path of every uplink, so it is written for speed: JSON is
decoded with orjson when available (Home Assistant always ships it, ~3x faster
than json), topics are matched with one precompiled regex (topic_template),
and values are checked inline rather than through intermediate objects
(values).
"""

from __future__ import annotations

import abc
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._address import AddressBook, Addressing, check_topic
from .models import (
    DOWNLINK_INVALID_REQUEST,
    IGNORED_PROTOBUF,
    Adapter,
    Downlink,
    DownlinkError,
    DownlinkStatus,
    Event,
    Ignored,
    Join,
    Uplink,
)
from .values import (
    as_int,
    b64decode,
    b64encode,
    dumps,
    hex_eui,
    link_quality,
    parse_time,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .models import DeviceRef


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


def application_of(device: DeviceRef, configured: str) -> str | None:
    """The configured application; for all applications, the device's.

    The device's application is the one of the topic its uplinks arrived on,
    never one named in a message body.
    """
    return device.application_id if configured == WILDCARD else configured


def configured_or_topic(configured: str, seen: str | None) -> str | None:
    """The application of a message: the configured one, else the topic's."""
    return seen if configured == WILDCARD else configured


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
