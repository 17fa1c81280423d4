"""Per-socket command queue: one downlink at a time, matched to its outcome.

Each command gets its correlation id before it is published, so a network
server's result that arrives before the publish returns still finds it. Each
command keeps an explicit state (command.py): queued (waiting for its turn on
air in csocket, airtime.py, or at the network server), sent (the server
reported the transmission), confirmed, failed. Where the server reports
transmission, the time the socket has to confirm starts then; until then a
separate, generous bound applies. Settings requested in the same event-loop
turn go out together (configure.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from homeassistant.util import dt as dt_util

from . import codec
from .airtime import GUARD, AirGate, Turn
from .command import (
    TRANSMITTED,
    Command,
    CommandState,
    CommandTimeout,
    DownlinkFailed,
    QueuedTimeout,
    Superseded,
)
from .configure import SettingsFlush, SettingsHost
from .connection import CannotConnect
from .device import COMMANDS
from .network_servers import DownlinkStatus

if TYPE_CHECKING:
    from .device import SocketDevice
    from .network_servers import Adapter, DownlinkResult
    from .transport import Transport

_LOGGER = logging.getLogger(__name__)
# What a change of the queue notifies (SocketDevice.notify).
_QUEUE_CHANGED: Final = frozenset({COMMANDS})


def dispatch_result(
    result: DownlinkResult,
    index: Mapping[str, Command],
    queues: Mapping[str, CommandQueue],
) -> None:
    """Hand a network server's result to its command, else to its socket's queue."""
    failed = result.status in (DownlinkStatus.FAILED, DownlinkStatus.NOT_ACKNOWLEDGED)
    if result.correlation_id is not None:
        command = index.get(result.correlation_id)
        if command is not None and failed:
            command.fail(DownlinkFailed(result.reason or result.status.value))
        elif command is not None and result.status in TRANSMITTED:
            command.transmitted()
        _LOGGER.debug("Downlink %s %s", result.correlation_id, result.status)
    elif result.dev_eui is not None and (queue := queues.get(result.dev_eui)):
        queue.handle_result(result, failed=failed)


class QueueHost(SettingsHost, Protocol):
    """What a queue needs from the entry that owns it."""

    @property
    def command_timeout(self) -> float:
        """Seconds a socket has to confirm a command."""

    @property
    def queue_timeout(self) -> float:
        """Seconds a command may wait for its transmission."""

    @property
    def air_gate(self) -> AirGate:
        """The turns on air of the entry's broker (airtime.py)."""


class CommandQueue:
    """Commands to one socket, serialised, each tracked until it is settled."""

    def __init__(
        self,
        device: SocketDevice,
        adapter: Adapter,
        transport: Transport,
        index: dict[str, Command],
        host: QueueHost,
    ) -> None:
        """Bind to a socket; `index` maps correlation ids entry-wide."""
        self._device = device
        self._adapter = adapter
        self._transport = transport
        self._index = index
        self._host = host
        self._lock = asyncio.Lock()
        self._settings = SettingsFlush(device, host, self._publish_frames)
        self.commands: list[Command] = []

    async def _publish(
        self, command: Command, f_port: int | None = None, *, confirmed: bool = False
    ) -> None:
        downlink = self._adapter.build_downlink(
            self._device.ref,
            command.payload,
            f_port=f_port,
            confirmed=confirmed,
            correlation_id=command.correlation_id,
        )
        command.published_at = self._device.command_sent_at = dt_util.utcnow()
        await self._transport.async_publish(
            downlink.topic, downlink.payload, downlink.qos
        )
        _LOGGER.debug(
            "Downlink %s to %s: %s",
            command.correlation_id,
            self._device.dev_eui,
            command.payload.hex(),
        )

    async def _publish_frames(self, frames: list[bytes]) -> None:
        async with self._lock:
            for frame in frames:
                await self._publish(Command(frame))

    async def async_send(
        self, payload: bytes, *, f_port: int | None = None, confirmed: bool = False
    ) -> str:
        """Publish raw bytes; returns the correlation id."""
        command = Command(payload)
        async with self._lock:
            await self._publish(command, f_port, confirmed=confirmed)
        return command.correlation_id

    def pending(self, key: str) -> Command | None:
        """The newest unsettled command that sets key."""
        for command in reversed(self.commands):
            if command.key == key and not command.future.done():
                return command
        return None

    async def async_command(
        self,
        commands: Mapping[str, Any],
        accept: Callable[[Mapping[str, Any]], bool],
        *,
        key: str | None = None,
    ) -> Mapping[str, Any]:
        """Send commands and wait for the report that `accept`s them.

        With a key (one of `commands`), a command with the same key that is
        still waiting in csocket is replaced: it fails with Superseded and
        costs no airtime.
        """
        # Ask for a status report in the same frame: it confirms the command.
        payload = codec.encode_downlink({**commands, "report_status": True})
        command = Command(payload, accept, key, commands.get(key) if key else None)
        self._register(command)
        reports = self._adapter.reports_transmission
        host = self._host
        # Without a transmission report (Milesight) the clock runs from the
        # call and allows the worst-case wait behind the commands ahead at
        # the broker's gate (any entry's), each holding the air at most GUARD
        # seconds.
        ahead = host.air_gate.waiting
        limit = host.queue_timeout if reports else host.command_timeout + ahead * GUARD
        turn = Turn(host.air_gate)
        try:
            async with asyncio.timeout(limit) as deadline:
                loop = asyncio.get_running_loop()

                def sent() -> None:
                    if reports:
                        deadline.reschedule(loop.time() + host.command_timeout)
                    turn.release_after(GUARD)
                    self._device.notify(_QUEUE_CHANGED)

                command.on_sent = sent
                if await turn.take(command.future):
                    async with self._lock:
                        if not command.future.done():
                            await self._publish(command)
                    if reports:
                        # A server that never reports this transmission must
                        # not hold the air for every other socket.
                        turn.release_after(host.command_timeout)
                        self._device.notify(_QUEUE_CHANGED)
                    else:
                        command.transmitted()
                return await command.future
        except TimeoutError as err:
            queued = command.state is CommandState.QUEUED
            command.state = CommandState.FAILED
            if queued:
                raise QueuedTimeout(self._device.dev_eui, limit) from err
            timeout = host.command_timeout if reports else limit
            raise CommandTimeout(self._device.dev_eui, timeout) from err
        finally:
            turn.release()
            command.on_sent = None
            self.commands.remove(command)
            self._index.pop(command.correlation_id, None)
            self._device.notify(_QUEUE_CHANGED)

    def _register(self, command: Command) -> None:
        """Track command, replacing unpublished ones of its key."""
        for older in self.commands:
            if (
                command.key is not None
                and older.key == command.key
                and older.published_at is None
            ):
                older.fail(Superseded(self._device.dev_eui))
        self.commands.append(command)
        self._index[command.correlation_id] = command
        self._device.notify(_QUEUE_CHANGED)

    def handle_uplink(self, decoded: Mapping[str, Any]) -> None:
        """Confirm the published commands this report answers.

        A command still queued at the network server counts too: the report
        proves the state whatever the server said (or did not say).
        """
        for command in self.commands:
            if (
                command.published_at is not None
                and command.accept is not None
                and command.accept(decoded)
            ):
                command.confirm(decoded)

    def handle_result(self, result: DownlinkResult, *, failed: bool) -> None:
        """A network-server result without correlation id (ChirpStack v3)."""
        published = [c for c in self.commands if c.published_at is not None]
        if failed:
            for command in published:
                command.fail(DownlinkFailed(result.reason or result.status.value))
        elif result.status in TRANSMITTED:
            # The server sends a device's queue in order: the oldest first.
            for command in published:
                if command.state is CommandState.QUEUED:
                    command.transmitted()
                    break

    def fail_all(self, reason: str) -> None:
        """Fail everything still waiting (unload)."""
        for command in self.commands:
            command.fail(CannotConnect(reason))
        self._settings.fail_all(reason)

    async def async_configure(self, settings: Mapping[str, Any]) -> None:
        """Send settings; those of the same loop turn share a frame (configure.py)."""
        await self._settings.async_configure(settings)
