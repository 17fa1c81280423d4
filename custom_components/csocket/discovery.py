"""Which new DevEUIs become sockets: the WS523 check, the list, the caps."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .compat import enabled_entity_count, entity_limit
from .const import (
    CONF_AUTO_ADD,
    CONF_DEV_EUIS,
    CONF_MAX_SOCKETS,
    DEFAULT_MAX_SOCKETS,
    ENABLED_ENTITIES_PER_SOCKET,
)
from .device import SOCKET_FIELDS
from .network_servers import Uplink
from .problems import RepairIssue

_LOGGER = logging.getLogger(__name__)

# Refused DevEUIs remembered so each is logged once; beyond this many the log
# line repeats (at debug level) rather than memory growing with a flood.
MAX_REMEMBERED: Final = 4096


class DiscoveryGate:
    """Decide whether an unknown DevEUI's uplink creates a socket."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Read the entry's options; raise the cap issue through the registry."""
        self._hass = hass
        self._entry = entry
        self._refused: set[str] = set()
        self.cap_issue = RepairIssue(hass, entry, "discovery_cap", "discovery_cap")
        self.limit_issue = RepairIssue(hass, entry, "entity_limit", "entity_limit")

    @property
    def max_sockets(self) -> int:
        """Sockets this entry discovers at most (listed DevEUIs not counted)."""
        return int(self._entry.options.get(CONF_MAX_SOCKETS, DEFAULT_MAX_SOCKETS))

    def admits(self, uplink: Uplink, decoded: Mapping[str, Any], known: int) -> bool:
        """Whether the uplink of an unknown device makes it a socket.

        known is the number of sockets the entry has.
        """
        dev_eui = uplink.device.dev_eui
        # Every Milesight device sends versions and SN at join: only records
        # of the socket itself, and nothing undecodable, identify a WS523.
        if "unparsed" in decoded or SOCKET_FIELDS.isdisjoint(decoded):
            self._refuse(
                logging.INFO,
                dev_eui,
                "Device %s on FPort %s does not speak the WS523 protocol; ignored",
                dev_eui,
                uplink.f_port,
            )
            return False
        options = self._entry.options
        listed = dev_eui in options.get(CONF_DEV_EUIS, [])
        if not listed and not options.get(CONF_AUTO_ADD, True):
            self._refuse(
                logging.INFO,
                dev_eui,
                "Socket %s is not in the list of sockets to add",
                dev_eui,
            )
            return False
        # The user named listed sockets: the cap guards automatic adding only.
        if not listed and known >= self.max_sockets:
            self._refuse(
                logging.DEBUG,
                dev_eui,
                "Socket %s not added: the entry has reached its limit of %s sockets",
                dev_eui,
                self.max_sockets,
            )
            self.cap_issue.show(count=str(self.max_sockets))
            return False
        # Below the cap again (sockets deleted): the issue no longer holds.
        self.cap_issue.remove()
        return self._fits(dev_eui, known)

    def _fits(self, dev_eui: str, known: int) -> bool:
        """Whether Home Assistant would add every entity of one more socket.

        At its limit Home Assistant drops an entry's further entities one by
        one: a socket would be half there, and Home Assistant's warning asks
        users to report a bug. Listed sockets are no exception.
        """
        limit = entity_limit()
        if limit is None:
            return True
        # The platforms register a socket's entities as it is discovered
        # (eagerly, in the same call), so the count includes the last one.
        enabled = enabled_entity_count(self._hass, self._entry.entry_id)
        if enabled + ENABLED_ENTITIES_PER_SOCKET <= limit:
            self.limit_issue.remove()
            return True
        self._refuse(
            logging.DEBUG,
            dev_eui,
            "Socket %s not added: the entry has %s of Home Assistant's %s enabled"
            " entities per entry",
            dev_eui,
            enabled,
            limit,
        )
        self.limit_issue.show(
            limit=str(limit),
            enabled=str(enabled),
            count=str(known),
            per_socket=str(ENABLED_ENTITIES_PER_SOCKET),
        )
        return False

    def _refuse(self, level: int, dev_eui: str, msg: str, *args: object) -> None:
        if dev_eui in self._refused:
            return
        if len(self._refused) < MAX_REMEMBERED:
            self._refused.add(dev_eui)
        else:
            level = logging.DEBUG
        _LOGGER.log(level, msg, *args)
