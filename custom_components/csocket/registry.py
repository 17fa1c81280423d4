"""What csocket tells Home Assistant's registries: devices and repair issues."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, MANUFACTURER, MODEL, MODEL_NAME
from .device import SocketDevice

_LOGGER = logging.getLogger(__name__)


def registry_info(device: SocketDevice) -> tuple[Any, ...]:
    """What the device registry shows of a socket; compared to spot changes."""
    info = device.state.info
    return (device.name, info.sn, info.hardware_version, info.firmware_version)


def update_registry(hass: HomeAssistant, entry_id: str, device: SocketDevice) -> None:
    """Create or update the socket's device (a rename on the server included)."""
    info = device.state.info
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry_id,
        identifiers={(DOMAIN, device.dev_eui)},
        manufacturer=MANUFACTURER,
        model=MODEL_NAME,
        model_id=MODEL,
        name=device.name,
        serial_number=info.sn,
        hw_version=info.hardware_version,
        sw_version=info.firmware_version,
    )


class ProtobufIssue:
    """One repair issue while ChirpStack publishes Protobuf instead of JSON."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], translation_key: str
    ) -> None:
        """Bind to the entry the issue names; the text names the server's fix."""
        self._hass = hass
        self._entry = entry
        self._translation_key = translation_key
        self._raised = False

    @property
    def issue_id(self) -> str:
        """Repair issue raised while the server publishes Protobuf."""
        return f"chirpstack_protobuf_{self._entry.entry_id}"

    def raise_once(self, reason: str) -> None:
        """Log and raise the issue, once until it is cleared."""
        if self._raised:
            return
        self._raised = True
        _LOGGER.error("%s", reason)
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=self._translation_key,
            translation_placeholders={"title": self._entry.title},
        )

    def clear(self) -> None:
        """JSON arrives again: the user fixed it."""
        if self._raised:
            self.remove()

    def remove(self) -> None:
        """Delete the issue (also when the entry unloads)."""
        self._raised = False
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)
