"""Home Assistant compatibility shims, 2025.4 .. 2026.11.

Tested on 2025.4.4; the newer branches follow ../shared/reference/ha-forward-compat.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import service as service_helper

HA_VERSION = (MAJOR_VERSION, MINOR_VERSION)

if TYPE_CHECKING:  # typed as the 2025.4 base; the runtime picks the newest
    from homeassistant.config_entries import OptionsFlow as OptionsFlowBase

    OPTIONS_FLOW_AUTO_RELOAD: bool
else:
    try:  # HA >= 2025.8 reloads the entry itself when options change.
        from homeassistant.config_entries import (
            OptionsFlowWithReload as OptionsFlowBase,
        )

        OPTIONS_FLOW_AUTO_RELOAD = True
    except ImportError:  # HA < 2025.8: the integration registers an update listener.
        from homeassistant.config_entries import OptionsFlow as OptionsFlowBase

        OPTIONS_FLOW_AUTO_RELOAD = False


def device_belongs_to(device: dr.DeviceEntry, entry_id: str) -> bool:
    """Whether a registry device is one of this config entry's."""
    owner = getattr(device, "config_entry_id", None)  # HA >= 2026.8
    if owner is not None:
        return bool(owner == entry_id)
    return entry_id in device.config_entries


async def extract_config_entry_ids(call: ServiceCall) -> set[str]:
    """`async_extract_config_entry_ids` lost its hass argument in 2025.10."""
    extract: Any = service_helper.async_extract_config_entry_ids
    if HA_VERSION >= (2025, 10):
        return set(await extract(call))
    return set(await extract(call.hass, call))


__all__ = [
    "HA_VERSION",
    "OPTIONS_FLOW_AUTO_RELOAD",
    "OptionsFlowBase",
    "device_belongs_to",
    "extract_config_entry_ids",
]
