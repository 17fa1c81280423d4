"""Home Assistant compatibility shims, 2025.4 .. 2026.11.

Tested on 2025.4.4; the newer branches follow ../shared/reference/ha-forward-compat.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_platform
from homeassistant.helpers import entity_registry as er

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


def entity_limit() -> int | None:
    """Enabled entities Home Assistant adds to one config entry at most, if limited.

    Home Assistant 2026.7+ stops adding an entry's new enabled entities at this
    number (csocket is not among the exempt domains); earlier releases add any.
    """
    limit = getattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", None)
    return limit if isinstance(limit, int) else None


def enabled_entity_count(hass: HomeAssistant, entry_id: str) -> int:
    """The config entry's enabled entities in the entity registry."""
    entities = er.async_get(hass).entities
    # HA >= 2026.7 keeps the count it checks its limit against.
    count = getattr(entities, "get_enabled_count_for_config_entry_id", None)
    if count is not None:
        return int(count(entry_id))
    return sum(
        1
        for entity in entities.get_entries_for_config_entry_id(entry_id)
        if not entity.disabled
    )


__all__ = [
    "OPTIONS_FLOW_AUTO_RELOAD",
    "OptionsFlowBase",
    "RegistryDevice",
    "device_belongs_to",
    "enabled_entity_count",
    "entity_limit",
    "vol",
]
