"""What csocket tells Home Assistant's registries: devices and repair issues."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util

from .const import DOMAIN, MANUFACTURER, MODEL, MODEL_NAME
from .device import SocketDevice
from .problems import QuietLog, RepairIssue

_LOGGER = logging.getLogger(__name__)

# JSON uplinks clear the Protobuf issue once no Protobuf came for this long.
PROTOBUF_QUIET: Final = timedelta(minutes=10)


def registry_info(device: SocketDevice) -> tuple[Any, ...]:
    """What the device registry shows of a socket; compared to spot changes."""
    info = device.state.info
    return (device.name, info.sn, info.hardware_version, info.firmware_version)


def device_info(device: SocketDevice) -> DeviceInfo:
    """How the device registry identifies and names a socket."""
    return DeviceInfo(
        identifiers={(DOMAIN, device.dev_eui)},
        manufacturer=MANUFACTURER,
        model=MODEL_NAME,
        model_id=MODEL,
        name=device.name,
    )


class DeviceInfos:
    """One DeviceInfo per socket, shared by all its entities.

    Home Assistant reads an entity's DeviceInfo only when it adds the entity;
    a copy per entity would only cost memory on every socket.
    """

    def __init__(self) -> None:
        """Start empty; built on first use."""
        self._infos: dict[str, DeviceInfo] = {}

    def get(self, device: SocketDevice) -> DeviceInfo:
        """The socket's DeviceInfo, rebuilt when its name changed."""
        info = self._infos.get(device.dev_eui)
        if info is None or info.get("name") != device.name:
            info = self._infos[device.dev_eui] = device_info(device)
        return info

    def forget(self, dev_eui: str) -> None:
        """The socket was removed."""
        self._infos.pop(dev_eui, None)


def update_registry(hass: HomeAssistant, entry_id: str, device: SocketDevice) -> None:
    """Create or update the socket's device (a rename on the server included)."""
    info = device.state.info
    fields = device_info(device)
    fields["serial_number"] = info.sn
    fields["hw_version"] = info.hardware_version
    fields["sw_version"] = info.firmware_version
    dr.async_get(hass).async_get_or_create(config_entry_id=entry_id, **fields)


class ProtobufIssue:
    """One repair issue while ChirpStack publishes Protobuf instead of JSON.

    A stream mixing both (two servers, or a restart half done) must not log
    an error and recreate the issue for every binary message after a JSON
    one: the issue stays until JSON arrives with no Protobuf for a while.
    """

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], translation_key: str
    ) -> None:
        """Bind to the entry the issue names; the text names the server's fix."""
        self._issue = RepairIssue(
            hass, entry, "chirpstack_protobuf", translation_key, ir.IssueSeverity.ERROR
        )
        self._log = QuietLog(_LOGGER)
        self._last_seen: datetime | None = None

    @property
    def issue_id(self) -> str:
        """Repair issue raised while the server publishes Protobuf."""
        return self._issue.issue_id

    def raise_once(self, reason: str) -> None:
        """Log (hourly at most) and raise the issue, once until it is cleared."""
        self._last_seen = dt_util.utcnow()
        self._log.log(logging.ERROR, "protobuf", "", "%s", reason)
        self._issue.show()

    def clear(self) -> None:
        """JSON arrives: the user fixed it, unless Protobuf came lately."""
        if self._last_seen is None:
            return
        if dt_util.utcnow() - self._last_seen >= PROTOBUF_QUIET:
            self.remove()

    def remove(self) -> None:
        """Delete the issue (also when the entry unloads)."""
        self._last_seen = None
        self._issue.remove()
