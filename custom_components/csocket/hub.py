"""The hub: one per config entry.

Owns the transport and the network-server adapter, dispatches each message
to its socket and discovers new sockets. Commands, availability and storage
are units of their own (commands.py, availability.py, store.py).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from . import codec
from .availability import AvailabilityTracker, is_periodic, report_interval
from .commands import (
    Command,
    CommandQueue,
    CommandTimeout,
    DownlinkFailed,
    SettingUnknown,
)
from .const import (
    CONF_AUTO_ADD,
    CONF_AVAILABILITY_FACTOR,
    CONF_COMMAND_TIMEOUT,
    CONF_DEV_EUIS,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_COMMAND_TIMEOUT,
    DOMAIN,
    MANUFACTURER,
    MODEL,
    MODEL_NAME,
)
from .device import SOCKET_FIELDS, SocketDevice
from .network_servers import (
    IGNORED_PROTOBUF,
    Adapter,
    DownlinkResult,
    DownlinkStatus,
    Ignored,
    Join,
    Uplink,
)
from .store import SocketStore, async_remove_store
from .transport import Transport, TransportError

_LOGGER = logging.getLogger(__name__)

DEDUP_SIZE = 512
# Copies of one frame (gateways, broker redelivery) arrive within this window;
# the same bytes and counter later are a new frame, e.g. after a reboot.
DEDUP_WINDOW = 120.0


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
        # Frame key -> monotonic time first seen.
        self._seen: OrderedDict[tuple[str, int | None, bytes], float] = OrderedDict()
        # Correlation id -> command waiting for its outcome, entry-wide.
        self._commands: dict[str, Command] = {}
        self._ignored_euis: set[str] = set()
        self._protobuf_reported = False
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
            device = SocketDevice.from_storage(data)
            if device.dev_eui not in known:
                continue
            if data.get("available"):
                # A restart alone never makes a socket unavailable.
                device.window_start = now
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
            "devices": {eui: dev.as_storage() for eui, dev in self.devices.items()},
        }

    @callback
    def async_remove_device(self, dev_eui: str) -> None:
        """Forget a device the user deleted."""
        self.devices.pop(dev_eui, None)
        self.queues.pop(dev_eui, None)
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
        if self._is_duplicate(uplink):
            _LOGGER.debug("Duplicate uplink from %s ignored", uplink.device.dev_eui)
            return

        if self._protobuf_reported:  # JSON arrives again: the user fixed it
            self._protobuf_reported = False
            ir.async_delete_issue(self.hass, DOMAIN, self.protobuf_issue_id)
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
        # The server's receive time, unless missing or ahead of our clock.
        now = dt_util.utcnow()
        received = uplink.received_at
        window = timedelta(seconds=report_interval(device) * self.availability_factor)
        if (
            received is None
            or received > now
            or received < now - window
            or (device.last_seen is not None and received < device.last_seen)
        ):
            # Missing, or a clock that is off: our clock it is. (A backlog
            # delivered after a restart keeps its times within the window.)
            received = now
        info_before = self._info(device)
        first = device.last_seen is None
        events = device.apply_uplink(uplink, decoded, received)
        if self._info(device) != info_before:
            self._update_registry(device)
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
        if event.code == IGNORED_PROTOBUF and not self._protobuf_reported:
            self._protobuf_reported = True
            _LOGGER.error("%s", event.reason)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.protobuf_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="chirpstack_protobuf",
                translation_placeholders={"title": self.entry.title},
            )

    @property
    def protobuf_issue_id(self) -> str:
        """Repair issue raised while the server publishes Protobuf."""
        return f"chirpstack_protobuf_{self.entry.entry_id}"

    def _is_duplicate(self, uplink: Uplink) -> bool:
        key = uplink.dedup_key
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen < DEDUP_WINDOW:
            return True
        self._seen[key] = now
        self._seen.move_to_end(key)
        if len(self._seen) > DEDUP_SIZE:
            self._seen.popitem(last=False)
        return False

    def _joined(self, join: Join) -> None:
        dev_eui = join.device.dev_eui
        _LOGGER.debug("Device %s joined", dev_eui)
        # Frame counters restart at a join: forget the old frames' keys.
        for key in [k for k in self._seen if k[0] == dev_eui]:
            del self._seen[key]

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
        self._update_registry(device)
        async_dispatcher_send(self.hass, signal_new_device(self.entry.entry_id), device)
        return device

    @staticmethod
    def _info(device: SocketDevice) -> tuple[Any, ...]:
        values = device.values
        return (
            device.name,
            values.get("sn"),
            values.get("hardware_version"),
            values.get("firmware_version"),
        )

    def _update_registry(self, device: SocketDevice) -> None:
        registry = dr.async_get(self.hass)
        values = device.values
        registry.async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, device.dev_eui)},
            manufacturer=MANUFACTURER,
            model=MODEL_NAME,
            model_id=MODEL,
            name=device.name,
            serial_number=values.get("sn"),
            hw_version=values.get("hardware_version"),
            sw_version=values.get("firmware_version"),
        )

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
        failed = result.status in (
            DownlinkStatus.FAILED,
            DownlinkStatus.NOT_ACKNOWLEDGED,
        )
        if result.correlation_id is not None:
            command = self._commands.get(result.correlation_id)
            if command is not None and failed:
                command.fail(DownlinkFailed(result.reason or result.status.value))
            _LOGGER.debug("Downlink %s %s", result.correlation_id, result.status)
        elif result.dev_eui is not None and (queue := self.queues.get(result.dev_eui)):
            queue.handle_result(result, failed=failed)

    async def async_send(
        self,
        device: SocketDevice,
        payload: bytes,
        *,
        f_port: int | None = None,
        confirmed: bool = False,
    ) -> str:
        """Publish one downlink; returns its correlation id."""
        return await self.queues[device.dev_eui].async_send(
            payload, f_port=f_port, confirmed=confirmed
        )

    async def async_command(
        self,
        device: SocketDevice,
        commands: Mapping[str, Any],
        accept: Callable[[Mapping[str, Any]], bool],
    ) -> Mapping[str, Any]:
        """Send commands and wait for the report that `accept`s them."""
        return await self.queues[device.dev_eui].async_command(commands, accept)

    async def async_configure(
        self, device: SocketDevice, settings: Mapping[str, Any]
    ) -> None:
        """Send settings; settings requested in the same loop turn share a frame."""
        await self.queues[device.dev_eui].async_configure(settings)


__all__ = [
    "CommandTimeout",
    "CsocketHub",
    "DownlinkFailed",
    "SettingUnknown",
    "TransportError",
    "async_remove_store",
    "signal_new_device",
]
