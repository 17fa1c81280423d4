"""Per-socket command queue: one downlink at a time, matched to its outcome.

Each command gets its correlation id before it is published, so a network
server's result that arrives before the publish returns still finds it. Each
command keeps an explicit state: queued (waiting for its turn on air in
csocket, airtime.py, or at the network server), sent (the server reported the
transmission), confirmed, failed. Where the server reports transmission, the
time the socket has to confirm starts then; until then a separate, generous
bound applies. Settings requested in the same event-loop turn are merged field
by field and go out in as few frames as fit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from homeassistant.util import dt as dt_util

from . import codec
from .airtime import GUARD, AirGate, Turn
from .batch import SettingUnknown, complete, frames, merge, validate
from .connection import CannotConnect
from .network_servers import DownlinkStatus

if TYPE_CHECKING:
    from .device import SocketDevice
    from .network_servers import Adapter, DownlinkResult
    from .transport import Transport

_LOGGER = logging.getLogger(__name__)


# Results that say the frame left the gateway (an acknowledgement implies it).
TRANSMITTED: Final = frozenset({DownlinkStatus.SENT, DownlinkStatus.ACKNOWLEDGED})


class DownlinkFailed(Exception):
    """The network server reported that a downlink failed."""


class CommandTimeout(Exception):
    """The device did not confirm a command in time."""

    def __init__(self, dev_eui: str, timeout: float) -> None:
        """Name the socket and the seconds it had."""
        super().__init__(dev_eui)
        self.timeout = timeout


class QueuedTimeout(CommandTimeout):
    """The command never left the gateway within the queued bound."""


class Superseded(Exception):
    """A newer command to the same socket replaced this one before it was sent."""


class CommandState(StrEnum):
    """Where a command is on its way to the socket."""

    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"


@dataclass(slots=True, eq=False)
class Command:
    """One downlink and its outcome."""

    payload: bytes
    accept: Callable[[Mapping[str, Any]], bool] | None = None
    # What it sets, e.g. ("socket_status", True): a newer command with the same
    # key replaces this one while it has not been published.
    key: str | None = None
    target: Any = None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: CommandState = CommandState.QUEUED
    published_at: datetime | None = None
    sent_at: datetime | None = None  # transmission (or publish, unreported)
    on_sent: Callable[[], None] | None = None
    future: asyncio.Future[Mapping[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def transmitted(self) -> None:
        """The frame left the gateway: the socket's time to confirm starts."""
        if self.state is CommandState.QUEUED and not self.future.done():
            self.state = CommandState.SENT
            self.sent_at = dt_util.utcnow()
            if self.on_sent is not None:
                self.on_sent()

    def confirm(self, decoded: Mapping[str, Any]) -> None:
        """The socket's report confirms the command."""
        if not self.future.done():
            self.state = CommandState.CONFIRMED
            self.future.set_result(decoded)

    def fail(self, err: Exception) -> None:
        """The command failed (network server, broker or unload)."""
        if not self.future.done():
            self.state = CommandState.FAILED
            self.future.set_exception(err)


@dataclass(slots=True, eq=False)
class _Part:
    """One caller's settings waiting for the shared frame."""

    settings: Mapping[str, Any]
    future: asyncio.Future[None]


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


class QueueHost(Protocol):
    """What a queue needs from the entry that owns it."""

    @property
    def command_timeout(self) -> float:
        """Seconds a socket has to confirm a command."""

    @property
    def queue_timeout(self) -> float:
        """Seconds a command may wait for its transmission."""

    @property
    def air_gate(self) -> AirGate:
        """The entry's turns on air (airtime.py)."""

    def spawn(self, coro: Coroutine[Any, Any, None], dev_eui: str) -> None:
        """Run a background task that ends with the entry."""

    def settings_sent(self, device: SocketDevice, settings: Mapping[str, Any]) -> None:
        """Settings went out; the device may never report them back."""


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
        self._batch: list[_Part] | None = None
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
        ahead = self._register(command)
        reports = self._adapter.reports_transmission
        host = self._host
        # Without a transmission report (Milesight) the clock runs from the
        # call and allows the worst-case wait behind the commands ahead on
        # the entry, each holding the air at most GUARD seconds.
        limit = host.queue_timeout if reports else host.command_timeout + ahead * GUARD
        turn = Turn(host.air_gate)
        try:
            async with asyncio.timeout(limit) as deadline:
                loop = asyncio.get_running_loop()

                def sent() -> None:
                    if reports:
                        deadline.reschedule(loop.time() + host.command_timeout)
                    turn.release_after(GUARD)
                    self._device.notify()

                command.on_sent = sent
                if await turn.take(command.future):
                    async with self._lock:
                        if not command.future.done():
                            await self._publish(command)
                    if reports:
                        # A server that never reports this transmission must
                        # not hold the air for every other socket.
                        turn.release_after(host.command_timeout)
                        self._device.notify()
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
            self._device.notify()

    def _register(self, command: Command) -> int:
        """Track command, replacing unpublished ones of its key; count those ahead."""
        for older in self.commands:
            if (
                command.key is not None
                and older.key == command.key
                and older.published_at is None
            ):
                older.fail(Superseded(self._device.dev_eui))
        ahead = len(self._index)
        self.commands.append(command)
        self._index[command.correlation_id] = command
        self._device.notify()
        return ahead

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
        for part in self._batch or ():
            if not part.future.done():
                part.future.set_exception(CannotConnect(reason))

    async def async_configure(self, settings: Mapping[str, Any]) -> None:
        """Send settings; those of the same loop turn share a frame.

        The device does not confirm settings: what was sent is handed to
        the host so it is remembered until the device reports it.
        """
        validate(settings)
        if self._batch is None:
            self._batch = []
            asyncio.get_running_loop().call_soon(
                lambda: self._host.spawn(self._flush(), self._device.dev_eui)
            )
        part = _Part(settings, asyncio.get_running_loop().create_future())
        self._batch.append(part)
        await asyncio.shield(part.future)

    def _plan(self, parts: list[_Part]) -> tuple[dict[str, Any], list[_Part]]:
        """Merged, completed settings of the parts that can be sent."""
        while True:
            settings: dict[str, Any] = {}
            refused: set[str] = set()
            for key, value in merge([part.settings for part in parts]).items():
                try:
                    settings[key] = complete(self._device, key, value)
                except SettingUnknown:
                    refused.add(key)
            if not refused:
                return settings, parts
            # Refuse only the callers that asked for an incomplete setting.
            kept: list[_Part] = []
            for part in parts:
                if bad := refused & part.settings.keys():
                    part.future.set_exception(SettingUnknown(min(bad)))
                else:
                    kept.append(part)
            parts = kept

    async def _flush(self) -> None:
        batch, self._batch = self._batch or [], None
        settings, parts = self._plan(batch)
        if not parts:
            return
        try:
            async with self._lock:
                for frame in frames(settings):
                    await self._publish(Command(frame))
        except BaseException as err:
            # Hand every failure, unloading included, to the waiting callers.
            for part in parts:
                if not part.future.done():
                    part.future.set_exception(
                        err
                        if isinstance(err, Exception)
                        else CannotConnect("csocket is unloading")
                    )
            if not isinstance(err, Exception):
                raise
            return
        self._host.settings_sent(self._device, settings)
        for part in parts:
            if not part.future.done():
                part.future.set_result(None)
