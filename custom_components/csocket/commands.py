"""Per-socket command queue: one downlink at a time, matched to its outcome.

Each command gets its correlation id before it is published, so a network
server's result that arrives before the publish returns still finds it. Each
command keeps an explicit state (queued, sent, confirmed, failed): the time a
socket has to confirm can later start at the network server's transmission
report instead of the publish. Settings requested in the same event-loop turn
are merged field by field and go out in as few frames as fit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from homeassistant.util import dt as dt_util

from . import codec
from .batch import SettingUnknown, complete, frames, merge, validate
from .connection import CannotConnect
from .network_servers import DownlinkStatus

if TYPE_CHECKING:
    from .device import SocketDevice
    from .network_servers import Adapter, DownlinkResult
    from .transport import Transport

_LOGGER = logging.getLogger(__name__)


class DownlinkFailed(Exception):
    """The network server reported that a downlink failed."""


class CommandTimeout(Exception):
    """The device did not confirm a command in time."""


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
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: CommandState = CommandState.QUEUED
    sent_at: datetime | None = None
    future: asyncio.Future[Mapping[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

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
        _LOGGER.debug("Downlink %s %s", result.correlation_id, result.status)
    elif result.dev_eui is not None and (queue := queues.get(result.dev_eui)):
        queue.handle_result(result, failed=failed)


class QueueHost(Protocol):
    """What a queue needs from the entry that owns it."""

    @property
    def command_timeout(self) -> float:
        """Seconds a socket has to confirm a command."""

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
        command.state = CommandState.SENT
        command.sent_at = self._device.command_sent_at = dt_util.utcnow()
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

    async def async_command(
        self,
        commands: Mapping[str, Any],
        accept: Callable[[Mapping[str, Any]], bool],
    ) -> Mapping[str, Any]:
        """Send commands and wait for the report that `accept`s them."""
        # Ask for a status report in the same frame: it confirms the command.
        payload = codec.encode_downlink({**commands, "report_status": True})
        # Tracked while queued behind the socket's previous command, so an
        # unload fails it and diagnostics show it; only a sent one confirms.
        command = Command(payload, accept)
        self.commands.append(command)
        self._index[command.correlation_id] = command
        try:
            async with self._lock:
                if not command.future.done():
                    await self._publish(command)
                async with asyncio.timeout(self._host.command_timeout):
                    return await command.future
        except TimeoutError as err:
            command.state = CommandState.FAILED
            raise CommandTimeout(self._device.dev_eui) from err
        finally:
            self.commands.remove(command)
            self._index.pop(command.correlation_id, None)

    def handle_uplink(self, decoded: Mapping[str, Any]) -> None:
        """Confirm the sent commands this report answers."""
        for command in self.commands:
            if (
                command.state is CommandState.SENT
                and command.accept is not None
                and command.accept(decoded)
            ):
                command.confirm(decoded)

    def handle_result(self, result: DownlinkResult, *, failed: bool) -> None:
        """A network-server result without correlation id: every sent command."""
        for command in self.commands:
            if failed and command.state is CommandState.SENT:
                command.fail(DownlinkFailed(result.reason or result.status.value))

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
