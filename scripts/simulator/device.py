"""One simulated WS523 socket: its state and behaviour, no I/O."""

from __future__ import annotations

import hashlib
import logging
import random
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .protocol import (
    ECHOED,
    Command,
    Reading,
    Settings,
    encode_basic_info,
    encode_report,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_LOGGER: Final = logging.getLogger("csocket.simulate")

DEFAULT_F_PORT: Final = 85
NOMINAL_VOLTAGE: Final = 230.0
REPORT_INTERVAL_RANGE: Final = (60, 64800)  # 1..1080 minutes (user guide)
THRESHOLD_RANGE: Final = (1, 30)  # A, when enabled


@dataclass(frozen=True, slots=True)
class Appliance:
    """What is plugged into a simulated socket."""

    name: str
    watts: float  # drawn when the socket is on
    power_factor: int  # %
    energy_wh: float  # counter when the simulation starts for the first time
    on: bool  # state when the simulation starts for the first time
    rssi: int  # dBm at the gateway


APPLIANCES: Final = (
    Appliance("Kettle socket", 2000, 99, 48_213, on=False, rssi=-67),
    Appliance("Heater socket", 1500, 98, 310_540, on=True, rssi=-84),
    Appliance("Desk lamp socket", 9, 55, 1_268, on=True, rssi=-101),
)


def appliance_for(index: int) -> Appliance:
    """The appliance of socket ``index`` (1-based); generic ones after the third."""
    if index <= len(APPLIANCES):
        return APPLIANCES[index - 1]
    return Appliance(f"Socket {index}", 60, 90, 0, on=True, rssi=-90)


@dataclass(slots=True)
class Answer:
    """What the device does after one downlink."""

    actions: list[str] = field(default_factory=list)
    echoes: list[bytes] = field(default_factory=list)
    change_report: bool = False
    report: bool = False
    basic_info: bool = False
    reboot: bool = False
    delay_task: tuple[int, bool] | None = None  # (seconds, switch on)
    delete_delay_task: bool = False
    report_interval: int | None = None


class SimulatedSocket:
    """The state and the behaviour of one WS523; no I/O."""

    def __init__(
        self,
        index: int,
        dev_eui: str,
        appliance: Appliance,
        rng: random.Random,
        *,
        report_interval: float,
        f_port: int = DEFAULT_F_PORT,
    ) -> None:
        """A socket that has not joined yet."""
        self.index = index
        self.dev_eui = dev_eui
        self.name = appliance.name
        self.appliance = appliance
        self.f_port = f_port
        self.sn = hashlib.sha256(dev_eui.encode()).hexdigest()[:16]
        self.settings = Settings(on=appliance.on, energy_wh=appliance.energy_wh)
        self.report_interval = report_interval
        self.f_cnt = 0
        self.f_cnt_down = 0
        self.dev_addr = ""
        self._rng = rng
        self._base_voltage = NOMINAL_VOLTAGE + rng.uniform(-1.5, 1.5)
        self._last_tick = time.monotonic()

    def __repr__(self) -> str:
        """Name and DevEUI, for the log."""
        return f"{self.name} ({self.dev_eui})"

    # Measurements ------------------------------------------------------------

    def tick(self) -> None:
        """Add the energy used since the last tick to the counter."""
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        if self.settings.on and self.settings.recording:
            self.settings.energy_wh += self.appliance.watts * elapsed / 3600

    def reading(self) -> Reading:
        """What the metering chip measures right now."""
        self.tick()
        voltage = round(self._base_voltage + self._rng.gauss(0, 0.8), 1)
        energy = int(self.settings.energy_wh)
        if not self.settings.on:
            return Reading(
                on=False,
                voltage=voltage,
                power=0,
                current=0,
                power_factor=0,
                energy=energy,
            )
        # A resistive load draws power with the square of the voltage.
        scale = (voltage / NOMINAL_VOLTAGE) ** 2 * (1 + self._rng.gauss(0, 0.004))
        power = max(round(self.appliance.watts * scale), 0)
        factor = self.appliance.power_factor
        current = round(power / (voltage * factor / 100) * 1000) if factor else 0
        return Reading(
            on=True,
            voltage=voltage,
            power=power,
            current=current,
            power_factor=factor,
            energy=energy,
        )

    def link_quality(self) -> tuple[int, float]:
        """RSSI (dBm) and SNR (dB) of the next uplink at the gateway."""
        rssi = self.appliance.rssi + round(self._rng.gauss(0, 2))
        snr = max(min((rssi + 110) / 4, 12.0), -15.0) + self._rng.gauss(0, 0.8)
        return rssi, round(snr, 1)

    def next_f_cnt(self) -> int:
        """The frame counter of the next uplink."""
        f_cnt = self.f_cnt
        self.f_cnt += 1
        return f_cnt

    def join(self) -> None:
        """A new session: new DevAddr, frame counters back to 0."""
        self.dev_addr = f"{0x26000000 | self._rng.getrandbits(24):08x}"
        self.f_cnt = 0
        self.f_cnt_down = 0

    def basic_info(self) -> bytes:
        """The basic-information frame with the current settings."""
        return encode_basic_info(self.sn, self.settings)

    def report(self, *, changed: bool = False) -> tuple[bytes, Reading]:
        """An electrical report and the reading it carries."""
        reading = self.reading()
        return encode_report(reading, changed=changed), reading

    def overcurrent(self) -> str | None:
        """``"trip"`` when protection cuts power, ``"alarm"`` for an alarm report."""
        reading = self.reading()
        settings = self.settings
        if not reading.on:
            return None
        amps = reading.current / 1000
        if settings.protection_enabled and amps >= settings.protection_threshold:
            settings.on = False
            return "trip"
        if settings.alarm_enabled and amps >= settings.alarm_threshold:
            return "alarm"
        return None

    def switch(self, on: bool) -> None:
        """Switch the relay (the energy counter is brought up to date first)."""
        self.tick()
        self.settings.on = on

    # Downlinks ---------------------------------------------------------------

    def apply(self, commands: list[Command]) -> Answer:
        """Apply a downlink's commands and say how the device answers."""
        answer = Answer()
        handlers: dict[str, Callable[[bytes, Answer], None]] = {
            "socket": self._socket,
            "report_interval": self._report_interval,
            "reboot": self._reboot,
            "delay_task": self._delay_task,
            "delete_delay_task": self._delete_delay_task,
            "overcurrent_alarm": self._overcurrent_alarm,
            "button_lock": self._button_lock,
            "power_consumption_enabled": self._recording,
            "reset_power_consumption": self._reset_energy,
            "report_status": self._report_status,
            "report_attribute": self._report_attribute,
            "led_enabled": self._led,
            "overcurrent_protection": self._overcurrent_protection,
        }
        for command in commands:
            handlers[command.name](command.args, answer)
            if command.raw[:1] == b"\xff" and command.name in ECHOED:
                answer.echoes.append(command.raw)
        return answer

    def _invalid(self, answer: Answer, text: str) -> None:
        _LOGGER.warning("%s: ignores %s", self, text)
        answer.actions.append(f"ignored {text}")

    def _socket(self, args: bytes, answer: Answer) -> None:
        if args[0] not in (0, 1):
            self._invalid(answer, f"socket state byte {args[0]:#04x}")
            return
        self.switch(args[0] == 1)
        answer.actions.append("switch " + ("on" if args[0] else "off"))
        answer.change_report = True

    def _report_interval(self, args: bytes, answer: Answer) -> None:
        seconds = struct.unpack("<H", args)[0]
        low, high = REPORT_INTERVAL_RANGE
        if not low <= seconds <= high:
            self._invalid(answer, f"reporting interval {seconds} s")
            return
        self.report_interval = seconds
        answer.report_interval = seconds
        answer.actions.append(f"report every {seconds} s")

    def _reboot(self, _args: bytes, answer: Answer) -> None:
        answer.reboot = True
        answer.actions.append("reboot")

    def _delay_task(self, args: bytes, answer: Answer) -> None:
        seconds = struct.unpack("<H", args[1:3])[0]
        on = bool(args[3] & 0x0F)
        if seconds == 0:
            self._invalid(answer, "a delay task of 0 s")
            return
        answer.delay_task = (seconds, on)
        answer.delete_delay_task = False
        answer.actions.append(f"switch {'on' if on else 'off'} in {seconds} s")

    def _delete_delay_task(self, _args: bytes, answer: Answer) -> None:
        answer.delete_delay_task = True
        answer.delay_task = None
        answer.actions.append("delete the delay task")

    def _threshold(self, args: bytes, answer: Answer, what: str) -> bool:
        enabled, amps = bool(args[0]), args[1]
        low, high = THRESHOLD_RANGE
        if enabled and not low <= amps <= high:
            self._invalid(answer, f"{what} threshold {amps} A")
            return False
        answer.actions.append(
            f"{what} {'on at ' + str(amps) + ' A' if enabled else 'off'}"
        )
        return True

    def _overcurrent_alarm(self, args: bytes, answer: Answer) -> None:
        if self._threshold(args, answer, "overcurrent alarm"):
            self.settings.alarm_enabled = bool(args[0])
            self.settings.alarm_threshold = args[1]

    def _overcurrent_protection(self, args: bytes, answer: Answer) -> None:
        if self._threshold(args, answer, "overcurrent protection"):
            self.settings.protection_enabled = bool(args[0])
            self.settings.protection_threshold = args[1]

    def _button_lock(self, args: bytes, answer: Answer) -> None:
        self.settings.button_lock = struct.unpack("<H", args)[0]
        locked = bool(self.settings.button_lock & 0x8000)
        answer.actions.append("lock the button" if locked else "unlock the button")

    def _recording(self, args: bytes, answer: Answer) -> None:
        self.tick()
        self.settings.recording = bool(args[0])
        state = "on" if self.settings.recording else "off"
        answer.actions.append(f"energy recording {state}")

    def _reset_energy(self, _args: bytes, answer: Answer) -> None:
        self.tick()
        self.settings.energy_wh = 0
        answer.actions.append("reset the energy counter")

    def _report_status(self, _args: bytes, answer: Answer) -> None:
        answer.report = True
        answer.actions.append("report the electrical status")

    def _report_attribute(self, _args: bytes, answer: Answer) -> None:
        answer.basic_info = True
        answer.actions.append("report the basic information")

    def _led(self, args: bytes, answer: Answer) -> None:
        self.settings.led = bool(args[0])
        answer.actions.append(f"LED {'on' if self.settings.led else 'off'}")
