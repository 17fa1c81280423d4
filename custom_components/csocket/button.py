"""Buttons: reboot, energy reset and refresh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.button import (
    ButtonDeviceClass,
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .entity import CsocketControlEntity, async_setup_device_entities
from .util import async_configure

if TYPE_CHECKING:
    from . import CsocketConfigEntry

# The hub serialises downlinks per socket; sockets do not wait for each other.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CsocketButtonEntityDescription(ButtonEntityDescription):
    """A button and the command it sends."""

    command: dict[str, Any]


BUTTONS: tuple[CsocketButtonEntityDescription, ...] = (
    CsocketButtonEntityDescription(
        key="reboot",
        device_class=ButtonDeviceClass.RESTART,
        entity_category=EntityCategory.CONFIG,
        # Rarely used: every enabled entity costs memory and start time.
        entity_registry_enabled_default=False,
        command={"reboot": True},
    ),
    CsocketButtonEntityDescription(
        key="reset_energy",
        translation_key="reset_energy",
        entity_category=EntityCategory.CONFIG,
        command={"reset_power_consumption": True},
    ),
    CsocketButtonEntityDescription(
        key="refresh",
        translation_key="refresh",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        command={"report_status": True},
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the buttons of every socket."""
    async_setup_device_entities(
        hass,
        entry,
        async_add_entities,
        lambda hub, device: [CsocketButton(hub, device, desc) for desc in BUTTONS],
    )


class CsocketButton(CsocketControlEntity, ButtonEntity):
    """Sends one command to the socket."""

    entity_description: CsocketButtonEntityDescription
    # A button shows its last press; uplinks change nothing of it.
    _reads = frozenset()

    async def async_press(self) -> None:
        """Send the command."""
        await async_configure(self.hub, self.device, self.entity_description.command)
