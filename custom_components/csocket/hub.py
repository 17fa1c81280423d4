"""The hub: one per config entry.

Owns the transport and the network-server adapter, dispatches each message
to its socket and discovers new sockets. Commands, availability and storage
are units of their own (commands.py, availability.py, store.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.loader import async_get_integration, async_get_loaded_integration
from homeassistant.util import dt as dt_util

from . import codec
from .airtime import broker_gate
from .availability import (
    AvailabilityTracker,
    is_periodic,
    received_time,
    report_interval,
)
from .command import Command
from .commands import CommandQueue, dispatch_result
from .const import (
    CONF_AVAILABILITY_FACTOR,
    CONF_COMMAND_TIMEOUT,
    CONF_QUEUE_TIMEOUT,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_QUEUE_TIMEOUT,
    DOMAIN,
)
from .dedup import FrameDedup
from .device import RESTATED, SocketDevice
from .discovery import DiscoveryGate
from .network_servers import (
    IGNORED_INVALID_DEV_EUI,
    IGNORED_INVALID_IDENTITY,
    IGNORED_PROTOBUF,
    Adapter,
    DownlinkResult,
    Ignored,
    Join,
    Uplink,
)
from .overlap import async_raise_overlap_issue, broker_location
from .problems import DeviceProblem, QuietLog, RepairIssue
from .registry import DeviceInfos, ProtobufIssue, registry_info, update_registry
from .store import (
    CLEAN,
    RELEASE,
    RESTATED_SAVE_DELAY,
    SAVE_DELAY,
    SocketStore,
    device_from_storage,
)
from .transport import BrokerTransport, Transport
from .watch import EntryWatch

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
        self.device_infos = DeviceInfos()
        self.options = dict(entry.options)  # as loaded, to spot option changes
        self.store = SocketStore(hass, entry.entry_id, self._snapshot)
        self.availability = AvailabilityTracker(
            hass, lambda: self.availability_factor, self._changed_by_time
        )
        self._previous_subscriptions: list[str] = []
        self._dedup = FrameDedup()
        # Correlation id -> command waiting for its outcome, entry-wide.
        self._commands: dict[str, Command] = {}
        self.discovery = DiscoveryGate(hass, entry)
        self._remove_overlap_issue: Callable[[], None] = lambda: None
        self.air_gate = broker_gate(hass, broker_location(hass, entry.data))
        self.protobuf_issue = ProtobufIssue(hass, entry, adapter.protobuf_issue)
        self.quiet_log = QuietLog(_LOGGER)
        # Ignored.code -> its repair issue, naming the devices concerned.
        self.problems = {
            code: DeviceProblem(
                hass, RepairIssue(hass, entry, code, code), self.quiet_log
            )
            for code in (IGNORED_INVALID_IDENTITY, IGNORED_INVALID_DEV_EUI)
        }
        self.ignored_count = 0
        self.messages_handled = 0
        self.watch = EntryWatch(hass, entry, transport, self._longest_interval)
        # The csocket release whose entities the registry holds (see
        # RELEASE); whether that is the running one. Set by async_load.
        self._registered_release: str | None = None
        self.registry_current = False
        # Messages that arrive before the entities exist; see entities_added.
        self._held: list[tuple[str, bytes]] | None = []
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

    # Lifecycle -----------------------------------------------------------

    async def async_load(self) -> None:
        """Restore the sockets saved before the last shutdown.

        Sockets the user deleted meanwhile (no longer in the device registry)
        are dropped.
        """
        stored = await self.store.async_load()
        self._registered_release = stored.get(RELEASE)
        running = str((await async_get_integration(self.hass, DOMAIN)).version)
        self.registry_current = self._registered_release == running
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
        clean = bool(stored.get(CLEAN))
        for data in stored.get("devices", {}).values():
            device = device_from_storage(data, clean=clean)
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
        if not clean:
            # Saved by the throttle, then Home Assistant crashed (or an older
            # csocket saved it): the frame counters may predate the last
            # uplinks, so the first ones now cannot show a broker's gap.
            self.watch.backlog.unsure(self.devices)

    async def async_start(self) -> None:
        """Connect the transport; raises TransportError when that fails now."""
        self._remove_overlap_issue = async_raise_overlap_issue(self.hass, self.entry)
        subscriptions = self.adapter.subscriptions()
        wanted = {sub.topic for sub in subscriptions}
        # The broker keeps a persistent session's subscriptions: drop the ones
        # an earlier configuration made (e.g. another application).
        stale = [t for t in self._previous_subscriptions if t not in wanted]
        await self.transport.async_start(subscriptions, stale)
        # Home Assistant's MQTT has its own user, set up and checked there.
        self.watch.start(
            subscriptions,
            probe=isinstance(self.transport, BrokerTransport)
            and self.adapter.loopback_probe,
        )

    @callback
    def entities_added(self) -> None:
        """Every entity went to Home Assistant; handle what arrived meanwhile.

        The registry now holds this release's entities (see RELEASE).
        """
        if not self.registry_current:
            self._registered_release = str(
                async_get_loaded_integration(self.hass, DOMAIN).version
            )
            self.registry_current = True
            self.store.schedule()
        held, self._held = self._held or [], None
        for topic, payload in held:
            self.async_handle_message(topic, payload)

    async def async_stop(self) -> None:
        """Disconnect, cancel timers, fail what still waits, and save."""
        await self.transport.async_stop()
        self.watch.stop()
        self.availability.stop()
        for queue in self.queues.values():
            queue.fail_all("csocket is unloading")
        await self.store.async_flush()

    @callback
    def _snapshot(self) -> dict[str, Any]:
        # Built on the event loop; only the copy goes to the writer thread.
        return {
            RELEASE: self._registered_release,
            "subscriptions": [sub.topic for sub in self.adapter.subscriptions()],
            "devices": self.store.devices(self.devices.values()),
        }

    @callback
    def async_remove_device(self, dev_eui: str) -> None:
        """Forget a device the user deleted."""
        self.devices.pop(dev_eui, None)
        if queue := self.queues.pop(dev_eui, None):
            queue.fail_all("the socket was removed")
        self.availability.remove(dev_eui)
        self.device_infos.forget(dev_eui)
        self.store.schedule()

    def _longest_interval(self) -> int | None:
        return max(map(report_interval, self.devices.values()), default=None)

    @callback
    def _connection_changed(self, connected: bool) -> None:
        _LOGGER.debug("Broker connection %s", "up" if connected else "down")
        if connected:
            self.watch.backlog.connected()
        # Control entities follow the connection.
        for device in self.devices.values():
            device.notify()

    @callback
    def _changed_by_time(self, device: SocketDevice) -> None:
        self.store.schedule(device)
        device.notify()

    # Uplinks -------------------------------------------------------------

    @callback
    def async_handle_message(self, topic: str, payload: bytes) -> None:
        """Entry point for every MQTT message; never raises."""
        if self.watch.received(topic, payload):
            return
        if self._held is not None:
            self._held.append((topic, payload))
            return
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
        except Exception:  # noqa: BLE001 - logged (rate-limited) with traceback
            # One bad message must not stop the stream for every other socket,
            # nor a stream of them flood the log with tracebacks.
            self.quiet_log.log(
                logging.ERROR,
                "exception",
                "",
                "Error handling message on %s",
                topic,
                exc_info=True,
            )

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
            self.quiet_log.warning(
                "undecodable",
                dev_eui,
                "Socket %s sent bytes csocket could not decode: %s",
                device.name,
                decoded["unparsed"],
            )
        received = received_time(device, uplink.received_at, self.availability_factor)
        info_before = registry_info(device)
        first = device.last_seen is None
        self.watch.backlog.frame(dev_eui, device.f_cnt, uplink.f_cnt)
        applied = device.apply_uplink(uplink, decoded, received)
        # Whether the uplink told csocket something no later report restates.
        keep = first or not applied.changed <= RESTATED
        if registry_info(device) != info_before:
            keep = True
            update_registry(self.hass, self.entry.entry_id, device)
        if is_periodic(device, decoded, received) and device.clock.observe(received):
            keep = True
            _LOGGER.debug(
                "Socket %s reports every %s s", device.name, device.clock.learned
            )
        available_changed = self.availability.update(device, first=first)
        self.queues[dev_eui].handle_uplink(decoded)
        device.last_events = applied.events
        device.notify(None if available_changed else applied.changed)
        device.last_events = []
        self.store.schedule(device, SAVE_DELAY if keep else RESTATED_SAVE_DELAY)

    def _ignored(self, topic: str, event: Ignored) -> None:
        self.ignored_count += 1
        _LOGGER.debug("Ignored message on %s: %s", topic, event.reason)
        if event.code == IGNORED_PROTOBUF:
            self.protobuf_issue.raise_once(event.reason)
        elif event.code is not None and (problem := self.problems.get(event.code)):
            problem.report(event.dev_eui or event.reason, event.reason)

    @callback
    def remove_issues(self) -> None:
        """Delete the entry's repair issues (it unloads; they return if due)."""
        self.protobuf_issue.remove()
        self._remove_overlap_issue()
        self.discovery.cap_issue.remove()
        self.discovery.limit_issue.remove()
        for problem in self.problems.values():
            problem.remove()

    def _joined(self, join: Join) -> None:
        dev_eui = join.device.dev_eui
        _LOGGER.debug("Device %s joined", dev_eui)
        self._dedup.forget(dev_eui)

    def _discover(
        self, uplink: Uplink, decoded: Mapping[str, Any]
    ) -> SocketDevice | None:
        dev_eui = uplink.device.dev_eui
        if not self.discovery.admits(uplink, decoded, len(self.devices)):
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
        self.store.schedule(device, delay=1)

    @callback
    def spawn(self, coro: Coroutine[Any, Any, None], dev_eui: str) -> None:
        """Run a queue's flush as a task that ends with the entry."""
        self.entry.async_create_background_task(
            self.hass, coro, f"csocket settings {dev_eui}"
        )

    def _handle_result(self, result: DownlinkResult) -> None:
        dispatch_result(result, self._commands, self.queues)
