"""The hub: one per config entry.

Owns the transport and the network-server adapter, dispatches uplinks to
devices, discovers new sockets, tracks downlinks until the device confirms
them, and persists what the device never reports back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from . import codec
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
    STORAGE_VERSION,
)
from .device import SOCKET_FIELDS, DelayTask, SocketDevice
from .network_servers import (
    IGNORED_PROTOBUF,
    Adapter,
    DeviceRef,
    DownlinkResult,
    DownlinkStatus,
    Ignored,
    Join,
    Uplink,
)
from .transport import CannotConnect, Transport, TransportError

_LOGGER = logging.getLogger(__name__)

DEDUP_SIZE = 512
# A delay task whose change report has not come this long after it was due
# has run (or changed nothing): stop showing it.
DELAY_TASK_GRACE = timedelta(minutes=2)
# Copies of one frame (gateways, broker redelivery) arrive within this window;
# the same bytes and counter later are a new frame, e.g. after a reboot.
DEDUP_WINDOW = 120.0
# Smallest application payload over all regions and data rates (US915 DR0).
MAX_FRAME = 11
# Settings the device keeps; remembered when sent because it may never echo them.
SETTING_KEYS = frozenset(
    {
        "report_interval",
        "overcurrent_alarm",
        "overcurrent_protection",
        "button_lock",
        "power_consumption_enabled",
        "led_enabled",
    }
)
SAVE_DELAY = 10


class DownlinkFailed(Exception):
    """The network server reported that a downlink failed."""


class CommandTimeout(Exception):
    """The device did not confirm a command in time."""


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's saved sockets (the entry itself was deleted)."""
    await _store(hass, entry_id).async_remove()


def signal_new_device(entry_id: str) -> str:
    """Dispatcher signal sent with a SocketDevice when one is discovered."""
    return f"{DOMAIN}_{entry_id}_new_device"


@dataclass(slots=True)
class _Waiter:
    """A command waiting for the device's confirming report."""

    dev_eui: str
    correlation_id: str
    accept: Callable[[Mapping[str, Any]], bool]
    future: asyncio.Future[Mapping[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class CsocketHub:
    """State and I/O of one config entry."""

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
        self.options = dict(entry.options)  # as loaded, to spot option changes
        self._store = _store(hass, entry.entry_id)
        self._previous_subscriptions: list[str] = []
        # Frame key -> monotonic time first seen.
        self._seen: OrderedDict[tuple[str, int | None, bytes], float] = OrderedDict()
        self._timers: dict[str, CALLBACK_TYPE] = {}
        self._waiters: list[_Waiter] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._ignored_euis: set[str] = set()
        self._batches: dict[str, _Batch] = {}
        self._protobuf_reported = False
        self._save_pending = False
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
        stored = await self._store.async_load() or {}
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
                device.window_start = now
            device.available = device.is_available(now, self.availability_factor)
            self.devices[device.dev_eui] = device

    async def async_start(self) -> None:
        """Connect the transport; raises TransportError when that fails now."""
        subscriptions = self.adapter.subscriptions()
        wanted = {sub.topic for sub in subscriptions}
        # The broker keeps a persistent session's subscriptions: drop the ones
        # an earlier configuration made (e.g. another application).
        stale = [t for t in self._previous_subscriptions if t not in wanted]
        await self.transport.async_start(subscriptions, stale)
        for device in self.devices.values():
            self._schedule_timer(device)

    async def async_stop(self) -> None:
        """Disconnect, cancel timers, fail what still waits, and save."""
        await self.transport.async_stop()
        for unsub in self._timers.values():
            unsub()
        self._timers.clear()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(CannotConnect("csocket is unloading"))
        for batch in self._batches.values():
            if not batch.future.done():
                batch.future.set_exception(CannotConnect("csocket is unloading"))
        await self._store.async_save(self._data_to_save())

    @callback
    def _data_to_save(self) -> dict[str, Any]:
        self._save_pending = False
        return {
            "subscriptions": [sub.topic for sub in self.adapter.subscriptions()],
            "devices": {eui: dev.as_storage() for eui, dev in self.devices.items()},
        }

    @callback
    def async_schedule_save(self, delay: float = SAVE_DELAY) -> None:
        """Persist within `delay` seconds.

        A throttle, not a debounce: steady uplinks must not postpone the write
        for ever, so a pending save is not pushed back.
        """
        if self._save_pending and delay >= SAVE_DELAY:
            return
        self._save_pending = True
        self._store.async_delay_save(self._data_to_save, delay)

    @callback
    def async_remove_device(self, dev_eui: str) -> None:
        """Forget a device the user deleted."""
        self.devices.pop(dev_eui, None)
        if unsub := self._timers.pop(dev_eui, None):
            unsub()
        self.async_schedule_save()

    @callback
    def _connection_changed(self, connected: bool) -> None:
        _LOGGER.debug("Broker connection %s", "up" if connected else "down")
        # Control entities follow the connection.
        for device in self.devices.values():
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
        window = timedelta(seconds=device.report_interval * self.availability_factor)
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
        events = device.apply_uplink(uplink, decoded, received)
        if self._info(device) != info_before:
            self._update_registry(device)
        self._set_available(device)
        self._schedule_timer(device)
        for waiter in [w for w in self._waiters if w.dev_eui == dev_eui]:
            if not waiter.future.done() and waiter.accept(decoded):
                waiter.future.set_result(decoded)
        device.last_events = events
        device.notify()
        device.last_events = []
        self.async_schedule_save()

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
                translation_key=self.adapter.protobuf_issue,
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
        self.devices[dev_eui] = device
        _LOGGER.info("New socket %s (%s) discovered", dev_eui, device.name)
        self._update_registry(device)
        async_dispatcher_send(self.hass, signal_new_device(self.entry.entry_id), device)
        return device

    @staticmethod
    def _info(device: SocketDevice) -> tuple[Any, ...]:
        values = device.values
        return (
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

    # Availability --------------------------------------------------------

    def _set_available(self, device: SocketDevice) -> None:
        available = device.is_available(dt_util.utcnow(), self.availability_factor)
        if available == device.available:
            return
        device.available = available
        self.async_schedule_save()
        # log-when-unavailable: once when it goes, once when it returns.
        if available:
            _LOGGER.info("Socket %s is reporting again", device.name)
        else:
            _LOGGER.info(
                "Socket %s stopped reporting (last uplink %s)",
                device.name,
                device.last_seen,
            )

    def _schedule_timer(self, device: SocketDevice) -> None:
        """Wake up when the socket's window closes or its delay task is overdue."""
        if unsub := self._timers.pop(device.dev_eui, None):
            unsub()
        points = []
        if device.available and (
            expires := device.expires_at(self.availability_factor)
        ):
            points.append(expires)
        if device.delay_task is not None:
            points.append(device.delay_task.fires_at + DELAY_TASK_GRACE)
        if not points:
            return

        @callback
        def _wake(_now: datetime) -> None:
            self._timers.pop(device.dev_eui, None)
            self._set_available(device)
            task = device.delay_task
            if (
                task is not None
                and dt_util.utcnow() >= task.fires_at + DELAY_TASK_GRACE
            ):
                # Its change report never came (lost, or no change): it has run.
                device.delay_task = None
                self.async_schedule_save()
            self._schedule_timer(device)
            device.notify()

        self._timers[device.dev_eui] = async_track_point_in_utc_time(
            self.hass, _wake, min(points) + timedelta(microseconds=1)
        )

    # Downlinks -----------------------------------------------------------

    def _handle_result(self, result: DownlinkResult) -> None:
        failed = result.status in (
            DownlinkStatus.FAILED,
            DownlinkStatus.NOT_ACKNOWLEDGED,
        )
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if result.correlation_id is not None:
                match = waiter.correlation_id == result.correlation_id
            else:
                match = waiter.dev_eui == result.dev_eui
            if match and failed:
                waiter.future.set_exception(
                    DownlinkFailed(result.reason or result.status.value)
                )
            elif match:
                _LOGGER.debug("Downlink %s %s", waiter.correlation_id, result.status)

    def _lock(self, dev_eui: str) -> asyncio.Lock:
        return self._locks.setdefault(dev_eui, asyncio.Lock())

    async def async_send(
        self,
        device: SocketDevice,
        payload: bytes,
        *,
        f_port: int | None = None,
        confirmed: bool = False,
    ) -> str:
        """Publish one downlink; returns its correlation id."""
        async with self._lock(device.dev_eui):
            return await self._publish(device.ref, payload, f_port, confirmed)

    async def _publish(
        self, ref: DeviceRef, payload: bytes, f_port: int | None, confirmed: bool
    ) -> str:
        downlink = self.adapter.build_downlink(
            ref,
            payload,
            f_port=f_port,
            confirmed=confirmed,
            correlation_id=str(uuid.uuid4()),
        )
        await self.transport.async_publish(
            downlink.topic, downlink.payload, downlink.qos
        )
        _LOGGER.debug(
            "Downlink %s to %s: %s", downlink.correlation_id, ref.dev_eui, payload.hex()
        )
        return downlink.correlation_id

    async def async_command(
        self,
        device: SocketDevice,
        commands: Mapping[str, Any],
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Mapping[str, Any] | None:
        """Send settings/commands; with `accept`, wait for the confirming report.

        Downlinks to one device are serialised: the next waits until the
        previous one is confirmed, failed or timed out.
        """
        payload = codec.encode_downlink(commands)
        async with self._lock(device.dev_eui):
            if accept is None:
                await self._publish(device.ref, payload, None, False)
                return None
            # Ask for a status report in the same frame: it confirms the command.
            payload += codec.encode_downlink({"report_status": True})
            loop = asyncio.get_running_loop()
            waiter = _Waiter(device.dev_eui, "", accept, loop.create_future())
            self._waiters.append(waiter)
            try:
                waiter.correlation_id = await self._publish(
                    device.ref, payload, None, False
                )
                device.command_sent_at = dt_util.utcnow()
                async with asyncio.timeout(self.command_timeout):
                    return await waiter.future
            except TimeoutError as err:
                raise CommandTimeout(device.dev_eui) from err
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def async_configure(
        self, device: SocketDevice, settings: Mapping[str, Any]
    ) -> None:
        """Send settings; settings requested in the same loop turn share a frame.

        The device does not confirm settings, so what was sent is remembered
        (and shown) until the device reports the setting itself.
        """
        codec.encode_downlink(settings)  # validate now, in the caller's context
        batch = self._batches.get(device.dev_eui)
        if batch is None:
            batch = self._batches[device.dev_eui] = _Batch(
                asyncio.get_running_loop().create_future()
            )
            self.hass.loop.call_soon(self._start_flush, device)
        batch.settings.update(settings)
        await asyncio.shield(batch.future)

    @callback
    def _start_flush(self, device: SocketDevice) -> None:
        self.entry.async_create_background_task(
            self.hass, self._flush(device), f"csocket flush {device.dev_eui}"
        )

    async def _flush(self, device: SocketDevice) -> None:
        batch = self._batches.pop(device.dev_eui)
        try:
            async with self._lock(device.dev_eui):
                for frame in _frames(batch.settings):
                    await self._publish(device.ref, frame, None, False)
        except BaseException as err:
            # Hand every failure, unloading included, to the waiting callers.
            if not batch.future.done():
                batch.future.set_exception(
                    err
                    if isinstance(err, Exception)
                    else CannotConnect("csocket is unloading")
                )
            if not isinstance(err, Exception):
                raise
            return
        now = dt_util.utcnow()
        for key, value in batch.settings.items():
            self._record_sent(device, key, value, now)
        self._schedule_timer(device)
        batch.future.set_result(None)
        device.notify()
        # What the device never reports back: save it now.
        self.async_schedule_save(delay=1)

    @staticmethod
    def _record_sent(
        device: SocketDevice,
        key: str,
        value: Any,
        now: datetime,
    ) -> None:
        if key == "delay_task":
            device.delay_task = DelayTask(
                now + timedelta(seconds=value["delay"]), value["socket_status"]
            )
        elif key == "delete_delay_task":
            device.delay_task = None
        elif key in SETTING_KEYS:
            # The device's next report of this setting replaces it.
            device.values.pop(key, None)
            device.sent[key] = value


def _frames(settings: Mapping[str, Any]) -> list[bytes]:
    """Encode settings into as few frames as fit the smallest LoRaWAN payload."""
    frames: list[bytes] = []
    current = b""
    for key, value in settings.items():
        record = codec.encode_downlink({key: value})
        if current and len(current) + len(record) > MAX_FRAME:
            frames.append(current)
            current = b""
        current += record
    if current:
        frames.append(current)
    return frames


@dataclass(slots=True)
class _Batch:
    """Settings waiting to go out together."""

    future: asyncio.Future[None]
    settings: dict[str, Any] = field(default_factory=dict)


__all__ = [
    "CommandTimeout",
    "CsocketHub",
    "DownlinkFailed",
    "TransportError",
    "signal_new_device",
]
