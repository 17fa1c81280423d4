"""Per-socket state model: latest values, link quality and availability.

No entity code lives here; entities read this model through `value_fn`s.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .const import AVAILABILITY_GRACE, DEFAULT_REPORT_INTERVAL, FRAME_HISTORY
from .network_servers import DeviceRef, Uplink

# Rated current of the socket; above 130 % of it the device always cuts power.
RATED_CURRENT_MA = 10_000
TRIP_FACTOR = 1.3

EVENT_POWER_OUTAGE = "power_outage"
EVENT_POWER_RESTORED = "power_restored"
EVENT_OVERCURRENT_ALARM = "overcurrent_alarm"
EVENT_PROTECTION_TRIP = "protection_trip"
EVENT_TYPES = (
    EVENT_POWER_OUTAGE,
    EVENT_POWER_RESTORED,
    EVENT_OVERCURRENT_ALARM,
    EVENT_PROTECTION_TRIP,
)

# Records only a WS523 sends (other Milesight devices share the ff01/ff09/
# ff0a/ff0f/ff16 information records).
SOCKET_FIELDS = frozenset(
    {
        "voltage",
        "active_power",
        "power_factor",
        "power_consumption",
        "current",
        "socket_status",
        "power_outage",
        "overcurrent_alarm",
        "overcurrent_protection",
        "button_lock",
        "power_consumption_enabled",
        "led_enabled",
        "delay_task",
    }
)

# Fields of a frame that only acknowledge a command; not state.
ECHO_ONLY_FIELDS = frozenset(
    {
        "reboot",
        "power_consumption_reset",
        "report_status",
        "report_attribute",
        "delay_task_deleted",
        "device_status",
        "reset_event",
        "unparsed",
    }
)


@dataclass(slots=True)
class Frame:
    """One received frame, kept for diagnostics."""

    received_at: datetime
    f_cnt: int | None
    payload_hex: str
    decoded: dict[str, Any]


@dataclass(slots=True)
class DelayTask:
    """The single delay task the device holds (it never reports it back)."""

    fires_at: datetime
    socket_status: bool


@dataclass(slots=True)
class SocketDevice:
    """What csocket knows about one IOT-CSOCKET / WS523."""

    ref: DeviceRef
    values: dict[str, Any] = field(default_factory=dict)
    last_seen: datetime | None = None
    rssi: int | None = None
    snr: float | None = None
    f_cnt: int | None = None
    gateway_count: int = 0
    # Settings last sent, for settings the device does not echo.
    sent: dict[str, Any] = field(default_factory=dict)
    delay_task: DelayTask | None = None
    frames: deque[Frame] = field(default_factory=lambda: deque(maxlen=FRAME_HISTORY))
    # Runtime only.
    available: bool = False
    # Restart time for a socket that was available at shutdown: its window
    # restarts here, so a restart alone never makes it unavailable.
    window_start: datetime | None = None
    last_events: list[str] = field(default_factory=list)
    # When the last confirmed command went out (runtime only).
    command_sent_at: datetime | None = None
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def dev_eui(self) -> str:
        """The device's EUI, lowercase hex."""
        return self.ref.dev_eui

    @property
    def name(self) -> str:
        """Default device name: the network server's, else the EUI."""
        ref = self.ref
        return ref.device_name or ref.device_id or f"Socket {ref.dev_eui[-6:].upper()}"

    @property
    def report_interval(self) -> int:
        """Reporting interval in seconds: reported, else sent, else the default."""
        value = self.values.get("report_interval", self.sent.get("report_interval"))
        return int(value) if value else DEFAULT_REPORT_INTERVAL

    def setting(self, key: str) -> Any:
        """A setting as the device reported it, else as csocket last sent it."""
        if key in self.values:
            return self.values[key]
        return self.sent.get(key)

    def expires_at(self, factor: float) -> datetime | None:
        """When the device becomes unavailable without another uplink."""
        if self.last_seen is None:
            return None
        start = self.last_seen
        if self.window_start is not None and self.window_start > start:
            start = self.window_start
        window = self.report_interval * factor + AVAILABILITY_GRACE
        return start + timedelta(seconds=window)

    def is_available(self, now: datetime, factor: float) -> bool:
        """Available while the last uplink is younger than the window."""
        expires = self.expires_at(factor)
        return expires is not None and now < expires

    @property
    def alarm_threshold_ma(self) -> int | None:
        """The enabled overcurrent alarm's threshold in mA, else None."""
        alarm = self.setting("overcurrent_alarm") or {}
        threshold = alarm.get("threshold")
        return threshold * 1000 if alarm.get("enabled") and threshold else None

    @property
    def overcurrent(self) -> bool | None:
        """Current at or above the alarm threshold; None while unknown."""
        current = self.values.get("current")
        threshold = self.alarm_threshold_ma
        if current is None or threshold is None:
            return None
        return bool(current >= threshold)

    def apply_uplink(
        self, uplink: Uplink, decoded: Mapping[str, Any], now: datetime
    ) -> list[str]:
        """Merge a decoded uplink received at `now`; return the events it implies."""
        if uplink.device.device_name or uplink.device.application_id:
            self.ref = uplink.device
        self.last_seen = now
        self.window_start = None
        self.f_cnt = uplink.f_cnt
        if uplink.rssi is not None:
            self.rssi = uplink.rssi
            self.snr = uplink.snr
        self.gateway_count = uplink.gateway_count
        self.frames.append(
            Frame(now, uplink.f_cnt, uplink.payload.hex(), dict(decoded))
        )

        new = {k: v for k, v in decoded.items() if k not in ECHO_ONLY_FIELDS}
        if "voltage" in new and "power_outage" not in new:
            # A report with voltage means mains is back.
            new["power_outage"] = False
        if decoded.get("power_consumption_reset"):
            new.setdefault("power_consumption", 0)
        if decoded.get("delay_task_deleted"):
            self.delay_task = None
        for key in new:
            # A reported setting supersedes what we sent.
            self.sent.pop(key, None)
        previous = self.values
        self.values = {**previous, **new}
        if new.get("socket_changed") and self.delay_task is not None:
            self._clear_delay_task_if_fired(now, socket_status=new.get("socket_status"))
        return self._events(previous, new)

    def _events(self, previous: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
        events: list[str] = []
        outage = new.get("power_outage")
        was_out = previous.get("power_outage") is True
        if outage is True and not was_out:
            events.append(EVENT_POWER_OUTAGE)
        elif outage is False and was_out:
            events.append(EVENT_POWER_RESTORED)
        threshold = self.alarm_threshold_ma
        if "current" in new and self.overcurrent:
            old = previous.get("current")
            # Only the crossing fires; staying above the threshold does not.
            if old is None or threshold is None or old < threshold:
                events.append(EVENT_OVERCURRENT_ALARM)
        if new.get("socket_changed") and new.get("socket_status") is False:
            current = max(previous.get("current", 0), new.get("current", 0))
            if self._is_trip(current):
                events.append(EVENT_PROTECTION_TRIP)
        return events

    def _is_trip(self, current_ma: int) -> bool:
        protection = self.setting("overcurrent_protection") or {}
        threshold = protection.get("threshold")
        if protection.get("enabled") and threshold and current_ma >= threshold * 1000:
            return True
        return current_ma > RATED_CURRENT_MA * TRIP_FACTOR

    def _clear_delay_task_if_fired(
        self, now: datetime, *, socket_status: bool | None
    ) -> None:
        task = self.delay_task
        # The change report of the task itself arrives at (or just after) fires_at.
        if (
            task
            and task.socket_status is socket_status
            and now >= task.fires_at - timedelta(seconds=30)
        ):
            self.delay_task = None

    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` on every change; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def notify(self) -> None:
        """Tell every listener the model changed."""
        for listener in list(self._listeners):
            listener()

    # Persistence ---------------------------------------------------------

    def as_storage(self) -> dict[str, Any]:
        """What survives a restart."""
        return {
            "ref": {
                "dev_eui": self.ref.dev_eui,
                "application_id": self.ref.application_id,
                "device_id": self.ref.device_id,
                "device_name": self.ref.device_name,
            },
            "values": self.values,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "available": self.available,
            "rssi": self.rssi,
            "snr": self.snr,
            "f_cnt": self.f_cnt,
            "gateway_count": self.gateway_count,
            "sent": self.sent,
            "delay_task": (
                {
                    "fires_at": self.delay_task.fires_at.isoformat(),
                    "socket_status": self.delay_task.socket_status,
                }
                if self.delay_task
                else None
            ),
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> SocketDevice:
        """Rebuild a device saved by `as_storage`."""
        task = data.get("delay_task")
        last_seen = data.get("last_seen")
        return cls(
            ref=DeviceRef(**data["ref"]),
            values=dict(data.get("values") or {}),
            last_seen=datetime.fromisoformat(last_seen) if last_seen else None,
            rssi=data.get("rssi"),
            snr=data.get("snr"),
            f_cnt=data.get("f_cnt"),
            gateway_count=data.get("gateway_count") or 0,
            sent=dict(data.get("sent") or {}),
            delay_task=(
                DelayTask(
                    datetime.fromisoformat(task["fires_at"]), task["socket_status"]
                )
                if task
                else None
            ),
        )
