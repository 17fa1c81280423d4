"""Airtime pacing: one switch command per broker on air at a time.

A LoRaWAN gateway is half duplex and transmits one frame at a time. Twenty
switch commands published together leave the gateway transmitting back to
back, and each socket's confirming report, sent a moment after its frame
arrived, reaches the gateway while it sends the next socket's frame: it is
lost, and every socket but the last would fail to confirm (and be retried,
costing more air). So csocket releases the next switch command only when
the previous one is settled (confirmed or failed) or, for a socket that does
not answer, GUARD seconds after its frame went on air. The gateway is silent
when the report comes, and no airtime goes to retries.

One gate per broker, not per gateway: the network server picks a gateway per
downlink and says which only at transmission, so several gateways are paced
as if they were one: slower, never lossy. The entries on one broker share the
gate: they are applications of one network server, whose gateways serve them
all (more than about 625 sockets need a second application and entry on Home
Assistant 2026.7+, and a scene may switch sockets of both).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Final
from weakref import WeakValueDictionary

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

# Seconds after transmission before the next command may go on air although
# the socket has not answered: an on/off frame is 1.32 s on air at SF12 and
# the socket answers within about a second; the rest is margin for the
# network server and broker.
GUARD: Final = 5.0


class AirGate:
    """A FIFO of turns on air; one turn is held at a time."""

    def __init__(self) -> None:
        """An idle gate."""
        self._holder: asyncio.Future[None] | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Turns held or waiting."""
        return len(self._waiting) + (self._holder is not None)

    async def turn(self, settled: asyncio.Future[Any]) -> asyncio.Future[None] | None:
        """Wait for the air; the turn, or None when `settled` completed first.

        `settled` is the command's outcome: a command superseded or failed
        while it waits gives its place up at once.
        """
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self._pass()
        try:
            await asyncio.wait((turn, settled), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self.release(turn)
            raise
        if settled.done():
            self.release(turn)
            return None
        return turn

    def release(self, turn: asyncio.Future[None]) -> None:
        """Give the turn (held or awaited) back; later calls do nothing."""
        if turn is self._holder:
            self._holder = None
            self._pass()
        elif turn in self._waiting:
            self._waiting.remove(turn)
            turn.cancel()

    def _pass(self) -> None:
        if self._holder is None and self._waiting:
            self._holder = self._waiting.popleft()
            self._holder.set_result(None)


# Broker location -> its gate, while an entry on that broker holds it.
_GATES: HassKey[WeakValueDictionary[str, AirGate]] = HassKey(f"{DOMAIN}_air_gates")


def broker_gate(hass: HomeAssistant, location: str) -> AirGate:
    """The gate of the broker at `location` (host:port), shared by its entries."""
    gates = hass.data.setdefault(_GATES, WeakValueDictionary())
    if (gate := gates.get(location)) is None:
        gate = gates[location] = AirGate()
    return gate


class Turn:
    """One command's place at the gate, with the guards that end it early."""

    def __init__(self, gate: AirGate) -> None:
        """Not waiting yet."""
        self._gate = gate
        self._turn: asyncio.Future[None] | None = None
        self._guards: list[asyncio.TimerHandle] = []

    async def take(self, settled: asyncio.Future[Any]) -> bool:
        """Wait for the air; False when the command settled first."""
        self._turn = await self._gate.turn(settled)
        return self._turn is not None

    def release_after(self, seconds: float) -> None:
        """Let the next command go on air in `seconds` at the latest."""
        if self._turn is not None:
            handle = asyncio.get_running_loop().call_later(
                seconds, self._gate.release, self._turn
            )
            self._guards.append(handle)

    def release(self) -> None:
        """Give the air back now (the command settled)."""
        for guard in self._guards:
            guard.cancel()
        if self._turn is not None:
            self._gate.release(self._turn)
