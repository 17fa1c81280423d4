"""The network servers the simulator can play, by their --format name."""

from __future__ import annotations

from typing import Final

from .base import (
    CommandRejected,
    DownlinkRequest,
    Message,
    NetworkServer,
    Reception,
    UplinkFrame,
)
from .chirpstack import ChirpStackV3, ChirpStackV4
from .milesight import MilesightGateway
from .tts import DEFAULT_TENANT_ID, TheThingsStack

SERVERS: Final[dict[str, type[NetworkServer]]] = {
    cls.kind: cls
    for cls in (ChirpStackV4, ChirpStackV3, TheThingsStack, MilesightGateway)
}

__all__ = [
    "DEFAULT_TENANT_ID",
    "SERVERS",
    "ChirpStackV3",
    "ChirpStackV4",
    "CommandRejected",
    "DownlinkRequest",
    "Message",
    "MilesightGateway",
    "NetworkServer",
    "Reception",
    "TheThingsStack",
    "UplinkFrame",
]
