"""Home Assistant compatibility shims, 2025.4 .. 2026.11.

Tested on 2025.4.4; the newer branches follow ../shared/reference/ha-forward-compat.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers import device_registry as dr

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


__all__ = [
    "OPTIONS_FLOW_AUTO_RELOAD",
    "OptionsFlowBase",
    "device_belongs_to",
]
