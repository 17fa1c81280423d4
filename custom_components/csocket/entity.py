"""Base entity and the platform helper shared by every csocket platform."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import (
    AddEntitiesCallback,
    async_get_current_platform,
)

from .device import SocketDevice
from .hub import CsocketHub, signal_new_device

if TYPE_CHECKING:
    from . import CsocketConfigEntry


class CsocketEntity(Entity):
    """An entity of one socket, updated by its device model (push)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # What the last state write showed; see `_handle_device_update`.
    _written: tuple[Any, ...] | None = None
    # What the write in progress shows, when the caller computed it already.
    _fresh: tuple[Any, ...] | None = None
    # The device fields (see SocketDevice.notify) the state depends on, when
    # the description does not say; None: any change may matter.
    _reads: ClassVar[frozenset[str] | None] = None

    def __init__(
        self, hub: CsocketHub, device: SocketDevice, description: EntityDescription
    ) -> None:
        """Bind to the socket; unique ids are DevEUI + key and never change."""
        self.hub = hub
        self.device = device
        self.entity_description = description
        self._value_fn: Callable[[SocketDevice], Any] | None = getattr(
            description, "value_fn", None
        )
        reads: frozenset[str] | None = getattr(description, "reads", None)
        self._fields = self._reads if reads is None else reads
        self._attr_unique_id = f"{device.dev_eui}_{description.key}"
        self._attr_device_info = hub.device_infos.get(device)

    @property
    def available(self) -> bool:
        """Available while the socket reports within its window."""
        return self.device.available

    async def async_added_to_hass(self) -> None:
        """Follow the device model."""
        await super().async_added_to_hass()
        # Removed by the method below rather than by an `async_on_remove`
        # closure: one object less per entity.
        self.device.add_listener(self._handle_device_update, self._fields)

    async def async_will_remove_from_hass(self) -> None:
        """Stop following the device model."""
        self.device.remove_listener(self._handle_device_update)
        await super().async_will_remove_from_hass()

    def _shown(self) -> tuple[Any, ...]:
        """Everything of the state that a device update can change.

        A description's `value_fn` is what the state shows, before Home
        Assistant's formatting (units, precision), which does not change
        between uplinks and costs more than the value itself.
        """
        value_fn = self._value_fn
        return (
            self.available,
            self.state if value_fn is None else value_fn(self.device),
            self.state_attributes,
            self.extra_state_attributes,
        )

    @callback
    def _async_write_ha_state(self) -> None:
        """Write the state and remember what it showed.

        Every write passes here (Home Assistant's `async_write_ha_state` is
        final and calls this), so `_written` never misses one.
        """
        shown, self._fresh = self._fresh, None
        self._written = self._shown() if shown is None else shown
        super()._async_write_ha_state()

    @callback
    def _handle_device_update(self) -> None:
        # Called when a field the entity reads changed (see __init__), or
        # anything may have. Building and setting an unchanged state costs far more than
        # comparing these few values.
        shown = self._shown()
        if shown == self._written and not self.force_update:
            return
        self._fresh = shown
        self.async_write_ha_state()


class CsocketControlEntity(CsocketEntity):
    """An entity that sends commands.

    The socket is Class C: it listens even while its reports are overdue, and
    every command is confirmed or times out, so controls stay usable while the
    broker connection is up.
    """

    @property
    def available(self) -> bool:
        """Available while csocket is connected to the broker."""
        return self.hub.transport.connected


@callback
def async_setup_device_entities(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
    build: Callable[[CsocketHub, SocketDevice], Iterable[Entity]],
) -> None:
    """Add entities for known sockets now and for new ones when discovered."""
    hub = entry.runtime_data

    @callback
    def _add(device: SocketDevice) -> None:
        async_add_entities(build(hub, device))

    # Known sockets' entities that the registry holds disabled (by default, by
    # the user or with their device) would only be looked up, their registry
    # entries refreshed, and dropped by the platform: 11 of 27 per socket by
    # default, about a fifth of the set-up time (BENCHMARKS.md). So they are
    # left out, unless this is the first set-up of this csocket release, whose
    # names, units or categories the registry may not hold yet. Enabling one
    # reloads the entry, which then adds it. A new socket's entities all go to
    # the platform, which registers them.
    disabled: set[str | None] = set()
    if hub.registry_current:
        domain = async_get_current_platform().domain
        disabled = {
            registered.unique_id
            for registered in er.async_entries_for_config_entry(
                er.async_get(hass), entry.entry_id
            )
            if registered.disabled_by is not None and registered.domain == domain
        }
    # One batch for every known socket: the platform adds them together, far
    # faster at start than one call (and one task) per socket.
    async_add_entities(
        [
            entity
            for device in hub.devices.values()
            for entity in build(hub, device)
            if entity.unique_id not in disabled
        ]
    )
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_device(entry.entry_id), _add)
    )
