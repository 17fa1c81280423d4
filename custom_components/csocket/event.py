"""Event entity: power outage, power restored, overcurrent alarm, protection trip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import EVENT_TYPES, EVENTS
from .entity import CsocketEntity, async_setup_device_entities

if TYPE_CHECKING:
    from . import CsocketConfigEntry

PARALLEL_UPDATES = 0

EVENT = EventEntityDescription(
    key="alert", translation_key="alert", event_types=list(EVENT_TYPES)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the event entity of every socket."""
    async_setup_device_entities(
        hass,
        entry,
        async_add_entities,
        lambda hub, device: [CsocketEvent(hub, device, EVENT)],
    )


class CsocketEvent(CsocketEntity, EventEntity):
    """Fires when an uplink reveals an outage, a restore or an overcurrent."""

    _reads = frozenset({EVENTS})

    @property
    def available(self) -> bool:
        """Events stay visible: an outage is exactly when the socket goes quiet."""
        return True

    @callback
    def _handle_device_update(self) -> None:
        # One state write per event, or automations only see the last one.
        for event_type in self.device.last_events:
            self._trigger_event(event_type)
            self.async_write_ha_state()
