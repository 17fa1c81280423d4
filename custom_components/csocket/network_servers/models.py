"""Neutral events and the adapter interface shared by every network server.

Pure Python: no Home Assistant import and no I/O, so the adapters can be tested
and reused on their own. The hub only ever sees these types.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ServerKind(StrEnum):
    """The network servers csocket speaks to."""

    CHIRPSTACK_V4 = "chirpstack_v4"
    CHIRPSTACK_V3 = "chirpstack_v3"
    TTS_V3 = "tts_v3"
    MILESIGHT = "milesight"


# Configuration keys read by the adapters (also stored in the config entry).
CONF_APPLICATION_ID = "application_id"
CONF_TENANT_ID = "tenant_id"
CONF_EVENT_TOPIC = "event_topic"
CONF_COMMAND_TOPIC = "command_topic"
CONF_TOPIC_STYLE = "topic_style"
CONF_MARSHALER = "marshaler"
CONF_UPLINK_TOPIC = "uplink_topic"
CONF_DOWNLINK_TOPIC = "downlink_topic"
CONF_F_PORT = "f_port"

DEFAULT_F_PORT = 85

# Ignored.code: the server publishes Protobuf; JSON must be enabled on it.
IGNORED_PROTOBUF = "protobuf"
# Ignored.code: a name, id or application that would address the device's
# downlinks is not a single MQTT topic level, or the message body contradicts
# the topic it arrived on. The reason names the device and the field.
IGNORED_INVALID_IDENTITY = "invalid_identity"
# Ignored.code: a DevEUI is present but not in the server's encoding.
IGNORED_INVALID_DEV_EUI = "invalid_dev_eui"

# DownlinkError.code: an id the downlink topic needs is not known (yet).
DOWNLINK_NOT_ADDRESSABLE = "not_addressable"
# DownlinkError.code: bad DevEUI, FPort or correlation id.
DOWNLINK_INVALID_REQUEST = "invalid_request"
# DownlinkError.code: the device's name, id or application is not a single
# MQTT topic level (e.g. restored from before csocket checked it).
DOWNLINK_INVALID_IDENTITY = "invalid_identity"
# DownlinkError.code: the built topic is not the device's command topic.
DOWNLINK_TOPIC_MISMATCH = "topic_mismatch"


class DownlinkError(ValueError):
    """A downlink cannot be addressed or built (e.g. the device id is unknown).

    code is one of the DOWNLINK_* values, stable for mapping to translations.
    """

    def __init__(self, message: str, code: str = DOWNLINK_NOT_ADDRESSABLE) -> None:
        """The message is English detail; code says which problem it is."""
        super().__init__(message)
        self.code = code


class DownlinkStatus(StrEnum):
    """Lifecycle of a downlink as reported by the network server."""

    QUEUED = "queued"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    NOT_ACKNOWLEDGED = "not_acknowledged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """Everything needed to address a device on its network server.

    Fields a server's downlink topic uses are one MQTT topic level each and,
    in parse() results, those of the DevEUI's first identity (Adapter.pin).
    """

    dev_eui: str  # 16 lowercase hex characters
    # From the configuration, or the topic an uplink arrived on; never a body.
    application_id: str | None = None
    device_id: str | None = None  # TTS device id; the server's device id otherwise
    device_name: str | None = None  # human name given on the network server


# Not frozen: a frozen dataclass's __init__ costs a slow object.__setattr__ per
# field, and every uplink builds one of these.
@dataclass(slots=True)
class Uplink:
    """One application uplink."""

    device: DeviceRef
    f_port: int
    payload: bytes
    f_cnt: int | None = None
    rssi: int | None = None  # best over all gateways
    snr: float | None = None  # best over all gateways
    gateway_count: int = 0
    received_at: datetime | None = None
    decoded: Mapping[str, Any] | None = None  # the server's own codec output
    simulated: bool = False
    # The name this uplink gives the device, for display only: where the name
    # addresses downlinks, `device` keeps the first one (Adapter.pin).
    name: str | None = None

    @property
    def dedup_key(self) -> tuple[str, int | None, bytes]:
        """Same key for the same frame delivered twice (gateways, redelivery)."""
        return (self.device.dev_eui, self.f_cnt, self.payload)


@dataclass(frozen=True, slots=True)
class Join:
    """The device (re)joined the network."""

    device: DeviceRef
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DownlinkResult:
    """What the network server says happened to a downlink."""

    status: DownlinkStatus
    dev_eui: str | None = None
    device_id: str | None = None
    correlation_id: str | None = None  # the id we sent, when the server echoes it
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message the adapter does not handle, with a human reason."""

    reason: str
    topic: str = ""
    dev_eui: str | None = None
    # Machine-readable cause when the user must act (e.g. IGNORED_PROTOBUF).
    code: str | None = None


type Event = Uplink | Join | DownlinkResult | Ignored


@dataclass(frozen=True, slots=True)
class Downlink:
    """A ready-to-publish downlink."""

    topic: str
    payload: bytes  # UTF-8 JSON
    correlation_id: str
    qos: int = 0


@dataclass(slots=True)
class Subscription:
    """A topic filter and the QoS the server supports for it."""

    topic: str
    qos: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class Adapter(abc.ABC):
    """One network server's MQTT dialect."""

    kind: ServerKind
    # Repair-issue translation key for Ignored(code=IGNORED_PROTOBUF).
    protobuf_issue: str = "chirpstack_protobuf"
    # The loopback probe (probe.py) checks a third-party broker's ACL; a
    # network server that is its own broker may refuse the publish.
    loopback_probe: bool = True
    # The server reports when a downlink leaves the gateway (DownlinkStatus.SENT).
    reports_transmission: bool = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Store the configuration (keys CONF_*)."""
        self.config = dict(config)
        self.f_port = int(config.get(CONF_F_PORT, DEFAULT_F_PORT))

    @abc.abstractmethod
    def subscriptions(self) -> list[Subscription]:
        """Topic filters for uplinks, joins and downlink results."""

    @abc.abstractmethod
    def parse(self, topic: str, payload: bytes) -> Event:
        """Turn one MQTT message into a neutral event; never raises."""

    @abc.abstractmethod
    def build_downlink(
        self,
        device: DeviceRef,
        payload: bytes,
        *,
        f_port: int | None = None,
        confirmed: bool = False,
        correlation_id: str | None = None,
    ) -> Downlink:
        """Topic and JSON for a downlink; a new correlation id when none given.

        DownlinkError when the device cannot be addressed or the topic would
        not be the device's command topic (see command_filter).
        """

    @abc.abstractmethod
    def command_filter(self, dev_eui: str) -> str:
        """MQTT filter every downlink topic of this device must match."""

    @abc.abstractmethod
    def pin(self, device: DeviceRef) -> None:
        """Fix the addressing of device.dev_eui to device's (e.g. from storage).

        Later uplinks naming the device differently change its display name
        only; downlinks keep the pinned application, device id and name.
        """
