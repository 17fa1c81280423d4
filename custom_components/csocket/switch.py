"""Switches: the socket itself (confirmed by the device) and its settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from homeassistant.components.switch import (
    SwitchDeviceClass,
    SwitchEntity,
    SwitchEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import COMMANDS, SocketDevice
from .entity import CsocketControlEntity, async_setup_device_entities
from .hub import CsocketHub
from .util import SOCKET_STATUS, async_configure, async_run_command

if TYPE_CHECKING:
    from . import CsocketConfigEntry

_LOGGER = logging.getLogger(__name__)

# The hub serialises downlinks per socket; sockets do not wait for each other.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CsocketSwitchEntityDescription(SwitchEntityDescription):
    """A setting switch: how to read it and which command sets it."""

    value_fn: Callable[[SocketDevice], bool | None]
    # The device field value_fn reads (SocketDevice.notify).
    reads: frozenset[str]
    command_fn: Callable[[SocketDevice, bool], dict[str, Any]]


class _Setting(TypedDict):
    """How a setting switch reads and sets its one device setting."""

    value_fn: Callable[[SocketDevice], bool | None]
    reads: frozenset[str]
    command_fn: Callable[[SocketDevice, bool], dict[str, Any]]


def _flag(key: str) -> _Setting:
    """An on/off setting of the device."""
    return _Setting(
        value_fn=lambda device: device.setting(key),
        reads=frozenset({key}),
        command_fn=lambda _device, on: {key: on},
    )


def _enabled(key: str) -> _Setting:
    """The on/off state of an overcurrent alarm or protection."""

    def value(device: SocketDevice) -> bool | None:
        setting = device.threshold(key)
        return None if setting is None else setting.enabled

    return _Setting(
        value_fn=value,
        reads=frozenset({key}),
        # Only the on/off state: the queue keeps the device's threshold (the
        # guide's 10 A when unknown) and merges a threshold set in the same turn.
        command_fn=lambda _device, on: {key: {"enabled": on}},
    )


CONFIG_SWITCHES: tuple[CsocketSwitchEntityDescription, ...] = (
    CsocketSwitchEntityDescription(
        key="led",
        translation_key="led",
        entity_category=EntityCategory.CONFIG,
        # Rarely used: every enabled entity costs memory and start time.
        entity_registry_enabled_default=False,
        **_flag("led_enabled"),
    ),
    CsocketSwitchEntityDescription(
        key="button_lock",
        translation_key="button_lock",
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        **_flag("button_lock"),
    ),
    CsocketSwitchEntityDescription(
        key="energy_recording",
        translation_key="energy_recording",
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        **_flag("power_consumption_enabled"),
    ),
    CsocketSwitchEntityDescription(
        key="overcurrent_alarm",
        translation_key="overcurrent_alarm",
        entity_category=EntityCategory.CONFIG,
        **_enabled("overcurrent_alarm"),
    ),
    CsocketSwitchEntityDescription(
        key="overcurrent_protection",
        translation_key="overcurrent_protection",
        entity_category=EntityCategory.CONFIG,
        **_enabled("overcurrent_protection"),
    ),
)

SOCKET = SwitchEntityDescription(
    key="socket",
    translation_key="socket",
    name=None,
    device_class=SwitchDeviceClass.OUTLET,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the socket switch and the setting switches of every socket."""

    def build(hub: CsocketHub, device: SocketDevice) -> list[SwitchEntity]:
        return [
            CsocketSocketSwitch(hub, device, SOCKET),
            *(CsocketConfigSwitch(hub, device, desc) for desc in CONFIG_SWITCHES),
        ]

    async_setup_device_entities(hass, entry, async_add_entities, build)


class CsocketSocketSwitch(CsocketControlEntity, SwitchEntity):
    """The outlet. Shows only what the device confirmed, never a guess."""

    _unrecorded_attributes = frozenset({"pending_target", "command_state"})
    # The command attributes follow the socket's queue (commands.py).
    _reads = frozenset({"socket_status", COMMANDS})

    @property
    def available(self) -> bool:
        """Reachable while connected and the socket reports within its window.

        Class C: a socket that keeps reporting listens; one that stopped (e.g.
        unplugged) would only show a stale state.
        """
        return super().available and self.device.available

    @property
    def is_on(self) -> bool | None:
        """The state the device last reported."""
        return self.device.measurements.socket_status

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """The requested state and where its command is, until confirmed.

        command_state is "queued" while the command waits for its turn on air
        (in csocket or at the network server), "sent" once it was transmitted.
        The command queue notifies the device at each step.
        """
        command = self.hub.queues[self.device.dev_eui].pending(SOCKET_STATUS)
        if command is None:
            return {"pending_target": None, "command_state": None}
        return {
            "pending_target": command.target,
            "command_state": command.state.value,
        }

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch the socket on and wait for the device to confirm."""
        await self._async_switch(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch the socket off and wait for the device to confirm."""
        await self._async_switch(on=False)

    async def _async_switch(self, *, on: bool) -> None:
        # Sent even when the socket confirmed this state a moment ago: it may
        # have been switched by its button since (README "LoRaWAN airtime").
        await async_run_command(self.hub, self.device, socket_status=on)


class CsocketConfigSwitch(CsocketControlEntity, SwitchEntity):
    """A device setting, as reported by the device or as last sent."""

    entity_description: CsocketSwitchEntityDescription

    @property
    def is_on(self) -> bool | None:
        """The setting's value."""
        return self.entity_description.value_fn(self.device)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enable the setting."""
        await self._async_set(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disable the setting."""
        await self._async_set(on=False)

    async def _async_set(self, *, on: bool) -> None:
        await async_configure(
            self.hub, self.device, self.entity_description.command_fn(self.device, on)
        )
