"""LoRaWAN airtime and the gateways: one downlink on air at a time per gateway.

A LoRaWAN gateway's radio is half duplex and transmits one frame at a time.
For a Class C device the network server sends every downlink at once (in
EU868's RX2: 869.525 MHz, SF12 by default; SF9 on The Things Network), so a
burst of downlinks waits in the gateway's queue, goes on air back to back, and
the gateway hears nothing while it transmits: an uplink that arrives then is
lost unless another gateway hears the device.

Time on air (Semtech AN1200.13 "LoRa Modem Designer's Guide", SX1276
datasheet section 4.1.1.6), for PL bytes of PHY payload:

    T_sym      = 2^SF / BW
    T_preamble = (n_preamble + 4.25) * T_sym
    n_payload  = 8 + max(ceil((8 PL - 4 SF + 28 + 16 CRC - 20 IH)
                              / (4 (SF - 2 DE))) * (CR + 4), 0)
    T          = T_preamble + n_payload * T_sym

LoRaWAN adds 13 bytes to the application payload (MHDR 1, DevAddr 4, FCtrl 1,
FCnt 2, FPort 1, MIC 4); EU868 uses an 8-symbol preamble, an explicit header
(IH 0), coding rate 4/5 (CR 1) and the low-data-rate optimisation (DE 1) at
SF11 and SF12 on 125 kHz; downlinks carry no payload CRC (CRC 0). csocket's
7-byte on/off frame (``080100ff ff28ff``) is 20 PHY bytes: 12.25 + 28 symbols
of 32.768 ms at SF12, 1.319 s on air (the TTN airtime calculator agrees).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

# MHDR, DevAddr, FCtrl, FCnt, FPort, MIC of a frame without FOpts.
LORAWAN_OVERHEAD: Final = 13
BANDWIDTH: Final = 125_000
PREAMBLE_SYMBOLS: Final = 8
CODING_RATE: Final = 1  # 4/5
RX2_SPREADING_FACTOR: Final = 12  # EU868 RX2 default (DR0)
SPREADING_FACTORS: Final = range(7, 13)
# Gateway n (1-based) of the simulation; gateway 1 keeps the id of the
# simulator's single gateway before gateways were modelled.
GATEWAY_ID_PREFIX: Final = "0016c001f15"


def time_on_air(
    payload_length: int,
    spreading_factor: int = RX2_SPREADING_FACTOR,
    *,
    crc: bool = False,
    bandwidth: int = BANDWIDTH,
) -> float:
    """Seconds on air of a LoRaWAN frame with payload_length application bytes.

    crc: uplinks carry a payload CRC, downlinks do not.
    """
    if spreading_factor not in SPREADING_FACTORS:
        raise ValueError(f"spreading factor must be 7-12, got {spreading_factor}")
    symbol = (1 << spreading_factor) / bandwidth
    optimise = int(bandwidth == BANDWIDTH and spreading_factor >= 11)
    phy = payload_length + LORAWAN_OVERHEAD
    bits = 8 * phy - 4 * spreading_factor + 28 + 16 * int(crc)
    blocks = math.ceil(bits / (4 * (spreading_factor - 2 * optimise)))
    symbols = 8 + max(blocks * (CODING_RATE + 4), 0)
    return (PREAMBLE_SYMBOLS + 4.25 + symbols) * symbol


def gateway_id(number: int) -> str:
    """The EUI of gateway number (1-based)."""
    return f"{GATEWAY_ID_PREFIX}{number:05x}"


class Clock:
    """Radio time in seconds on the running loop's clock.

    scale is wall seconds per radio second: tests run twenty 1.3 s frames in
    a fraction of a second with a scale below 1 and still read radio times.
    """

    def __init__(self, scale: float = 1.0) -> None:
        """A clock whose radio time starts at 0 when first read."""
        if scale <= 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self.scale = scale
        self._origin: float | None = None

    def now(self) -> float:
        """Radio seconds since the clock was first read."""
        wall = asyncio.get_running_loop().time()
        if self._origin is None:
            self._origin = wall
        return (wall - self._origin) / self.scale

    async def sleep_until(self, when: float) -> None:
        """Return at radio time when (at once when it is past)."""
        delay = when - self.now()
        if delay > 0:
            await asyncio.sleep(delay * self.scale)


@dataclass(frozen=True, slots=True)
class Transmission:
    """One downlink on air: device, gateway and radio times."""

    dev_eui: str
    gateway_id: str
    start: float
    end: float


class Gateway:
    """One gateway: a FIFO of downlinks, transmitted one at a time."""

    def __init__(self, number: int, clock: Clock) -> None:
        """An idle gateway."""
        self.number = number
        self.id = gateway_id(number)
        self.clock = clock
        self.current: Transmission | None = None
        # Every transmission, for tests and the log (bounded: a long run).
        self.history: deque[Transmission] = deque(maxlen=10_000)
        # Downlinks waiting or on air, in arrival order; the first has the turn.
        self._queue: deque[asyncio.Future[None]] = deque()
        self._free_at = 0.0

    def enqueue(self) -> asyncio.Future[None]:
        """A place in the queue, taken now (not when a task gets to run)."""
        place = asyncio.get_running_loop().create_future()
        if not self._queue:
            place.set_result(None)
        self._queue.append(place)
        return place

    @property
    def queued(self) -> int:
        """Downlinks waiting or on air."""
        return len(self._queue)

    def transmitting(self, at: float) -> bool:
        """Whether the gateway is on air (and deaf) at radio time at."""
        current = self.current
        return current is not None and current.start <= at < current.end

    @contextlib.asynccontextmanager
    async def turn(self, place: asyncio.Future[None]) -> AsyncIterator[Slot]:
        """Wait until every downlink queued before place is done."""
        waited = not place.done()
        try:
            await place
            # A gateway's queue sends back to back: a frame that waited starts
            # when the previous one ended, not when this task got to run.
            slot = Slot(self, self._free_at if waited else self.clock.now())
            try:
                yield slot
            finally:
                self.current = None
                self._free_at = max(self._free_at, slot.end)
        finally:
            self._leave(place)

    def _leave(self, place: asyncio.Future[None]) -> None:
        if self._queue and self._queue[0] is place:
            self._queue.popleft()
            if self._queue:
                self._queue[0].set_result(None)
        else:  # cancelled while waiting
            self._queue.remove(place)
            place.cancel()

    def __repr__(self) -> str:
        """Number and EUI, for the log."""
        return f"gateway {self.number} ({self.id})"


class Slot:
    """A gateway's turn for one downlink: transmit it or give the turn back."""

    def __init__(self, gateway: Gateway, start: float) -> None:
        """The turn starts at radio time start."""
        self.gateway = gateway
        self.start = start
        self.end = start

    def begin(self, dev_eui: str, airtime: float) -> Transmission:
        """The frame leaves the gateway: on air for airtime seconds from now."""
        transmission = Transmission(
            dev_eui, self.gateway.id, self.start, self.start + airtime
        )
        self.end = transmission.end
        if airtime > 0:
            self.gateway.current = transmission
        self.gateway.history.append(transmission)
        return transmission

    async def finish(self) -> None:
        """Wait until the frame has left the antenna."""
        await self.gateway.clock.sleep_until(self.end)


class Radio:
    """The gateways, which sockets each hears, and downlink airtime."""

    def __init__(
        self,
        gateways: int = 1,
        coverage: Mapping[int, frozenset[int]] | None = None,
        *,
        airtime: float | None = None,
        spreading_factor: int = RX2_SPREADING_FACTOR,
        clock: Clock | None = None,
    ) -> None:
        """gateways numbered from 1; coverage: gateway -> sockets it hears.

        A gateway missing from coverage hears every socket. airtime None
        computes each downlink's time on air at spreading_factor; a number is
        the airtime of every downlink (0: no airtime, for fast tests).
        """
        time_on_air(0, spreading_factor)  # ValueError for a bad factor
        self.clock = clock or Clock()
        self.gateways = [Gateway(n, self.clock) for n in range(1, gateways + 1)]
        self.coverage = dict(coverage or {})
        self.fixed_airtime = airtime
        self.spreading_factor = spreading_factor

    def airtime(self, payload_length: int) -> float:
        """Seconds on air of a downlink with payload_length bytes."""
        if self.fixed_airtime is not None:
            return self.fixed_airtime
        return time_on_air(payload_length, self.spreading_factor)

    def hearing(self, socket: int) -> list[Gateway]:
        """The gateways in range of socket number socket (1-based)."""
        return [
            gateway
            for gateway in self.gateways
            if socket in self.coverage.get(gateway.number, (socket,))
        ]

    def downlink_gateway(self, socket: int) -> Gateway | None:
        """The gateway the network server sends through: the first in range.

        A real server picks the best one of the last uplink; the first keeps
        the simulation repeatable.
        """
        hearing = self.hearing(socket)
        return hearing[0] if hearing else None

    def receivers(self, socket: int) -> list[Gateway]:
        """The gateways that receive an uplink of socket sent now."""
        now = self.clock.now()
        return [g for g in self.hearing(socket) if not g.transmitting(now)]
