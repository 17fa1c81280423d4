"""The csocket integration: Milesight WS523 / Linovision IOT-CSOCKET over LoRaWAN."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .compat import OPTIONS_FLOW_AUTO_RELOAD
from .connection import BrokerSettings, InvalidAuth, TransportError, async_end_session
from .const import CONF_SERVER, CONF_TRANSPORT, DOMAIN, TRANSPORT_HA_MQTT
from .hub import CsocketHub
from .network_servers import create_adapter
from .services import async_setup_services
from .store import async_remove_store
from .transport import BrokerTransport, HassMqttTransport, Transport

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

type CsocketConfigEntry = ConfigEntry[CsocketHub]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once for all entries (action-setup)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: CsocketConfigEntry) -> bool:
    """Connect to the broker, restore sockets and set up the platforms."""
    adapter = create_adapter(entry.data[CONF_SERVER], entry.data)
    transport: Transport
    if entry.data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
        transport = HassMqttTransport(hass)
    else:
        transport = BrokerTransport(hass, entry, BrokerSettings.from_data(entry.data))
    hub = CsocketHub(hass, entry, adapter, transport)
    await hub.async_load()
    entry.runtime_data = hub
    # Connected before the entities are built: a broker that refuses or cannot
    # be reached fails the set-up before any entity exists, and the control
    # entities start available instead of being written twice per socket. The
    # hub holds the uplinks that arrive meanwhile (a persistent session's
    # backlog comes at once), so their events reach the entities.
    try:
        await _async_start(hub)
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except BaseException:
        # The restored sockets' timers are armed: a retried set-up starts over.
        await hub.async_stop()
        raise
    hub.entities_added()
    if not OPTIONS_FLOW_AUTO_RELOAD:
        entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_start(hub: CsocketHub) -> None:
    """Connect; translate what went wrong for the config entry's state."""
    try:
        await hub.async_start()
    except InvalidAuth as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth"
        ) from err
    except TransportError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        ) from err


async def _async_options_updated(
    hass: HomeAssistant, entry: CsocketConfigEntry
) -> None:
    # Also called for data updates by reauth/reconfigure, which reload already.
    if dict(entry.options) != entry.runtime_data.options:
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: CsocketConfigEntry) -> bool:
    """Unload platforms, disconnect and save."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        hub = entry.runtime_data
        await hub.async_stop()
        hub.remove_issues()
    return unloaded


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: CsocketConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """Let the user delete a stale socket; it comes back if it reports again.

    When the entry is not loaded, the hub drops the socket's saved state at the
    next load because the device is gone from the registry.
    """
    if entry.state is ConfigEntryState.LOADED:
        for domain, dev_eui in device_entry.identifiers:
            if domain == DOMAIN:
                entry.runtime_data.async_remove_device(dev_eui)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: CsocketConfigEntry) -> None:
    """Delete the saved state and the broker's persistent session."""
    await async_remove_store(hass, entry.entry_id)
    if entry.data.get(CONF_TRANSPORT) != TRANSPORT_HA_MQTT:
        await async_end_session(hass, BrokerSettings.from_data(entry.data), entry)
