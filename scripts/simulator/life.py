"""What the sockets do by themselves: join, report, answer, run delay tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Final, Protocol

from .protocol import describe, parse_downlink

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from .device import Answer, SimulatedSocket
    from .servers import DownlinkRequest

_LOGGER: Final = logging.getLogger("csocket.simulate")

REBOOT_TIME: Final = 3.0  # a rebooting socket is silent this many latencies


class Link(Protocol):
    """The network server as the sockets see it."""

    async def uplink(self, sock: SimulatedSocket, payload: bytes, what: str) -> bool:
        """Send an uplink; False when no gateway received it."""

    async def joined(self, sock: SimulatedSocket) -> None:
        """The socket (re)joined."""

    async def acknowledge(
        self, sock: SimulatedSocket, request: DownlinkRequest
    ) -> None:
        """The socket acknowledged a confirmed downlink."""

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that ends with the simulator."""

    def save_state(self) -> None:
        """Save the sockets' state."""


class SocketLife:
    """The timing of every socket's behaviour; the radio is the link's job."""

    def __init__(self, link: Link, latency: float) -> None:
        """latency: seconds between receiving a downlink and answering it."""
        self._link = link
        self.latency = latency
        # The pending delay task of each socket.
        self._delay_tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._next_report: dict[str, float] = {}

    def _lock(self, sock: SimulatedSocket) -> asyncio.Lock:
        return self._locks.setdefault(sock.dev_eui, asyncio.Lock())

    async def boot(self, sock: SimulatedSocket) -> None:
        """Join, then basic information and a first report (user guide 4.1)."""
        sock.join()
        _LOGGER.info("%s joined (DevAddr %s)", sock, sock.dev_addr)
        await self._link.joined(sock)
        await self._link.uplink(sock, sock.basic_info(), "basic information")
        payload, reading = sock.report()
        await self._link.uplink(sock, payload, f"report: {describe(reading)}")
        self._schedule_report(sock)

    def _schedule_report(self, sock: SimulatedSocket) -> None:
        loop = asyncio.get_running_loop()
        self._next_report[sock.dev_eui] = loop.time() + sock.report_interval
        self._wake.setdefault(sock.dev_eui, asyncio.Event()).set()

    async def report_loop(self, sock: SimulatedSocket) -> None:
        """Periodic reports; rescheduled by a new interval or a reboot."""
        loop = asyncio.get_running_loop()
        wake = self._wake.setdefault(sock.dev_eui, asyncio.Event())
        while True:
            wake.clear()
            due = self._next_report.get(sock.dev_eui, loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(due - loop.time(), 0)):
                    await wake.wait()
                continue  # rescheduled
            async with self._lock(sock):
                self._next_report[sock.dev_eui] = loop.time() + sock.report_interval
                payload, reading = sock.report()
                await self._link.uplink(sock, payload, f"report: {describe(reading)}")
                await self._check_overcurrent(sock)
            self._link.save_state()

    async def _check_overcurrent(self, sock: SimulatedSocket) -> None:
        match sock.overcurrent():
            case "trip":
                _LOGGER.warning(
                    "%s: current above the protection threshold (%s A): power cut",
                    sock,
                    sock.settings.protection_threshold,
                )
                payload, reading = sock.report(changed=True)
                await self._link.uplink(
                    sock, payload, f"protection trip: {describe(reading)}"
                )
            case "alarm":
                payload, reading = sock.report()
                await self._link.uplink(
                    sock, payload, f"overcurrent alarm: {describe(reading)}"
                )
            case _:
                pass

    async def receive(self, sock: SimulatedSocket, request: DownlinkRequest) -> None:
        """The socket got the frame: it answers after its latency."""
        async with self._lock(sock):
            await asyncio.sleep(self.latency)
            if request.f_port != sock.f_port:
                _LOGGER.warning(
                    "%s: ignores a downlink on FPort %s (listens on %s)",
                    sock,
                    request.f_port,
                    sock.f_port,
                )
                return
            commands, unparsed = parse_downlink(request.data)
            if unparsed:
                _LOGGER.warning(
                    "%s: does not understand %s; ignored", sock, unparsed.hex()
                )
            answer = sock.apply(commands)
            _LOGGER.info("%s: %s", sock, ", ".join(answer.actions) or "nothing to do")
            heard = await self._answer(sock, answer)
            # The acknowledgement travels in the answer's uplink.
            if request.confirmed and heard:
                await self._link.acknowledge(sock, request)
        self._link.save_state()
        if answer.reboot:
            await self._reboot(sock)

    async def _answer(self, sock: SimulatedSocket, answer: Answer) -> bool:
        """Act on a downlink; False when a gateway missed every answer uplink."""
        if answer.delete_delay_task:
            self._cancel_delay_task(sock)
        if answer.delay_task is not None:
            self._cancel_delay_task(sock)
            seconds, on = answer.delay_task
            self._delay_tasks[sock.dev_eui] = self._link.spawn(
                self._run_delay_task(sock, seconds, on=on),
                f"delay task {sock.dev_eui}",
            )
        if answer.report_interval is not None:
            self._schedule_report(sock)
        sent: list[bool] = []
        if answer.echoes:
            sent.append(
                await self._link.uplink(sock, b"".join(answer.echoes), "settings echo")
            )
        # A change report carries the whole electrical status, so it also
        # answers an enquiry (ff28) sent in the same downlink.
        if answer.change_report:
            payload, reading = sock.report(changed=True)
            what = f"change report: {describe(reading)}"
            sent.append(await self._link.uplink(sock, payload, what))
            await self._check_overcurrent(sock)
        elif answer.report:
            payload, reading = sock.report()
            sent.append(
                await self._link.uplink(sock, payload, f"report: {describe(reading)}")
            )
        if answer.basic_info:
            sent.append(
                await self._link.uplink(sock, sock.basic_info(), "basic information")
            )
        return any(sent) or not sent

    def _cancel_delay_task(self, sock: SimulatedSocket) -> None:
        if (task := self._delay_tasks.pop(sock.dev_eui, None)) is not None:
            task.cancel()

    async def _run_delay_task(
        self, sock: SimulatedSocket, seconds: int, *, on: bool
    ) -> None:
        await asyncio.sleep(seconds)
        async with self._lock(sock):
            if self._delay_tasks.get(sock.dev_eui) is asyncio.current_task():
                del self._delay_tasks[sock.dev_eui]
            sock.switch(on)
            payload, reading = sock.report(changed=True)
            await self._link.uplink(
                sock, payload, f"delay task fired, change report: {describe(reading)}"
            )
            await self._check_overcurrent(sock)
        self._link.save_state()

    async def _reboot(self, sock: SimulatedSocket) -> None:
        """Silent for a moment, then a new join (the delay task is lost)."""
        self._cancel_delay_task(sock)
        _LOGGER.info("%s: rebooting", sock)
        async with self._lock(sock):
            await asyncio.sleep(REBOOT_TIME * self.latency)
            await self.boot(sock)
