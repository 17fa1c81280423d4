"""The simulator's settings (the command line builds one of these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .device import DEFAULT_F_PORT
from .radio import RX2_SPREADING_FACTOR
from .servers import DEFAULT_TENANT_ID, ChirpStackV4

DEFAULT_SOCKETS: Final = 3
DEFAULT_INTERVAL: Final = 60.0
DEFAULT_LATENCY: Final = 1.0
DEFAULT_FORMAT: Final = ChirpStackV4.kind
DEFAULT_APPLICATION_ID: Final = ChirpStackV4.default_application_id
# What a simulated failure says: a ChirpStack gateway TxAck status.
DEFAULT_FAIL_REASON: Final = "COLLISION_PACKET"


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the simulator can be told.

    application_id None is the format's default. airtime None computes each
    downlink's time on air at spreading_factor; 0 turns airtime off. coverage
    maps a gateway number to the socket numbers it hears (a gateway missing
    there hears every socket). time_scale is wall seconds per radio second
    (tests only): it speeds up airtime, not latency, reports or delay tasks,
    which stay in wall seconds. The downlinks of the sockets in fail_downlinks
    fail at the network server with fail_reason when their turn comes.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    sockets: int = DEFAULT_SOCKETS
    interval: float = DEFAULT_INTERVAL
    application_id: str | None = None
    f_port: int = DEFAULT_F_PORT
    latency: float = DEFAULT_LATENCY
    qos: int = 1
    seed: int | None = None
    state: Path | None = None
    once: bool = False
    format: str = DEFAULT_FORMAT
    tenant_id: str = DEFAULT_TENANT_ID
    gateways: int = 1
    coverage: Mapping[int, frozenset[int]] = field(default_factory=dict)
    airtime: float | None = None
    spreading_factor: int = RX2_SPREADING_FACTOR
    time_scale: float = 1.0
    fail_downlinks: frozenset[int] = frozenset()
    fail_reason: str = DEFAULT_FAIL_REASON
