"""The hub: one per config entry.

Owns the transport and the network-server adapter, dispatches each message
to its socket and discovers new sockets. Commands, availability and storage
are units of their own (commands.py, availability.py, store.py).
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from . import codec
from .airtime import AirGate
from .availability import AvailabilityTracker, is_periodic, received_time
from .commands import Command, CommandQueue, dispatch_result
from .const import (
    CONF_AUTO_ADD,
    CONF_AVAILABILITY_FACTOR,
    CONF_COMMAND_TIMEOUT,
    CONF_DEV_EUIS,
    CONF_QUEUE_TIMEOUT,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_QUEUE_TIMEOUT,
    DOMAIN,
)
from .dedup import FrameDedup
from .device import SOCKET_FIELDS, SocketDevice
from .network_servers import (
    IGNORED_PROTOBUF,
    Adapter,
    DownlinkResult,
    Ignored,
    Join,
    Uplink,
)
from .registry import ProtobufIssue, registry_info, update_registry
from .store import SocketStore, device_from_storage, device_to_storage
from .transport import Transport

_LOGGER = logging.getLogger(__name__)


def signal_new_device(entry_id: str) -> str:
    """Dispatcher signal sent with a SocketDevice when one is discovered."""
    return f"{DOMAIN}_{entry_id}_new_device"


class CsocketHub:
    """Dispatch and discovery of one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        adapter: Adapter,
        transport: Transport,
    ) -> None:
        """Wire the adapter and transport; nothing runs before `async_start`."""
        self.hass = hass
        self.entry = entry
        self.adapter = adapter
        self.transport = transport
        self.devices: dict[str, SocketDevice] = {}
        self.queues: dict[str, CommandQueue] = {}
        self.options = dict(entry.options)  # as loaded, to spot option changes
        self.store = SocketStore(hass, entry.entry_id, self._snapshot)
        self.availability = AvailabilityTracker(
            hass, lambda: self.availability_factor, self._changed_by_time
        )
        self._previous_subscriptions: list[str] = []
        self._dedup = FrameDedup()
        # Correlation id -> command waiting for its outcome, entry-wide.
        self._commands: dict[str, Command] = {}
        self.air_gate = AirGate()
        self._ignored_euis: set[str] = set()
        self.protobuf_issue = ProtobufIssue(hass, entry, adapter.protobuf_issue)
        self.ignored_count = 0
        self.messages_handled = 0
        transport.on_message = self.async_handle_message
        transport.on_state = self._connection_changed

    # Options -------------------------------------------------------------

    @property
    def availability_factor(self) -> float:
        """Multiplier of the reporting interval before a socket is unavailable."""
        return float(
            self.entry.options.get(
                CONF_AVAILABILITY_FACTOR, DEFAULT_AVAILABILITY_FACTOR
            )
        )

    @property
    def command_timeout(self) -> float:
        """Seconds to wait for the device to confirm a command."""
        return float(
            self.entry.options.get(CONF_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT)
        )

    @property
    def queue_timeout(self) -> float:
        """Seconds a command may wait for the network server to transmit it."""
        return float(self.entry.options.get(CONF_QUEUE_TIMEOUT, DEFAULT_QUEUE_TIMEOUT))

    def _accepts_new(self, dev_eui: str) -> bool:
        if self.entry.options.get(CONF_AUTO_ADD, True):
            return True
        return dev_eui in self.entry.options.get(CONF_DEV_EUIS, [])

    # Lifecycle -----------------------------------------------------------

    async def async_load(self) -> None:
        """Restore the sockets saved before the last shutdown.

        Sockets the user deleted meanwhile (no longer in the device registry)
        are dropped.
        """
        stored = await self.store.async_load()
        self._previous_subscriptions = list(stored.get("subscriptions", []))
        registry = dr.async_get(self.hass)
        known = {
            identifier
            for entry in dr.async_entries_for_config_entry(
                registry, self.entry.entry_id
            )
            for domain, identifier in entry.identifiers
            if domain == DOMAIN
        }
        now = dt_util.utcnow()
        for data in stored.get("devices", {}).values():
            device = device_from_storage(data)
            if device.dev_eui not in known:
                continue
            if data.get("available"):
                # A restart alone never makes a socket unavailable.
                device.window_start = now
            # The saved identity keeps addressing its downlinks: the first
            # uplink after a restart must not choose another topic.
            self.adapter.pin(device.ref)
            self._add(device)
            self.availability.update(device, first=True)

    async def async_start(self) -> None:
        """Connect the transport; raises TransportError when that fails now."""
        subscriptions = self.adapter.subscriptions()
        wanted = {sub.topic for sub in subscriptions}
        # The broker keeps a persistent session's subscriptions: drop the ones
        # an earlier configuration made (e.g. another application).
        stale = [t for t in self._previous_subscriptions if t not in wanted]
        await self.transport.async_start(subscriptions, stale)

    async def async_stop(self) -> None:
        """Disconnect, cancel timers, fail what still waits, and save."""
        await self.transport.async_stop()
        self.availability.stop()
        for queue in self.queues.values():
            queue.fail_all("csocket is unloading")
        await self.store.async_flush()

    @callback
    def _snapshot(self) -> dict[str, Any]:
        # Built on the event loop; only the copy goes to the writer thread.
        return {
            "subscriptions": [sub.topic for sub in self.adapter.subscriptions()],
            "devices": {
                eui: device_to_storage(dev) for eui, dev in self.devices.items()
            },
        }

    @callback
    def async_remove_device(self, dev_eui: str) -> None:
        """Forget a device the user deleted."""
        self.devices.pop(dev_eui, None)
        if queue := self.queues.pop(dev_eui, None):
            queue.fail_all("the socket was removed")
        self.availability.remove(dev_eui)
        self.store.schedule()

    @callback
    def _connection_changed(self, connected: bool) -> None:
        _LOGGER.debug("Broker connection %s", "up" if connected else "down")
        # Control entities follow the connection.
        for device in self.devices.values():
            device.notify()

    @callback
    def _changed_by_time(self, device: SocketDevice) -> None:
        self.store.schedule()
        device.notify()

    # Uplinks -------------------------------------------------------------

    @callback
    def async_handle_message(self, topic: str, payload: bytes) -> None:
        """Entry point for every MQTT message; never raises."""
        self.messages_handled += 1
        try:
            event = self.adapter.parse(topic, payload)
            if isinstance(event, Uplink):
                self._handle_uplink(event)
            elif isinstance(event, DownlinkResult):
                self._handle_result(event)
            elif isinstance(event, Join):
                self._joined(event)
            elif isinstance(event, Ignored):
                self._ignored(topic, event)
        except Exception:
            # One bad message must not stop the stream for every other socket.
            _LOGGER.exception("Error handling message on %s", topic)

    def _handle_uplink(self, uplink: Uplink) -> None:
        if self._dedup.is_duplicate(uplink.dedup_key):
            _LOGGER.debug("Duplicate uplink from %s ignored", uplink.device.dev_eui)
            return

        self.protobuf_issue.clear()
        decoded = codec.decode_uplink(uplink.payload)
        dev_eui = uplink.device.dev_eui
        device = self.devices.get(dev_eui)
        if device is None:
            device = self._discover(uplink, decoded)
            if device is None:
                return
        if "unparsed" in decoded:
            _LOGGER.warning(
                "Socket %s sent bytes csocket could not decode: %s",
                device.name,
                decoded["unparsed"],
            )
        received = received_time(device, uplink.received_at, self.availability_factor)
        info_before = registry_info(device)
        first = device.last_seen is None
        events = device.apply_uplink(uplink, decoded, received)
        if registry_info(device) != info_before:
            update_registry(self.hass, self.entry.entry_id, device)
        if is_periodic(device, decoded, received) and device.clock.observe(received):
            _LOGGER.debug(
                "Socket %s reports every %s s", device.name, device.clock.learned
            )
        self.availability.update(device, first=first)
        self.queues[dev_eui].handle_uplink(decoded)
        device.last_events = events
        device.notify()
        device.last_events = []
        self.store.schedule()

    def _ignored(self, topic: str, event: Ignored) -> None:
        self.ignored_count += 1
        _LOGGER.debug("Ignored message on %s: %s", topic, event.reason)
        if event.code == IGNORED_PROTOBUF:
            self.protobuf_issue.raise_once(event.reason)

    def _joined(self, join: Join) -> None:
        dev_eui = join.device.dev_eui
        _LOGGER.debug("Device %s joined", dev_eui)
        self._dedup.forget(dev_eui)

    def _discover(
        self, uplink: Uplink, decoded: Mapping[str, Any]
    ) -> SocketDevice | None:
        dev_eui = uplink.device.dev_eui
        # Every Milesight device sends versions and SN at join: only records
        # of the socket itself, and nothing undecodable, identify a WS523.
        if "unparsed" in decoded or SOCKET_FIELDS.isdisjoint(decoded):
            if dev_eui not in self._ignored_euis:
                self._ignored_euis.add(dev_eui)
                _LOGGER.info(
                    "Device %s on FPort %s does not speak the WS523 protocol; ignored",
                    dev_eui,
                    uplink.f_port,
                )
            return None
        if not self._accepts_new(dev_eui):
            if dev_eui not in self._ignored_euis:
                self._ignored_euis.add(dev_eui)
                _LOGGER.info("Socket %s is not in the list of sockets to add", dev_eui)
            return None
        device = SocketDevice(ref=uplink.device)
        self._add(device)
        _LOGGER.info("New socket %s (%s) discovered", dev_eui, device.name)
        update_registry(self.hass, self.entry.entry_id, device)
        async_dispatcher_send(self.hass, signal_new_device(self.entry.entry_id), device)
        return device

    # Commands ------------------------------------------------------------

    def _add(self, device: SocketDevice) -> None:
        self.devices[device.dev_eui] = device
        self.queues[device.dev_eui] = CommandQueue(
            device, self.adapter, self.transport, self._commands, self
        )

    @callback
    def settings_sent(self, device: SocketDevice, settings: Mapping[str, Any]) -> None:
        """Remember settings the device may never report back, and save soon."""
        device.record_sent(settings, dt_util.utcnow())
        if "report_interval" in settings:
            self.availability.restart_window(device)
        else:
            self.availability.update(device)
        device.notify()
        self.store.schedule(delay=1)

    @callback
    def spawn(self, coro: Coroutine[Any, Any, None], dev_eui: str) -> None:
        """Run a queue's flush as a task that ends with the entry."""
        self.entry.async_create_background_task(
            self.hass, coro, f"csocket settings {dev_eui}"
        )

    def _handle_result(self, result: DownlinkResult) -> None:
        dispatch_result(result, self._commands, self.queues)
