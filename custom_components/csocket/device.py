"""Per-socket state model: latest values, link quality and availability.

No entity code lives here; entities read this model through `value_fn`s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

from . import codec
from .availability import ReportClock
from .const import FRAME_HISTORY
from .network_servers import DeviceRef, Uplink
from .state import (
    ENERGY_FIELD,
    MEASUREMENT_FIELDS,
    SETTING_FIELDS,
    Measurements,
    SocketState,
    Threshold,
)

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

# What an uplink changes besides its state fields: the link facts (last seen,
# RSSI, SNR, frame counter, gateways, the learned interval) and the events.
LINK: Final = "link"
EVENTS: Final = "events"
# A command of the socket's queue was added, sent or settled (only the socket
# switch shows it: its pending_target and command_state).
COMMANDS: Final = "commands"
# What every periodic report restates: a crash that loses it loses nothing
# for long (see store.RESTATED_SAVE_DELAY).
RESTATED: Final = MEASUREMENT_FIELDS | {LINK, EVENTS}

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
# Not state either: the change flag and the delay task are handled apart.
NOT_STATE_FIELDS = ECHO_ONLY_FIELDS | {"socket_changed", "delay_task"}


class Applied(NamedTuple):
    """What an uplink did to the model."""

    # Events it implies (EVENT_TYPES).
    events: list[str]
    # Field names whose value changed, LINK, EVENTS, "delay_task" (see `notify`).
    changed: set[str]


@dataclass(slots=True)
class Frame:
    """One received frame, kept for diagnostics.

    Only the bytes are kept: decoding is a pure function of them, and a
    decoded dict per frame would cost several times their size on every
    socket for something read only by diagnostics.
    """

    received_at: datetime
    f_cnt: int | None
    payload: bytes

    @property
    def decoded(self) -> dict[str, Any]:
        """The codec's result, as when the frame was received."""
        return codec.decode_uplink(self.payload)


@dataclass(slots=True)
class DelayTask:
    """The single delay task the device holds (it never reports it back)."""

    fires_at: datetime
    socket_status: bool


@dataclass(slots=True)
class SocketDevice:
    """What csocket knows about one IOT-CSOCKET / WS523."""

    # How downlinks address the socket: the first trusted identity, never
    # replaced by a later uplink's body (only the display name follows it).
    ref: DeviceRef
    display_name: str | None = None
    state: SocketState = field(default_factory=SocketState)
    last_seen: datetime | None = None
    rssi: int | None = None
    snr: float | None = None
    f_cnt: int | None = None
    gateway_count: int = 0
    delay_task: DelayTask | None = None
    clock: ReportClock = field(default_factory=ReportClock)
    # The last FRAME_HISTORY frames, oldest first (a list: a bounded deque
    # costs five times as much on every socket).
    frames: list[Frame] = field(default_factory=list)
    # Runtime only.
    available: bool = False
    # Restart time of the availability window (restart, interval change).
    window_start: datetime | None = None
    last_events: list[str] = field(default_factory=list)
    # When the last command went out (runtime only).
    command_sent_at: datetime | None = None
    _listeners: list[tuple[Callable[[], None], frozenset[str] | None]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        """Default the display name to the network server's name."""
        if self.display_name is None:
            self.display_name = self.ref.device_name or self.ref.device_id

    @property
    def dev_eui(self) -> str:
        """The device's EUI, lowercase hex."""
        return self.ref.dev_eui

    @property
    def name(self) -> str:
        """Default device name: the network server's, else the EUI."""
        return self.display_name or f"Socket {self.dev_eui[-6:].upper()}"

    @property
    def measurements(self) -> Measurements:
        """The last electrical values."""
        return self.state.measurements

    def setting(self, key: str) -> Any:
        """A setting as the device reported it, else as csocket last sent it."""
        return self.state.setting(key)

    def threshold(self, key: str) -> Threshold | None:
        """The overcurrent alarm's or protection's setting, if known."""
        value = self.state.setting(key)
        return value if isinstance(value, Threshold) else None

    @property
    def alarm_threshold_ma(self) -> int | None:
        """The enabled overcurrent alarm's threshold in mA, else None."""
        alarm = self.threshold("overcurrent_alarm")
        if alarm is None or not alarm.enabled or not alarm.threshold:
            return None
        return alarm.threshold * 1000

    @property
    def overcurrent(self) -> bool | None:
        """Current at or above the alarm threshold; None while unknown."""
        current = self.measurements.current
        threshold = self.alarm_threshold_ma
        if current is None or threshold is None:
            return None
        return bool(current >= threshold)

    def apply_uplink(
        self, uplink: Uplink, decoded: Mapping[str, Any], now: datetime
    ) -> Applied:
        """Merge a decoded uplink received at `now`; what it changed."""
        # A renamed device on the network server: the display name follows
        # (an uplink without a name keeps it), the addressing does not.
        if name := uplink.name:
            self.display_name = name
        self.last_seen = now
        self.window_start = None
        self.f_cnt = uplink.f_cnt
        if uplink.rssi is not None:
            self.rssi = uplink.rssi
            self.snr = uplink.snr
        self.gateway_count = uplink.gateway_count
        frames = self.frames
        if len(frames) >= FRAME_HISTORY:
            del frames[0]
        frames.append(Frame(now, uplink.f_cnt, uplink.payload))

        new = {k: v for k, v in decoded.items() if k not in NOT_STATE_FIELDS}
        # The socket transmits only with mains present; ff3fff is its last
        # gasp. Any other uplink means mains is back.
        new.setdefault("power_outage", False)
        if decoded.get("power_consumption_reset"):
            new.setdefault(ENERGY_FIELD, 0)
        task = self.delay_task
        self._apply_delay_task(decoded, now)
        was_out = self.measurements.power_outage is True
        old_current = self.measurements.current
        changes: set[str] = self.state.apply(new)
        events = self._events(
            new,
            changed=bool(decoded.get("socket_changed")),
            was_out=was_out,
            old_current=old_current,
        )
        changes.add(LINK)
        if self.delay_task is not task:
            changes.add("delay_task")
        if events:
            changes.add(EVENTS)
        return Applied(events, changes)

    def _apply_delay_task(self, decoded: Mapping[str, Any], now: datetime) -> None:
        """What the frame says about the single delay task.

        The guide says nothing about a task across a reboot or power loss; the
        task is a timer in the running firmware, so csocket takes a reboot
        (echo or power-on record) and an outage as its end. An energy reset
        does not touch it.
        """
        if echo := decoded.get("delay_task"):
            # The device's own echo: the task counts from its reception.
            self.delay_task = DelayTask(
                now + timedelta(seconds=echo["delay"]), echo["socket_status"]
            )
        if (
            decoded.get("delay_task_deleted")
            or decoded.get("reboot")
            or decoded.get("device_status")
            or decoded.get("power_outage")
        ):
            self.delay_task = None
        task = self.delay_task
        # The change report of the task itself arrives at (or just after) fires_at.
        if (
            task is not None
            and decoded.get("socket_changed")
            and task.socket_status is decoded.get("socket_status")
            and now >= task.fires_at - timedelta(seconds=30)
        ):
            self.delay_task = None

    def _events(
        self,
        new: Mapping[str, Any],
        *,
        changed: bool,
        was_out: bool,
        old_current: int | None,
    ) -> list[str]:
        events: list[str] = []
        outage = new.get("power_outage")
        if outage is True and not was_out:
            events.append(EVENT_POWER_OUTAGE)
        elif outage is False and was_out:
            events.append(EVENT_POWER_RESTORED)
        threshold = self.alarm_threshold_ma
        # Only the crossing fires; staying above the threshold does not.
        if (
            "current" in new
            and self.overcurrent
            and (old_current is None or threshold is None or old_current < threshold)
        ):
            events.append(EVENT_OVERCURRENT_ALARM)
        if (
            changed
            and new.get("socket_status") is False
            and self._is_trip(new.get("current"))
        ):
            events.append(EVENT_PROTECTION_TRIP)
        return events

    def _is_trip(self, current_ma: int | None) -> bool:
        """The frame's own current reached the configured protection threshold."""
        protection = self.threshold("overcurrent_protection")
        return bool(
            current_ma is not None
            and protection is not None
            and protection.enabled
            and protection.threshold
            and current_ma >= protection.threshold * 1000
        )

    def record_sent(self, settings: Mapping[str, Any], now: datetime) -> None:
        """Remember settings sent: the device may never report them back."""
        for key, value in settings.items():
            if key == "delay_task":
                self.delay_task = DelayTask(
                    now + timedelta(seconds=value["delay"]), value["socket_status"]
                )
            elif key in ("delete_delay_task", "reboot"):
                self.delay_task = None
            elif key in SETTING_FIELDS:
                self.state.record_sent(key, value)

    def add_listener(
        self, listener: Callable[[], None], reads: frozenset[str] | None = None
    ) -> None:
        """Call `listener` on changes of the fields it `reads` (None: any).

        Until `remove_listener`.
        """
        self._listeners.append((listener, reads))

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling a listener (an equal bound method will do)."""
        # An entity whose adding failed half-way may never have listened.
        self._listeners[:] = [
            entry for entry in self._listeners if entry[0] != listener
        ]

    def notify(self, changed: AbstractSet[str] | None = None) -> None:
        """Tell the listeners the model changed (`changed`: what, if known).

        An uplink changes a few fields of sixteen entities: the check is made
        here, not in a call to each entity.
        """
        for listener, reads in list(self._listeners):
            if changed is None or reads is None or not reads.isdisjoint(changed):
                listener()
