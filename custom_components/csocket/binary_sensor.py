"""Binary sensors: power outage and overcurrent problems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import SocketDevice
from .entity import CsocketEntity, async_setup_device_entities

if TYPE_CHECKING:
    from . import CsocketConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CsocketBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor and how to read it from the device model."""

    value_fn: Callable[[SocketDevice], bool | None]
    # The device fields value_fn reads (SocketDevice.notify).
    reads: frozenset[str]
    # An ongoing outage silences the socket: keep showing it past the window.
    available_while_on: bool = False


BINARY_SENSORS: tuple[CsocketBinarySensorEntityDescription, ...] = (
    CsocketBinarySensorEntityDescription(
        key="power_outage",
        reads=frozenset({"power_outage"}),
        translation_key="power_outage",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=lambda device: device.measurements.power_outage,
        available_while_on=True,
    ),
    CsocketBinarySensorEntityDescription(
        key="overcurrent",
        reads=frozenset({"current", "overcurrent_alarm"}),
        translation_key="overcurrent",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=lambda device: device.overcurrent,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the binary sensors of every socket."""
    async_setup_device_entities(
        hass,
        entry,
        async_add_entities,
        lambda hub, device: [
            CsocketBinarySensor(hub, device, desc) for desc in BINARY_SENSORS
        ],
    )


class CsocketBinarySensor(CsocketEntity, BinarySensorEntity):
    """A problem the socket reported."""

    entity_description: CsocketBinarySensorEntityDescription

    @property
    def available(self) -> bool:
        """Available with the socket, or while the problem it shows lasts."""
        return super().available or (
            self.entity_description.available_while_on and self.is_on is True
        )

    @property
    def is_on(self) -> bool | None:
        """The value from the device model."""
        return self.entity_description.value_fn(self.device)
