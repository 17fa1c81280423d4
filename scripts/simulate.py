#!/usr/bin/env python3
"""Simulate a ChirpStack v4 network server with Milesight WS523 smart plugs.

The simulator connects to an MQTT broker and plays ChirpStack v4's MQTT
integration (JSON encoding) for a few simulated WS523 / IOT-CSOCKET sockets:

* on start every socket joins: a ``join`` event, then the basic-information
  frame (versions, SN, thresholds, button lock, energy recording) and a first
  electrical report;
* then an electrical report every ``--interval`` seconds, with plausible
  voltage, power, current, power factor and a growing energy counter;
* it subscribes to ``application/{app}/device/+/command/down``, answers every
  downlink with a ``txack`` event (``queueItemId`` = the downlink's ``id``)
  and then behaves like the device: change reports after switching, an
  immediate report on ``ff28``, echoes of settings, the basic information on
  ``ff2c`` and after a reboot, delay tasks that fire, overcurrent protection.

Run it with ``.venv/bin/python scripts/simulate.py --help``. It needs only
aiomqtt (no Home Assistant). The payload encoder below is self-contained on
purpose: it is a second, independent implementation of the protocol, so the
tests can check the integration's codec against it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import signal
import struct
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiomqtt

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

_LOGGER: Final = logging.getLogger("csocket.simulate")

DEFAULT_APPLICATION_ID: Final = "5c0f8d2a-3e4b-4f6a-9b1c-7d2e8f0a1b3c"
DEFAULT_SOCKETS: Final = 3
DEFAULT_INTERVAL: Final = 60.0
DEFAULT_F_PORT: Final = 85
DEFAULT_LATENCY: Final = 1.0
# DevEUI of socket n: 24e124148b000001, 24e124148b000002, ...
EUI_PREFIX: Final = "24e124148b"

TENANT_ID: Final = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
DEVICE_PROFILE_ID: Final = "14855bf7-d10d-4aee-b618-ebfcb64dc7ad"
GATEWAY_ID: Final = "0016c001f1500001"
EU868_CHANNELS: Final = (868100000, 868300000, 868500000, 867100000, 867300000)

NOMINAL_VOLTAGE: Final = 230.0
REPORT_INTERVAL_RANGE: Final = (60, 64800)  # 1..1080 minutes (user guide)
THRESHOLD_RANGE: Final = (1, 30)  # A, when enabled
REBOOT_TIME: Final = 3.0  # a rebooting socket is silent this many latencies
STATE_VERSION: Final = 1


# --- Uplink encoder (ws523-protocol.md section 1) ------------------------------


def record(channel: int, kind: int, data: bytes) -> bytes:
    """One ``channel | type | data`` record."""
    return bytes((channel, kind)) + data


@dataclass(frozen=True, slots=True)
class Reading:
    """One electrical measurement, already in the device's units."""

    on: bool
    voltage: float  # V, one decimal
    power: int  # W
    current: int  # mA
    power_factor: int  # %
    energy: int  # Wh


def encode_report(reading: Reading, *, changed: bool = False) -> bytes:
    """An electrical report in the device's record order.

    ``changed`` sets bit 4 of the socket status: a change report (button,
    downlink, delay task or protection trip) instead of a periodic one.
    """
    status = int(reading.on) | (0x10 if changed else 0)
    return b"".join(
        (
            record(0x08, 0x70, bytes((status,))),
            record(0x05, 0x81, struct.pack("<B", _clamp(reading.power_factor, 100))),
            record(0x07, 0xC9, struct.pack("<H", _clamp(reading.current, 0xFFFF))),
            record(
                0x03,
                0x74,
                struct.pack("<H", _clamp(round(reading.voltage * 10), 0xFFFF)),
            ),
            record(0x06, 0x83, struct.pack("<I", _clamp(reading.energy, 0xFFFFFFFF))),
            record(0x04, 0x80, struct.pack("<I", _clamp(reading.power, 0xFFFFFFFF))),
        )
    )


def _clamp(value: int, maximum: int) -> int:
    return max(0, min(int(value), maximum))


@dataclass(slots=True)
class Settings:
    """What a socket remembers (and the simulator saves with ``--state``)."""

    on: bool
    energy_wh: float
    alarm_enabled: bool = True
    alarm_threshold: int = 10  # A
    protection_enabled: bool = True
    protection_threshold: int = 10  # A
    button_lock: int = 0x8000  # raw uint16: bit 15 locked, low bits lock time
    recording: bool = True
    led: bool = True


def encode_basic_info(sn: str, settings: Settings) -> bytes:
    """The basic-information frame sent after a join (user guide example)."""
    return b"".join(
        (
            record(0xFF, 0x01, b"\x01"),  # protocol version 1
            record(0xFF, 0x16, bytes.fromhex(sn)),
            record(0xFF, 0x09, b"\x01\x00"),  # hardware v1.0
            record(0xFF, 0x0A, b"\x01\x03"),  # firmware v1.3
            record(
                0xFF,
                0x24,
                bytes((int(settings.alarm_enabled), settings.alarm_threshold)),
            ),
            record(
                0xFF,
                0x30,
                bytes(
                    (int(settings.protection_enabled), settings.protection_threshold)
                ),
            ),
            record(0xFF, 0x25, struct.pack("<H", settings.button_lock)),
            record(0xFF, 0x26, bytes((int(settings.recording),))),
        )
    )


# --- Downlink parser (ws523-protocol.md section 2) -----------------------------

# Header -> (command name, total length including the header).
DOWNLINKS: Final[dict[bytes, tuple[str, int]]] = {
    b"\x08": ("socket", 4),
    b"\xff\x03": ("report_interval", 4),
    b"\xff\x10": ("reboot", 3),
    b"\xff\x22": ("delay_task", 6),
    b"\xff\x23": ("delete_delay_task", 4),
    b"\xff\x24": ("overcurrent_alarm", 4),
    b"\xff\x25": ("button_lock", 4),
    b"\xff\x26": ("power_consumption_enabled", 3),
    b"\xff\x27": ("reset_power_consumption", 3),
    b"\xff\x28": ("report_status", 3),
    b"\xff\x2c": ("report_attribute", 3),
    b"\xff\x2f": ("led_enabled", 3),
    b"\xff\x30": ("overcurrent_protection", 4),
}


@dataclass(frozen=True, slots=True)
class Command:
    """One downlink command: its name, its bytes and its arguments."""

    name: str
    raw: bytes
    args: bytes


def parse_downlink(data: bytes) -> tuple[list[Command], bytes]:
    """The commands in a downlink and the bytes the device could not parse.

    Like the device, parsing stops at the first unknown or truncated command.
    """
    commands: list[Command] = []
    index = 0
    while index < len(data):
        header = data[index : index + (1 if data[index] == 0x08 else 2)]
        spec = DOWNLINKS.get(header)
        if spec is None or index + spec[1] > len(data):
            return commands, data[index:]
        name, length = spec
        raw = data[index : index + length]
        commands.append(Command(name, raw, raw[len(header) :]))
        index += length
    return commands, b""


# --- One simulated socket ---------------------------------------------------------


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


# Settings the device echoes back, ff-prefixed with the command's own bytes.
ECHOED: Final = frozenset(
    {
        "report_interval",
        "overcurrent_alarm",
        "overcurrent_protection",
        "button_lock",
        "power_consumption_enabled",
        "led_enabled",
    }
)


# --- The network server --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """Command-line options."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    sockets: int = DEFAULT_SOCKETS
    interval: float = DEFAULT_INTERVAL
    application_id: str = DEFAULT_APPLICATION_ID
    f_port: int = DEFAULT_F_PORT
    latency: float = DEFAULT_LATENCY
    qos: int = 1
    seed: int | None = None
    state: Path | None = None
    once: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json_object(payload: object) -> dict[str, Any]:
    """An MQTT payload as a JSON object; ValueError or TypeError otherwise."""
    if not isinstance(payload, bytes | bytearray | str):
        raise TypeError("empty payload")
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise TypeError("not a JSON object")
    return value


def describe(reading: Reading) -> str:
    """A reading for the log."""
    if not reading.on:
        return f"off, {reading.voltage} V, {reading.energy} Wh"
    return (
        f"on, {reading.power} W, {reading.voltage} V, {reading.current} mA, "
        f"PF {reading.power_factor} %, {reading.energy} Wh"
    )


class Simulator:
    """ChirpStack v4 on MQTT, and the sockets behind it."""

    def __init__(self, config: Config) -> None:
        """Create the sockets; nothing runs until run() or run_once()."""
        self.config = config
        self.application_id = str(uuid.UUID(config.application_id))
        self._rng = random.Random(config.seed)
        self.sockets: dict[str, SimulatedSocket] = {}
        for index in range(1, config.sockets + 1):
            dev_eui = f"{EUI_PREFIX}{index:06x}"
            self.sockets[dev_eui] = SimulatedSocket(
                index,
                dev_eui,
                appliance_for(index),
                self._rng,
                report_interval=config.interval,
                f_port=config.f_port,
            )
        self._client: aiomqtt.Client | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # The pending delay task of each socket (also in _tasks).
        self._delay_tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._next_report: dict[str, float] = {}
        self._started = False
        self.ready = asyncio.Event()  # set once subscribed and joined
        self._load_state()

    @property
    def command_filter(self) -> str:
        """Where ChirpStack receives downlink commands."""
        return f"application/{self.application_id}/device/+/command/down"

    def event_topic(self, sock: SimulatedSocket, event: str) -> str:
        """ChirpStack's default event topic."""
        return f"application/{self.application_id}/device/{sock.dev_eui}/event/{event}"

    # Running -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()

    async def run(self) -> None:
        """Run until stop(): reconnect to the broker whenever it goes away."""
        connection = asyncio.create_task(self._connection_loop())
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait(
                {connection, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            tasks = (connection, stopped, *self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._save_state()
            _LOGGER.info("Simulator stopped")
        if connection.done() and not connection.cancelled():
            connection.result()  # a bug in the loop: let it surface

    async def run_once(self) -> None:
        """Join every socket, send its basic information and one report, exit."""
        async with self._connect() as client:
            self._client = client
            for sock in self.sockets.values():
                await self._boot(sock)
            self._client = None
        self._save_state()

    def _connect(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.config.host,
            self.config.port,
            username=self.config.username,
            password=self.config.password,
            identifier=f"csocket-simulator-{uuid.uuid4().hex[:8]}",
        )

    async def _connection_loop(self) -> None:
        backoff = 1.0
        while True:
            try:
                async with self._connect() as client:
                    await client.subscribe(self.command_filter, qos=1)
                    self._client = client
                    backoff = 1.0
                    _LOGGER.info(
                        "Connected to %s:%s as ChirpStack v4, application %s; "
                        "listening on %s",
                        self.config.host,
                        self.config.port,
                        self.application_id,
                        self.command_filter,
                    )
                    if not self._started:
                        self._started = True
                        await self._start_sockets()
                    self.ready.set()
                    async for message in client.messages:
                        self._on_message(message.topic.value, message.payload)
            except aiomqtt.MqttError as err:
                self._client = None
                _LOGGER.warning(
                    "Broker %s:%s: %s; retrying in %.0f s",
                    self.config.host,
                    self.config.port,
                    err,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _start_sockets(self) -> None:
        for sock in self.sockets.values():
            await self._boot(sock)
        for sock in self.sockets.values():
            self._spawn(self._report_loop(sock), f"reports {sock.dev_eui}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that run() cancels when the simulator stops."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Task %s failed", task.get_name(), exc_info=err)

    def _lock(self, sock: SimulatedSocket) -> asyncio.Lock:
        return self._locks.setdefault(sock.dev_eui, asyncio.Lock())

    # Device life -----------------------------------------------------------------

    async def _boot(self, sock: SimulatedSocket) -> None:
        """Join, then basic information and a first report (user guide 4.1)."""
        sock.join()
        _LOGGER.info("%s joined (DevAddr %s)", sock, sock.dev_addr)
        await self._publish(
            self.event_topic(sock, "join"),
            {
                "deduplicationId": str(uuid.uuid4()),
                "time": _now(),
                "deviceInfo": self._device_info(sock),
                "devAddr": sock.dev_addr,
            },
        )
        await self._uplink(sock, sock.basic_info(), "basic information")
        payload, reading = sock.report()
        await self._uplink(sock, payload, f"report: {describe(reading)}")
        self._schedule_report(sock)

    def _schedule_report(self, sock: SimulatedSocket) -> None:
        loop = asyncio.get_running_loop()
        self._next_report[sock.dev_eui] = loop.time() + sock.report_interval
        self._wake.setdefault(sock.dev_eui, asyncio.Event()).set()

    async def _report_loop(self, sock: SimulatedSocket) -> None:
        """Periodic reports; rescheduled by a new interval or a reboot."""
        loop = asyncio.get_running_loop()
        wake = self._wake.setdefault(sock.dev_eui, asyncio.Event())
        while True:
            wake.clear()
            due = self._next_report.get(sock.dev_eui, loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(due - loop.time(), 0)):
                    await wake.wait()
                continue  # rescheduled
            async with self._lock(sock):
                self._next_report[sock.dev_eui] = loop.time() + sock.report_interval
                payload, reading = sock.report()
                await self._uplink(sock, payload, f"report: {describe(reading)}")
                await self._check_overcurrent(sock)
            self._save_state()

    async def _check_overcurrent(self, sock: SimulatedSocket) -> None:
        match sock.overcurrent():
            case "trip":
                _LOGGER.warning(
                    "%s: current above the protection threshold (%s A): power cut",
                    sock,
                    sock.settings.protection_threshold,
                )
                payload, reading = sock.report(changed=True)
                await self._uplink(
                    sock, payload, f"protection trip: {describe(reading)}"
                )
            case "alarm":
                payload, reading = sock.report()
                await self._uplink(
                    sock, payload, f"overcurrent alarm: {describe(reading)}"
                )
            case _:
                pass

    # Downlinks -------------------------------------------------------------------

    def _on_message(self, topic: str, payload: object) -> None:
        """A command published by the integration; never raises."""
        parts = topic.split("/")
        if len(parts) != 6 or parts[4:] != ["command", "down"]:
            _LOGGER.warning("Ignored a message on %s", topic)
            return
        sock = self.sockets.get(parts[3])
        if sock is None:
            _LOGGER.warning("Downlink for unknown device %s ignored", parts[3])
            return
        try:
            command = _json_object(payload)
            queue_item = self._validate(parts[3], command)
            data = base64.b64decode(command["data"], validate=True)
        except (ValueError, TypeError, KeyError) as err:
            # ChirpStack logs the error and drops the command.
            _LOGGER.warning("%s: invalid downlink command rejected: %s", sock, err)
            return
        f_port = int(command["fPort"])
        confirmed = bool(command.get("confirmed", False))
        self._spawn(
            self._downlink(sock, queue_item, f_port, data, confirmed=confirmed),
            f"downlink {queue_item}",
        )

    @staticmethod
    def _validate(dev_eui: str, command: dict[str, Any]) -> str:
        """The queue item id; raises like ChirpStack for a bad command."""
        if command.get("devEui") != dev_eui:
            raise ValueError(
                f"payload devEui {command.get('devEui')!r} "
                f"does not match topic dev_eui {dev_eui!r}"
            )
        f_port = command.get("fPort")
        if not isinstance(f_port, int) or isinstance(f_port, bool) or f_port < 1:
            raise ValueError(f"fPort must be > 0, got {f_port!r}")
        if "data" not in command:
            raise ValueError("no 'data' (this network server has no codec)")
        item = command.get("id") or str(uuid.uuid4())
        return str(uuid.UUID(str(item)))

    async def _downlink(
        self,
        sock: SimulatedSocket,
        queue_item: str,
        f_port: int,
        data: bytes,
        *,
        confirmed: bool,
    ) -> None:
        latency = self.config.latency
        async with self._lock(sock):
            sock.f_cnt_down += 1
            await self._publish(
                self.event_topic(sock, "txack"), self._txack(sock, queue_item)
            )
            _LOGGER.info(
                "%s: downlink %s on FPort %s: %s (txack sent)",
                sock,
                queue_item,
                f_port,
                data.hex(),
            )
            await asyncio.sleep(latency)
            if f_port != sock.f_port:
                _LOGGER.warning(
                    "%s: ignores a downlink on FPort %s (listens on %s)",
                    sock,
                    f_port,
                    sock.f_port,
                )
                return
            commands, unparsed = parse_downlink(data)
            if unparsed:
                _LOGGER.warning(
                    "%s: does not understand %s; ignored", sock, unparsed.hex()
                )
            answer = sock.apply(commands)
            _LOGGER.info("%s: %s", sock, ", ".join(answer.actions) or "nothing to do")
            await self._answer(sock, answer)
            if confirmed:
                await self._publish(
                    self.event_topic(sock, "ack"), self._ack(sock, queue_item)
                )
        self._save_state()
        if answer.reboot:
            await self._reboot(sock)

    async def _answer(self, sock: SimulatedSocket, answer: Answer) -> None:
        if answer.delete_delay_task:
            self._cancel_delay_task(sock)
        if answer.delay_task is not None:
            self._cancel_delay_task(sock)
            seconds, on = answer.delay_task
            self._delay_tasks[sock.dev_eui] = self._spawn(
                self._run_delay_task(sock, seconds, on=on),
                f"delay task {sock.dev_eui}",
            )
        if answer.report_interval is not None:
            self._schedule_report(sock)
        if answer.echoes:
            await self._uplink(sock, b"".join(answer.echoes), "settings echo")
        # A change report carries the whole electrical status, so it also
        # answers an enquiry (ff28) sent in the same downlink.
        if answer.change_report:
            payload, reading = sock.report(changed=True)
            await self._uplink(sock, payload, f"change report: {describe(reading)}")
            await self._check_overcurrent(sock)
        elif answer.report:
            payload, reading = sock.report()
            await self._uplink(sock, payload, f"report: {describe(reading)}")
        if answer.basic_info:
            await self._uplink(sock, sock.basic_info(), "basic information")

    def _cancel_delay_task(self, sock: SimulatedSocket) -> None:
        if (task := self._delay_tasks.pop(sock.dev_eui, None)) is not None:
            task.cancel()

    async def _run_delay_task(
        self, sock: SimulatedSocket, seconds: int, *, on: bool
    ) -> None:
        await asyncio.sleep(seconds)
        async with self._lock(sock):
            if self._delay_tasks.get(sock.dev_eui) is asyncio.current_task():
                del self._delay_tasks[sock.dev_eui]
            sock.switch(on)
            payload, reading = sock.report(changed=True)
            await self._uplink(
                sock, payload, f"delay task fired, change report: {describe(reading)}"
            )
            await self._check_overcurrent(sock)
        self._save_state()

    async def _reboot(self, sock: SimulatedSocket) -> None:
        """Silent for a moment, then a new join (the delay task is lost)."""
        self._cancel_delay_task(sock)
        _LOGGER.info("%s: rebooting", sock)
        async with self._lock(sock):
            await asyncio.sleep(REBOOT_TIME * self.config.latency)
            await self._boot(sock)

    # MQTT --------------------------------------------------------------------------

    def _device_info(self, sock: SimulatedSocket) -> dict[str, Any]:
        return {
            "tenantId": TENANT_ID,
            "tenantName": "ChirpStack",
            "applicationId": self.application_id,
            "applicationName": "csocket simulator",
            "deviceProfileId": DEVICE_PROFILE_ID,
            "deviceProfileName": "Milesight WS523",
            "deviceName": sock.name,
            "devEui": sock.dev_eui,
            "deviceClassEnabled": "CLASS_C",
            "tags": {},
        }

    async def _uplink(self, sock: SimulatedSocket, payload: bytes, what: str) -> None:
        """Publish an ``up`` event as ChirpStack v4 does."""
        f_cnt = sock.next_f_cnt()
        rssi, snr = sock.link_quality()
        spreading_factor = 7 if rssi > -80 else 9 if rssi > -95 else 11
        body = {
            "deduplicationId": str(uuid.uuid4()),
            "time": _now(),
            "deviceInfo": self._device_info(sock),
            "devAddr": sock.dev_addr,
            "adr": True,
            "dr": 12 - spreading_factor,
            "fCnt": f_cnt,
            "fPort": sock.f_port,
            "confirmed": False,
            "data": _b64(payload),
            "rxInfo": [
                {
                    "gatewayId": GATEWAY_ID,
                    "uplinkId": self._rng.getrandbits(32),
                    "time": _now(),
                    "rssi": rssi,
                    "snr": snr,
                    "context": _b64(self._rng.randbytes(4)),
                    "metadata": {"region_common_name": "EU868", "region_name": "eu868"},
                    "crcStatus": "CRC_OK",
                }
            ],
            "txInfo": {
                "frequency": self._rng.choice(EU868_CHANNELS),
                "modulation": {
                    "lora": {
                        "bandwidth": 125000,
                        "spreadingFactor": spreading_factor,
                        "codeRate": "CR_4_5",
                    }
                },
            },
        }
        _LOGGER.info("%s: uplink fCnt %s, %s", sock, f_cnt, what)
        _LOGGER.debug("%s: uplink payload %s", sock, payload.hex())
        await self._publish(self.event_topic(sock, "up"), body)

    def _txack(self, sock: SimulatedSocket, queue_item: str) -> dict[str, Any]:
        return {
            "downlinkId": self._rng.getrandbits(32),
            "time": _now(),
            "deviceInfo": self._device_info(sock),
            "queueItemId": queue_item,
            "fCntDown": sock.f_cnt_down,
            "gatewayId": GATEWAY_ID,
            "txInfo": {
                "frequency": 869525000,
                "power": 27,
                "modulation": {
                    "lora": {
                        "bandwidth": 125000,
                        "spreadingFactor": 12,
                        "codeRate": "CR_4_5",
                        "polarizationInversion": True,
                    }
                },
                "timing": {"immediately": {}},
                "context": _b64(self._rng.randbytes(4)),
            },
        }

    def _ack(self, sock: SimulatedSocket, queue_item: str) -> dict[str, Any]:
        return {
            "deduplicationId": str(uuid.uuid4()),
            "time": _now(),
            "deviceInfo": self._device_info(sock),
            "queueItemId": queue_item,
            "acknowledged": True,
            "fCntDown": sock.f_cnt_down,
        }

    async def _publish(self, topic: str, body: dict[str, Any]) -> None:
        client = self._client
        if client is None:
            _LOGGER.warning("Not connected to the broker: %s lost", topic)
            return
        try:
            await client.publish(topic, json.dumps(body), qos=self.config.qos)
        except aiomqtt.MqttError as err:
            _LOGGER.warning("Could not publish %s: %s", topic, err)

    # State file --------------------------------------------------------------------

    def _load_state(self) -> None:
        path = self.config.state
        if path is None or not path.exists():
            return
        try:
            saved = json.loads(path.read_text())["sockets"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            _LOGGER.warning("Ignoring the unreadable state file %s: %s", path, err)
            return
        names = {item.name for item in dataclasses.fields(Settings)}
        for dev_eui, sock in self.sockets.items():
            values = saved.get(dev_eui)
            if isinstance(values, dict):
                known = {k: v for k, v in values.items() if k in names}
                with contextlib.suppress(TypeError):
                    sock.settings = Settings(**known)

    def _save_state(self) -> None:
        path = self.config.state
        if path is None:
            return
        for sock in self.sockets.values():
            sock.tick()
        data = {
            "version": STATE_VERSION,
            "sockets": {
                dev_eui: dataclasses.asdict(sock.settings)
                for dev_eui, sock in self.sockets.items()
            },
        }
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(data, indent=2) + "\n")
            temporary.replace(path)
        except OSError as err:
            _LOGGER.warning("Could not save the state to %s: %s", path, err)


# --- Command line --------------------------------------------------------------------


def _application_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a ChirpStack v4 application id is a UUID, got {text!r}"
        ) from None


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> tuple[Config, bool]:
    """The configuration and whether to log at DEBUG."""
    parser = argparse.ArgumentParser(
        description=(
            "Play ChirpStack v4 (MQTT, JSON) with simulated Milesight WS523 / "
            "IOT-CSOCKET smart plugs."
        )
    )
    parser.add_argument("--host", default="127.0.0.1", help="MQTT broker host")
    parser.add_argument("--port", type=int, default=1883, help="MQTT broker port")
    parser.add_argument("--username", default=os.environ.get("CSOCKET_SIM_USERNAME"))
    parser.add_argument("--password", default=os.environ.get("CSOCKET_SIM_PASSWORD"))
    parser.add_argument(
        "--sockets",
        type=int,
        default=DEFAULT_SOCKETS,
        help="number of simulated sockets (default %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=_positive(float),
        default=DEFAULT_INTERVAL,
        help="seconds between periodic reports (default %(default)s; the device's "
        "factory setting is 1200)",
    )
    parser.add_argument(
        "--application-id",
        type=_application_id,
        default=DEFAULT_APPLICATION_ID,
        help="ChirpStack application UUID (default %(default)s)",
    )
    parser.add_argument("--f-port", type=int, default=DEFAULT_F_PORT)
    parser.add_argument(
        "--latency",
        type=float,
        default=DEFAULT_LATENCY,
        help="seconds between a downlink and the device's answer (default %(default)s)",
    )
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--seed", type=int, help="random seed, for repeatable values")
    parser.add_argument(
        "--state",
        type=Path,
        help="JSON file keeping the sockets' state and energy across restarts",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="join, send the basic information and one report per socket, exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log payloads")
    args = parser.parse_args(argv)
    if not 1 <= args.sockets <= 0xFFFFFF:
        parser.error("--sockets must be between 1 and 16777215")
    config = Config(
        host=args.host,
        port=args.port,
        username=args.username or None,
        password=args.password or None,
        sockets=args.sockets,
        interval=args.interval,
        application_id=args.application_id,
        f_port=args.f_port,
        latency=max(args.latency, 0.0),
        qos=args.qos,
        seed=args.seed,
        state=args.state,
        once=args.once,
    )
    return config, bool(args.verbose)


async def _main(config: Config) -> int:
    simulator = Simulator(config)
    if config.once:
        try:
            await simulator.run_once()
        except aiomqtt.MqttError as err:
            _LOGGER.error("Broker %s:%s: %s", config.host, config.port, err)  # noqa: TRY400
            return 1
        return 0
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, simulator.stop)
    await simulator.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    config, verbose = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("aiomqtt").setLevel(logging.WARNING)
    return asyncio.run(_main(config))


if __name__ == "__main__":
    sys.exit(main())
