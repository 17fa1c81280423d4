"""Network-server adapters: MQTT topics and JSON of each LoRaWAN server.

Pure Python (no Home Assistant, no I/O). create_adapter() raises ValueError
for a configuration the server cannot work with, so a config flow can call
it to validate user input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._common import MAX_F_PORT, MIN_F_PORT
from .chirpstack_v3 import (
    MARSHALER_JSON,
    MARSHALER_JSON_V3,
    MARSHALERS,
    TOPIC_STYLE_EVENT,
    TOPIC_STYLE_LEGACY,
    TOPIC_STYLES,
    ChirpStackV3Adapter,
)
from .chirpstack_v4 import (
    DEFAULT_COMMAND_TOPIC,
    DEFAULT_EVENT_TOPIC,
    ChirpStackV4Adapter,
)
from .milesight import DEFAULT_DOWNLINK_TOPIC, DEFAULT_UPLINK_TOPIC, MilesightAdapter
from .models import (
    CONF_APPLICATION_ID,
    CONF_COMMAND_TOPIC,
    CONF_DOWNLINK_TOPIC,
    CONF_EVENT_TOPIC,
    CONF_F_PORT,
    CONF_MARSHALER,
    CONF_TENANT_ID,
    CONF_TOPIC_STYLE,
    CONF_UPLINK_TOPIC,
    DEFAULT_F_PORT,
    DOWNLINK_INVALID_IDENTITY,
    DOWNLINK_INVALID_REQUEST,
    DOWNLINK_NOT_ADDRESSABLE,
    DOWNLINK_TOPIC_MISMATCH,
    IGNORED_INVALID_DEV_EUI,
    IGNORED_INVALID_IDENTITY,
    IGNORED_PROTOBUF,
    Adapter,
    DeviceRef,
    Downlink,
    DownlinkError,
    DownlinkResult,
    DownlinkStatus,
    Event,
    Ignored,
    Join,
    ServerKind,
    Subscription,
    Uplink,
)
from .tts_v3 import CORRELATION_PREFIX, DEFAULT_TENANT_ID, TtsV3Adapter

if TYPE_CHECKING:
    from collections.abc import Mapping

ADAPTERS: Final[dict[ServerKind, type[Adapter]]] = {
    ServerKind.CHIRPSTACK_V4: ChirpStackV4Adapter,
    ServerKind.CHIRPSTACK_V3: ChirpStackV3Adapter,
    ServerKind.TTS_V3: TtsV3Adapter,
    ServerKind.MILESIGHT: MilesightAdapter,
}
_CLASSES: Final = (
    ChirpStackV4Adapter,
    ChirpStackV3Adapter,
    TtsV3Adapter,
    MilesightAdapter,
)

# Default settings of each server for the config flow.
DEFAULTS: Final[dict[ServerKind, dict[str, Any]]] = {
    cls.kind: dict(cls.defaults) for cls in _CLASSES
}
# The CONF_* keys each server uses, in display order.
OPTIONS_FOR_KIND: Final[dict[ServerKind, tuple[str, ...]]] = {
    cls.kind: tuple(cls.defaults) for cls in _CLASSES
}


def create_adapter(kind: ServerKind | str, config: Mapping[str, Any]) -> Adapter:
    """The adapter for kind; ValueError for an unknown kind or a bad setting."""
    return ADAPTERS[ServerKind(kind)](config)


__all__ = [
    "ADAPTERS",
    "CONF_APPLICATION_ID",
    "CONF_COMMAND_TOPIC",
    "CONF_DOWNLINK_TOPIC",
    "CONF_EVENT_TOPIC",
    "CONF_F_PORT",
    "CONF_MARSHALER",
    "CONF_TENANT_ID",
    "CONF_TOPIC_STYLE",
    "CONF_UPLINK_TOPIC",
    "CORRELATION_PREFIX",
    "DEFAULTS",
    "DEFAULT_COMMAND_TOPIC",
    "DEFAULT_DOWNLINK_TOPIC",
    "DEFAULT_EVENT_TOPIC",
    "DEFAULT_F_PORT",
    "DEFAULT_TENANT_ID",
    "DEFAULT_UPLINK_TOPIC",
    "DOWNLINK_INVALID_IDENTITY",
    "DOWNLINK_INVALID_REQUEST",
    "DOWNLINK_NOT_ADDRESSABLE",
    "DOWNLINK_TOPIC_MISMATCH",
    "IGNORED_INVALID_DEV_EUI",
    "IGNORED_INVALID_IDENTITY",
    "IGNORED_PROTOBUF",
    "MARSHALERS",
    "MARSHALER_JSON",
    "MARSHALER_JSON_V3",
    "MAX_F_PORT",
    "MIN_F_PORT",
    "OPTIONS_FOR_KIND",
    "TOPIC_STYLES",
    "TOPIC_STYLE_EVENT",
    "TOPIC_STYLE_LEGACY",
    "Adapter",
    "ChirpStackV3Adapter",
    "ChirpStackV4Adapter",
    "DeviceRef",
    "Downlink",
    "DownlinkError",
    "DownlinkResult",
    "DownlinkStatus",
    "Event",
    "Ignored",
    "Join",
    "MilesightAdapter",
    "ServerKind",
    "Subscription",
    "TtsV3Adapter",
    "Uplink",
    "create_adapter",
]
