"""What every simulated network server shares: requests, frames and messages."""

from __future__ import annotations

import abc
import base64
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from simulator.device import SimulatedSocket

# (topic, JSON body) of one message the server publishes.
type Message = tuple[str, dict[str, Any]]

APPLICATION_NAME: Final = "csocket simulator"
# EU868 uplink channels and the RX2 frequency every Class C downlink uses.
EU868_CHANNELS: Final = (868100000, 868300000, 868500000, 867100000, 867300000)
RX2_FREQUENCY: Final = 869525000


class CommandRejected(ValueError):
    """The server drops a downlink command (it only logs why)."""


@dataclass(frozen=True, slots=True)
class DownlinkRequest:
    """One downlink command as the server queues it."""

    dev_eui: str
    f_port: int
    data: bytes
    confirmed: bool
    item: str  # the server's id of the queue item
    correlation_ids: tuple[str, ...] = ()  # The Things Stack echoes these


@dataclass(frozen=True, slots=True)
class Reception:
    """One gateway that received an uplink."""

    gateway_id: str
    gateway_number: int
    rssi: int
    snr: float


@dataclass(frozen=True, slots=True)
class UplinkFrame:
    """One uplink as the gateways received it."""

    f_cnt: int
    f_port: int
    payload: bytes
    spreading_factor: int
    frequency: int
    receptions: tuple[Reception, ...]


def now() -> str:
    """The current UTC time in RFC 3339, as every server writes it."""
    return datetime.now(UTC).isoformat()


def b64(data: bytes) -> str:
    """Base64 text of data."""
    return base64.b64encode(data).decode()


def json_object(payload: object) -> dict[str, Any]:
    """An MQTT payload as a JSON object; CommandRejected otherwise."""
    if not isinstance(payload, bytes | bytearray | str):
        raise CommandRejected("empty payload")
    try:
        value = json.loads(payload)
    except ValueError as err:
        raise CommandRejected(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise CommandRejected("not a JSON object")
    return value


def base64_field(value: object, name: str) -> bytes:
    """Strict base64 from a command's field; CommandRejected otherwise."""
    if not isinstance(value, str):
        raise CommandRejected(f"no {name!r} (this network server has no codec)")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as err:
        raise CommandRejected(f"{name!r} is not base64: {err}") from None


def numeric_application_id(text: str, server: str) -> str:
    """A numeric application id (ChirpStack v3, Milesight); ValueError otherwise."""
    if not text.isdecimal():
        raise ValueError(f"a {server} application id is a number, got {text!r}")
    return str(int(text))


def f_port_field(value: object, highest: int) -> int:
    """A command's FPort, 1..highest; CommandRejected otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandRejected(f"fPort must be a number, got {value!r}")
    if not 1 <= value <= highest:
        raise CommandRejected(f"fPort must be between 1 - {highest}, got {value}")
    return value


class NetworkServer(abc.ABC):
    """The MQTT dialect of one network server."""

    kind: ClassVar[str]  # the --format value
    title: ClassVar[str]
    default_application_id: ClassVar[str]
    # Whether the server reports the moment a downlink leaves the gateway.
    reports_transmission: ClassVar[bool] = True

    def __init__(self, application_id: str, rng: random.Random) -> None:
        """application_id as check_application_id() returns it."""
        self.application_id = self.check_application_id(application_id)
        self.rng = rng

    @staticmethod
    @abc.abstractmethod
    def check_application_id(text: str) -> str:
        """The application id in the server's form; ValueError when invalid."""

    @property
    @abc.abstractmethod
    def command_filter(self) -> str:
        """The topic filter the server receives downlink commands on."""

    @abc.abstractmethod
    def parse_command(self, topic: str, payload: object) -> list[DownlinkRequest]:
        """The downlinks of a command; CommandRejected when the server drops it."""

    @abc.abstractmethod
    def join(self, sock: SimulatedSocket) -> Message | None:
        """The join event, when the server has one."""

    @abc.abstractmethod
    def uplink(self, sock: SimulatedSocket, frame: UplinkFrame) -> Message:
        """The uplink event."""

    def queued(self, sock: SimulatedSocket, request: DownlinkRequest) -> Message | None:
        """The event of a downlink entering the queue, when the server has one."""
        return None

    @abc.abstractmethod
    def sent(
        self, sock: SimulatedSocket, request: DownlinkRequest, gateway_id: str
    ) -> Message | None:
        """The event of a downlink leaving the gateway (txack, down/sent).

        None where the server does not report it (reports_transmission).
        """

    @abc.abstractmethod
    def ack(self, sock: SimulatedSocket, request: DownlinkRequest) -> Message | None:
        """The event of a confirmed downlink acknowledged by the device."""

    @abc.abstractmethod
    def failed(
        self, sock: SimulatedSocket, request: DownlinkRequest, reason: str
    ) -> Message | None:
        """The event of a downlink the server could not send."""

    def random_id(self, size: int = 4) -> str:
        """Base64 of size random bytes (contexts, tokens)."""
        return b64(self.rng.randbytes(size))
