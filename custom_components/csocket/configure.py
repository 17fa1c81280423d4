"""Settings of one event-loop turn, sent as one flush through a socket's queue.

Callers of the same turn share the frames: their settings are merged field by
field and completed from known state (batch.py), callers whose partial update
cannot be completed are refused alone, and every caller learns the outcome of
the publish. The device does not confirm settings, so what was sent is handed
to the host to remember until the device reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .batch import SettingUnknown, complete, frames, merge, validate
from .connection import CannotConnect

if TYPE_CHECKING:
    from .device import SocketDevice


@dataclass(slots=True, eq=False)
class _Part:
    """One caller's settings waiting for the shared frame."""

    settings: Mapping[str, Any]
    future: asyncio.Future[None]


class SettingsHost(Protocol):
    """What a settings flush needs from the entry that owns it."""

    def spawn(self, coro: Coroutine[Any, Any, None], dev_eui: str) -> None:
        """Run a background task that ends with the entry."""

    def settings_sent(self, device: SocketDevice, settings: Mapping[str, Any]) -> None:
        """Settings went out; the device may never report them back."""


class SettingsFlush:
    """Settings to one socket, collected per loop turn and published together."""

    def __init__(
        self,
        device: SocketDevice,
        host: SettingsHost,
        publish: Callable[[list[bytes]], Awaitable[None]],
    ) -> None:
        """Bind to a socket; `publish` sends frames in order, holding the air."""
        self._device = device
        self._host = host
        self._publish = publish
        self._batch: list[_Part] | None = None

    def fail_all(self, reason: str) -> None:
        """Fail every caller still waiting (unload)."""
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
            await self._publish(frames(settings))
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
