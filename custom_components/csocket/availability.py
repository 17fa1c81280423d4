"""Per-socket availability: the reporting interval, the window, delay-task expiry.

The socket never reports its reporting interval on its own. csocket uses the
interval it reported (echo) or that csocket sent; otherwise it learns it from
the spacing of periodic reports (not change reports, alarm reports or answers
to commands): two consecutive gaps that agree are the interval. Until then the
largest gap seen is the floor, and with no gap at all the device's longest
interval (18 h), so silence alone never marks a socket unavailable early.

One timer per entry waits for the earliest deadline of its sockets, kept in
a heap. A socket's deadline is rarely moved there: an uplink only pushes it
later, and when it comes the socket is re-evaluated and re-armed for its
current deadline. Only a deadline that moves earlier (the interval learned,
a delay task) adds an entry, and the timer is moved only when that entry comes
first: no timer object per socket, none cancelled per uplink.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from . import codec
from .const import AVAILABILITY_GRACE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .device import SocketDevice

_LOGGER = logging.getLogger(__name__)

INTERVAL_RANGE: Final = codec.RANGES["report_interval"]
# Two gaps within this share of each other are the same interval.
AGREEMENT: Final = 0.05
# A report this soon after a command answers it; it is not periodic.
ANSWER_WINDOW: Final = timedelta(seconds=60)
# A delay task whose change report has not come this long after it was due
# has run (or changed nothing): stop showing it.
DELAY_TASK_GRACE: Final = timedelta(minutes=2)


@dataclass(slots=True)
class ReportClock:
    """What the spacing of periodic reports says about the interval."""

    last_periodic: datetime | None = None
    previous_gap: float | None = None
    largest_gap: float = 0.0
    learned: int | None = None

    def observe(self, now: datetime) -> bool:
        """Record a periodic report; True when the learned interval changed."""
        last, self.last_periodic = self.last_periodic, now
        if last is None:
            return False
        gap = (now - last).total_seconds()
        if gap < INTERVAL_RANGE.low * (1 - AGREEMENT):
            return False  # not a periodic spacing (e.g. a duplicate)
        self.largest_gap = max(self.largest_gap, gap)
        previous, self.previous_gap = self.previous_gap, gap
        if previous is None or abs(gap - previous) > AGREEMENT * max(gap, previous):
            return False
        minutes = max(1, round(gap / 60))
        learned = min(minutes * 60, INTERVAL_RANGE.high)
        changed = learned != self.learned
        self.learned = learned
        return changed

    def as_storage(self) -> dict[str, Any]:
        """What survives a restart."""
        return {
            "last_periodic": (
                self.last_periodic.isoformat() if self.last_periodic else None
            ),
            "previous_gap": self.previous_gap,
            "largest_gap": self.largest_gap,
            "learned": self.learned,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any] | None) -> ReportClock:
        """Rebuild a clock saved by `as_storage`."""
        if not data:
            return cls()
        last = data.get("last_periodic")
        return cls(
            last_periodic=datetime.fromisoformat(last) if last else None,
            previous_gap=data.get("previous_gap"),
            largest_gap=float(data.get("largest_gap") or 0),
            learned=data.get("learned"),
        )


def is_periodic(
    device: SocketDevice, decoded: Mapping[str, Any], now: datetime
) -> bool:
    """A full electrical report that neither a change, alarm nor command caused."""
    if "voltage" not in decoded or "socket_status" not in decoded:
        return False
    if decoded.get("socket_changed") or device.overcurrent:
        return False
    sent = device.command_sent_at
    return sent is None or now - sent > ANSWER_WINDOW


def report_interval(device: SocketDevice) -> int:
    """The interval in use, in seconds: known, else learned, else the floor."""
    value = device.setting("report_interval")
    if value:
        return int(value)
    clock = device.clock
    if clock.learned:
        return clock.learned
    if clock.largest_gap:
        return int(clock.largest_gap)
    return INTERVAL_RANGE.high


def expires_at(device: SocketDevice, factor: float) -> datetime | None:
    """When the socket becomes unavailable without another uplink."""
    if device.last_seen is None:
        return None
    start = device.last_seen
    if device.window_start is not None and device.window_start > start:
        start = device.window_start
    window = report_interval(device) * factor + AVAILABILITY_GRACE
    return start + timedelta(seconds=window)


def received_time(
    device: SocketDevice, server_time: datetime | None, factor: float
) -> datetime:
    """The server's receive time, unless missing or off; else our clock.

    A backlog delivered after a restart keeps its times within the window; a
    time ahead of our clock, or before the last uplink, is a clock that is off.
    """
    now = dt_util.utcnow()
    window = timedelta(seconds=report_interval(device) * factor)
    if (
        server_time is None
        or server_time > now
        or server_time < now - window
        or (device.last_seen is not None and server_time < device.last_seen)
    ):
        return now
    return server_time


class AvailabilityTracker:
    """Availability and delay-task expiry of every socket of an entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        factor: Callable[[], float],
        on_change: Callable[[SocketDevice], None],
    ) -> None:
        """`on_change` is called when availability or the delay task changed."""
        self._hass = hass
        self._factor = factor
        self._on_change = on_change
        # Each armed socket's deadline and the socket; the heap holds these
        # deadlines, and entries no longer armed (stale) until they come up.
        self._armed: dict[str, tuple[datetime, SocketDevice]] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._timer: tuple[datetime, CALLBACK_TYPE] | None = None

    def deadline(
        self, device: SocketDevice, expires: datetime | None
    ) -> datetime | None:
        """The next moment something about the socket changes by itself."""
        deadline = expires if device.available else None
        if device.delay_task is not None:
            task_end = device.delay_task.fires_at + DELAY_TASK_GRACE
            if deadline is None or task_end < deadline:
                deadline = task_end
        return deadline

    @callback
    def restart_window(self, device: SocketDevice) -> None:
        """The interval changed: the new window counts from now."""
        device.window_start = dt_util.utcnow()
        self.update(device)

    @callback
    def update(self, device: SocketDevice, *, first: bool = False) -> bool:
        """Re-evaluate after an uplink or a change; True when anything changed."""
        now = dt_util.utcnow()
        changed = False
        expires = expires_at(device, self._factor())
        available = expires is not None and now < expires
        if available != device.available:
            device.available = available
            changed = True
            # log-when-unavailable: once when it goes, once when it returns.
            if available and not first:
                _LOGGER.info("Socket %s is reporting again", device.name)
            elif not available:
                _LOGGER.info(
                    "Socket %s stopped reporting (last uplink %s)",
                    device.name,
                    device.last_seen,
                )
        task = device.delay_task
        if task is not None and now >= task.fires_at + DELAY_TASK_GRACE:
            # Its change report never came (lost, or no change): it has run.
            device.delay_task = None
            changed = True
        self._arm(device, self.deadline(device, expires))
        return changed

    def _arm(self, device: SocketDevice, deadline: datetime | None) -> None:
        dev_eui = device.dev_eui
        armed = self._armed.get(dev_eui)
        if deadline is None:
            if armed is not None:
                del self._armed[dev_eui]  # its heap entry is skipped
            return
        if armed is not None and armed[0] <= deadline:
            return  # comes first and re-arms for the later deadline
        self._armed[dev_eui] = (deadline, device)
        heapq.heappush(self._heap, (deadline, dev_eui))
        self._wake_by(deadline)

    def _wake_by(self, deadline: datetime) -> None:
        """Have the timer fire at `deadline`, unless it fires earlier."""
        if self._timer is not None:
            if self._timer[0] <= deadline:
                return
            self._timer[1]()
        self._timer = (
            deadline,
            async_track_point_in_utc_time(
                self._hass, self._wake, deadline + timedelta(microseconds=1)
            ),
        )

    @callback
    def _wake(self, _now: datetime) -> None:
        self._timer = None
        heap = self._heap
        now = dt_util.utcnow()
        while heap and heap[0][0] < now:
            deadline, dev_eui = heapq.heappop(heap)
            if self._is_stale((deadline, dev_eui)):
                continue
            device = self._armed.pop(dev_eui)[1]
            if self.update(device):
                self._on_change(device)
        while heap and self._is_stale(heap[0]):
            heapq.heappop(heap)  # stale entries need no wake-up
        if heap:
            self._wake_by(heap[0][0])

    def _is_stale(self, entry: tuple[datetime, str]) -> bool:
        """A heap entry for a socket disarmed, or armed again for another time."""
        armed = self._armed.get(entry[1])
        return armed is None or armed[0] != entry[0]

    @callback
    def remove(self, dev_eui: str) -> None:
        """Stop watching a socket."""
        self._armed.pop(dev_eui, None)

    @callback
    def stop(self) -> None:
        """Cancel the timer."""
        if self._timer is not None:
            self._timer[1]()
            self._timer = None
        self._armed.clear()
        self._heap.clear()
