"""Persistence of an entry's sockets: throttled saves of a loop-built snapshot.

Home Assistant's `Store.async_delay_save` calls its data function on a worker
thread, while the event loop keeps changing the sockets ("dictionary changed
size during iteration"). Here the snapshot is built on the event loop and only
that snapshot goes to the worker thread.

Each socket's part of the snapshot is built once per change and never mutated
afterwards, so consecutive snapshots share the parts of quiet sockets: with
10 000 sockets a save serialises on the loop only the few that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store

from .availability import ReportClock
from .const import DOMAIN, STORAGE_VERSION
from .device import DelayTask, SocketDevice
from .network_servers import DeviceRef
from .state import ENERGY_FIELD, SocketState

# A change only csocket keeps (a setting the socket may not report again, a
# new socket's identity) is saved within this many seconds.
SAVE_DELAY: Final = 10
# What every periodic report restates (measurements, link facts) waits longer,
# as Home Assistant's own restore-state dump does (every 15 minutes): after a
# crash the next report brings it back, and a whole-file rewrite every 10 s is
# needless flash wear (0.6 KiB per socket) and, with thousands of sockets,
# tens of milliseconds of serialisation holding the event loop.
RESTATED_SAVE_DELAY: Final = 15 * 60
# Set in a snapshot written when Home Assistant stops or the entry unloads:
# frame counters are then current. A throttled save's may be older after a
# crash (see BacklogCheck.unsure).
CLEAN: Final = "clean"
# The last csocket release whose set-up handed every entity to Home Assistant:
# the registry holds that release's names, units and categories, also for the
# disabled ones (see entity.py).
RELEASE: Final = "release"


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's saved sockets (the entry itself was deleted)."""
    await _store(hass, entry_id).async_remove()


class SocketStore:
    """Loads once, then saves snapshots at most every `SAVE_DELAY` seconds."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        snapshot: Callable[[], dict[str, Any]],
    ) -> None:
        """`snapshot` returns data that shares nothing with the live state."""
        self._hass = hass
        self._store = _store(hass, entry_id)
        self._snapshot = snapshot
        self._timer: CALLBACK_TYPE | None = None
        self._due: float | None = None
        # Home Assistant does not unload entries when it stops: once anything
        # changed, the entry saves (clean) at the final write, as Home
        # Assistant's own delayed saves do; a save waiting for its timer
        # would be lost otherwise.
        self._final_write: CALLBACK_TYPE | None = None
        # Whether the file on disk is marked CLEAN (written at a stop).
        self._file_clean = False
        # DevEUI -> its storage dict, immutable once built (shared with the
        # writer thread); sockets in `_changed` are rebuilt at the next save.
        self._parts: dict[str, dict[str, Any]] = {}
        self._changed: set[str] = set()

    async def async_load(self) -> dict[str, Any]:
        """What the last run saved, or {}."""
        data = await self._store.async_load() or {}
        self._file_clean = bool(data.get(CLEAN))
        return data

    @callback
    def devices(self, devices: Iterable[SocketDevice]) -> dict[str, Any]:
        """The sockets' part of a snapshot: rebuilt only where they changed."""
        parts, changed = self._parts, self._changed
        out: dict[str, Any] = {}
        for device in devices:
            eui = device.dev_eui
            part = parts.get(eui)
            if part is None or eui in changed:
                part = parts[eui] = device_to_storage(device)
            out[eui] = part
        changed.clear()
        if len(parts) != len(out):  # removed sockets
            self._parts = {eui: parts[eui] for eui in out}
        return out

    @callback
    def schedule(
        self, device: SocketDevice | None = None, delay: float = SAVE_DELAY
    ) -> None:
        """Save within `delay` seconds, `device` having changed.

        A throttle, not a debounce: steady uplinks must not postpone the write
        for ever, so a pending save is only ever brought forward.
        """
        if device is not None:
            self._changed.add(device.dev_eui)
        if self._file_clean:
            # The file claims to be current and no longer is: if Home
            # Assistant crashed now, the next start would trust it. The first
            # change of a run comes within 10 s, and the save ends the claim.
            delay = min(delay, SAVE_DELAY)
        due = self._hass.loop.time() + delay
        if self._timer is not None:
            if self._due is not None and self._due <= due:
                return
            self._timer()
        self._due = due
        self._timer = async_call_later(self._hass, delay, self._save)
        if self._final_write is None:
            self._final_write = self._hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_FINAL_WRITE, self._async_final_write
            )

    async def _async_final_write(self, _event: Event) -> None:
        self._final_write = None  # a listen_once: already removed
        # Also after a throttled save: the file is then marked clean.
        await self.async_flush()

    @callback
    def _save(self, _now: datetime) -> None:
        self._timer = self._due = None
        data = self._snapshot()
        self._file_clean = False
        self._hass.async_create_task(
            self._store.async_save(data), "csocket save", eager_start=True
        )

    async def async_flush(self) -> None:
        """Save now (unload, stop) and stop the throttle."""
        if self._final_write is not None:
            self._final_write()
            self._final_write = None
        if self._timer is not None:
            self._timer()
            self._timer = self._due = None
        await self._store.async_save({**self._snapshot(), CLEAN: True})
        self._file_clean = True


def _copy(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy that shares no mutable value (values nest one level deep)."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}


def device_to_storage(device: SocketDevice) -> dict[str, Any]:
    """What survives a restart, as copies: it is written on a worker thread."""
    ref = device.ref
    task = device.delay_task
    return {
        "ref": {
            "dev_eui": ref.dev_eui,
            "application_id": ref.application_id,
            "device_id": ref.device_id,
            "device_name": ref.device_name,
        },
        "display_name": device.display_name,
        "values": _copy(device.state.values()),
        "last_seen": device.last_seen.isoformat() if device.last_seen else None,
        "available": device.available,
        "rssi": device.rssi,
        "snr": device.snr,
        "f_cnt": device.f_cnt,
        "gateway_count": device.gateway_count,
        "sent": device.state.sent.as_dict(),
        "clock": device.clock.as_storage(),
        "delay_task": (
            {"fires_at": task.fires_at.isoformat(), "socket_status": task.socket_status}
            if task
            else None
        ),
    }


def device_from_storage(data: Mapping[str, Any], *, clean: bool) -> SocketDevice:
    """Rebuild a device saved by `device_to_storage` (`clean`: see CLEAN)."""
    task = data.get("delay_task")
    last_seen = data.get("last_seen")
    values = data.get("values") or {}
    if not clean:
        # Restated values wait up to 15 minutes: after a crash the saved
        # energy total may be below what Home Assistant recorded last, and a
        # total_increasing sensor that goes back is a dip in the energy
        # statistics. It stays unknown until the next report.
        values = {k: v for k, v in values.items() if k != ENERGY_FIELD}
    return SocketDevice(
        ref=DeviceRef(**data["ref"]),
        display_name=data.get("display_name"),
        clock=ReportClock.from_storage(data.get("clock")),
        state=SocketState.restore(values, data.get("sent") or {}),
        last_seen=datetime.fromisoformat(last_seen) if last_seen else None,
        rssi=data.get("rssi"),
        snr=data.get("snr"),
        f_cnt=data.get("f_cnt"),
        gateway_count=data.get("gateway_count") or 0,
        delay_task=(
            DelayTask(datetime.fromisoformat(task["fires_at"]), task["socket_status"])
            if task
            else None
        ),
    )
