"""Entries that would receive the same uplinks, refused by the config flow.

Sockets are identified by their DevEUI alone, which LoRaWAN makes unique:
two entries subscribed to overlapping topics on one broker (an "all
applications" entry and a specific one, or Home Assistant's MQTT connection
and a dedicated one to the same broker) would both claim each socket, with
one device and unique ids for two owners, and answer commands twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import zip_longest
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import (
    CONF_SERVER,
    CONF_TRANSPORT,
    DEFAULT_PORT,
    DOMAIN,
    MQTT_DOMAIN,
    TRANSPORT_HA_MQTT,
)
from .network_servers import create_adapter

# Home Assistant's MQTT entry data (homeassistant.components.mqtt.const).
MQTT_CONF_BROKER: Final = "broker"


def filters_overlap(first: str, second: str) -> bool:
    """Whether some topic matches both MQTT topic filters."""
    for a, b in zip_longest(first.split("/"), second.split("/")):
        if "#" in (a, b):
            return True
        if a is None or b is None:
            return False
        if a != b and "+" not in (a, b):
            return False
    return True


def broker_location(hass: HomeAssistant, data: Mapping[str, Any]) -> str:
    """host:port of the broker an entry's data connects to."""
    if data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
        mqtt = hass.config_entries.async_entries(MQTT_DOMAIN)
        if not mqtt:
            return MQTT_DOMAIN
        data = {
            CONF_HOST: mqtt[0].data.get(MQTT_CONF_BROKER, ""),
            CONF_PORT: mqtt[0].data.get(CONF_PORT, DEFAULT_PORT),
        }
    return f"{str(data.get(CONF_HOST, '')).lower()}:{data.get(CONF_PORT, DEFAULT_PORT)}"


def _filters(data: Mapping[str, Any]) -> list[str]:
    try:
        adapter = create_adapter(data[CONF_SERVER], data)
    except (KeyError, ValueError):  # an entry csocket cannot load anyway
        return []
    return [subscription.topic for subscription in adapter.subscriptions()]


def overlapping_entry(
    hass: HomeAssistant, data: Mapping[str, Any], others: Iterable[ConfigEntry[Any]]
) -> ConfigEntry[Any] | None:
    """The first of others receiving uplinks that data's entry would receive."""
    location = broker_location(hass, data)
    filters = _filters(data)
    for other in others:
        if broker_location(hass, other.data) != location:
            continue
        if any(
            filters_overlap(mine, theirs)
            for mine in filters
            for theirs in _filters(other.data)
        ):
            return other
    return None


def async_raise_overlap_issue(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> Callable[[], None]:
    """Raise a repair issue when entry overlaps another; returns its remover.

    For entries made before the config flow refused overlaps. The issue id
    names both entries, so the pair has one issue whichever loads first.
    """
    others = [
        other
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id and other.disabled_by is None
    ]
    if (other := overlapping_entry(hass, entry.data, others)) is None:
        return lambda: None
    first, second = sorted((entry, other), key=lambda e: e.entry_id)
    issue_id = f"overlapping_entries_{first.entry_id}_{second.entry_id}"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="overlapping_entries",
        translation_placeholders={"first": first.title, "second": second.title},
    )
    return lambda: ir.async_delete_issue(hass, DOMAIN, issue_id)
