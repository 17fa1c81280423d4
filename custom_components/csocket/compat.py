"""Home Assistant compatibility shims, 2025.4 .. 2026.11.

Tested on 2025.4.4; the newer branches follow ../shared/reference/ha-forward-compat.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

# Home Assistant 2026.9 validates with probatio instead of voluptuous and aliases
# `import voluptuous` to probatio's drop-in module, so at runtime `vol` is always
# the library Home Assistant uses. mypy cannot follow that alias: it reads the
# real voluptuous (still installed as a dependency of dependencies) where Home
# Assistant's signatures now name probatio types. Which one mypy uses is set per
# test leg: `always_false = ["HA_PROBATIO"]` in pyproject.toml (2025.4), flipped
# to `always_true` by scripts/test-current (2026.10).
HA_PROBATIO = False
if TYPE_CHECKING and HA_PROBATIO:
    import probatio as vol
else:
    import voluptuous as vol

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


class RegistryDevice(Protocol):
    """A device registry entry: `DeviceEntry`, and `ChildDeviceEntry` (2026.8+)."""

    @property
    def config_entries(self) -> set[str]:
        """Config entries of the device (HA < 2026.8: the only ownership field)."""


def device_belongs_to(device: RegistryDevice, entry_id: str) -> bool:
    """Whether a registry device is one of this config entry's."""
    owner = getattr(device, "config_entry_id", None)  # HA >= 2026.8
    if owner is not None:
        return bool(owner == entry_id)
    return entry_id in device.config_entries


__all__ = [
    "OPTIONS_FLOW_AUTO_RELOAD",
    "OptionsFlowBase",
    "RegistryDevice",
    "device_belongs_to",
    "vol",
]
