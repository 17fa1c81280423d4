"""End-to-end benchmark: csocket against Home Assistant's MQTT + templates.

Run with ``.venv/bin/python scripts/bench_e2e.py`` (``--help`` for options).

For every socket count it starts, on free 127.0.0.1 ports, two Mosquitto
brokers and two real ``hass`` processes (no recorder, no frontend):

* **csocket**: the integration's entry as ``scripts/develop`` creates it
  (dedicated-broker transport, ChirpStack v4, one application). On Home
  Assistant 2026.7+, which adds at most 10 000 enabled entities to one config
  entry, the sockets are split as a user must split them: one ChirpStack
  application and one csocket entry per ``--sockets-per-entry`` sockets;
* **template**: what users set up today instead: the network server decodes
  with a codec and Home Assistant's MQTT integration has 5 MQTT sensors + 1
  switch per socket with ``value_template: "{{ value_json.object.voltage }}"``
  and so on.

One publisher process (this script with ``publish``, paho-mqtt, QoS 1) plays
ChirpStack v4 for both: the same uplink JSON with the base64 ``data`` of
WS523 periodic reports whose values change with every uplink; the template
side's copy also carries the decoded ``object``. The sides alternate within
each run. Measured:

* uplinks/s and hass CPU per uplink (``/proc/<pid>/stat``) while the
  publisher sends as fast as the broker takes them; the run ends when the last
  uplink's value is Home Assistant's state (MQTT keeps order per connection),
  and then every socket's last energy value is checked;
* publish -> state latency at 100 uplinks/s spread over the sockets
  (websocket ``subscribe_events state_changed``, matched by the energy value,
  which is unique per uplink);
* switch action -> downlink seen on the broker (websocket ``call_service``;
  the script answers csocket's downlink like the socket would);
* resident memory per socket (after the runs, against the same process with
  no sockets: csocket's entry without sockets, MQTT before ``mqtt.reload``
  loads the sockets' YAML);
* entry load time after a restart (Home Assistant's own setup timing of the
  integration) and, for csocket, that every socket's last value is restored;
* errors in each hass log.

``--output BENCHMARKS.md`` writes the markdown with the machine, Python and
Home Assistant versions. ``--source DIR`` runs another copy of
``custom_components/csocket`` (e.g. an older commit, for before/after).
Every process started here is stopped on exit, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
HASS = ROOT / ".venv" / "bin" / "hass"
APP_ID = "17c82e96-be03-4f38-aef3-f83d48582d97"
F_PORT = 85
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LATENCY_RATE = 100  # uplinks/s
LATENCY_SECONDS = 10
ACTIONS = 100
REGISTRY_SAVE_DELAY = 10  # s
ACTION_GAP = 0.2  # s between a socket's confirming report and the next action
TOKEN_CLIENT = "http://127.0.0.1/"
TEMPLATE_CHUNK = 5000  # sockets per rendered template
# ChirpStack field, unit, device class, state class of the template sensors.
TEMPLATE_SENSORS = {
    "voltage": ("voltage", "V", "voltage", "measurement"),
    "current": ("current", "mA", "current", "measurement"),
    "power": ("active_power", "W", "power", "measurement"),
    "power_factor": ("power_factor", "%", "power_factor", "measurement"),
    "energy": ("power_consumption", "Wh", "energy", "total_increasing"),
}


# --- Uplinks -------------------------------------------------------------------


def dev_eui(index: int) -> str:
    """DevEUI of socket `index`."""
    return f"24e1241400{index:06x}"


def name(index: int) -> str:
    """Device name of socket `index` (entity ids: sensor.bench_00001_energy)."""
    return f"Bench {index:05d}"


def object_id(index: int) -> str:
    """Entity object id prefix of socket `index`."""
    return f"bench_{index:05d}"


def report(seq: int, *, on: bool = True, changed: bool = False) -> bytes:
    """A WS523 periodic report (user guide 4.2) whose values follow `seq`.

    The energy counter is `seq` itself, unique per uplink: it identifies the
    uplink in Home Assistant's state. Encoded by the simulator's encoder.
    """
    reading = SIMULATOR.Reading(
        on=on,
        voltage=220 + seq * 7 % 200 / 10,
        power=1 + seq * 13 % 2000,
        current=100 + seq * 37 % 9000,
        power_factor=30 + seq % 70,
        energy=seq,
    )
    return bytes(SIMULATOR.encode_report(reading, changed=changed))


def load(name: str, path: Path) -> ModuleType:
    """A module loaded by path (csocket's codec without Home Assistant)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def load_codec(source: Path) -> ModuleType:
    """csocket's codec of the benchmarked source."""
    return load("bench_codec", source / "codec.py")


SIMULATOR = load("bench_simulator", ROOT / "scripts" / "simulate.py")
# ChirpStack v4's deviceInfo without the device's name and DevEUI (the
# simulator's encoder is public; its ChirpStack identifiers are not).
DEVICE_INFO = dict(  # noqa: C408 - reads like the JSON it becomes
    tenantId="0b7a4c1e-8d2f-4e6a-9c3b-5f1d2e7a8b90",
    tenantName="ChirpStack",
    applicationId=APP_ID,
    applicationName="Sockets",
    deviceProfileId="6e2d9f4a-1b3c-4d5e-8f70-a1b2c3d4e5f6",
    deviceProfileName="WS523",
    tags={},
)


def application(index: int, per_entry: int = 0) -> str:
    """The ChirpStack application of socket `index` (`per_entry` 0: one for all).

    Socket `index` belongs to the csocket entry `index // per_entry`.
    """
    group = index // per_entry if per_entry else 0
    return APP_ID if group == 0 else f"{APP_ID[:-4]}{group:04x}"


def uplink(
    codec: ModuleType,
    index: int,
    seq: int,
    *,
    f_cnt: int,
    decoded: bool,
    per_entry: int = 0,
    **kwargs: bool,
) -> tuple[str, bytes]:
    """Topic and ChirpStack v4 JSON of one uplink of socket `index`.

    `f_cnt` is the socket's own frame counter, one up per uplink as a real
    socket's (a gap right after csocket connects looks like uplinks the
    broker dropped, and csocket warns).
    """
    data = report(seq, **kwargs)
    eui = dev_eui(index)
    app = application(index, per_entry)
    body: dict[str, Any] = {
        "deduplicationId": f"00000000-0000-4000-8000-{seq:012x}",
        "time": datetime.now(UTC).isoformat(),
        "deviceInfo": DEVICE_INFO
        | {"applicationId": app, "deviceName": name(index), "devEui": eui},
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": F_PORT,
        "confirmed": False,
        "data": base64.b64encode(data).decode(),
        "rxInfo": [
            {"gatewayId": "0016c001f153a14c", "rssi": -60 - seq % 5, "snr": 9.5}
        ],
        "txInfo": {"frequency": 867300000},
    }
    if decoded:
        body["object"] = codec.decode_uplink(data)
    return f"application/{app}/device/{eui}/event/up", json.dumps(body).encode()


def socket_of(i: int, count: int, sockets: int) -> int:
    """Socket of the i-th of `count` uplinks: round robin, socket 0 last."""
    return (count - 1 - i) % sockets


def plan(count: int, sockets: int, f_cnt: dict[int, int]) -> list[tuple[int, int]]:
    """(socket, frame counter) of `count` round-robin uplinks; counts them in `f_cnt`.

    `f_cnt` holds each socket's last frame counter (none yet: 0).
    """
    frames = []
    for i in range(count):
        index = socket_of(i, count, sockets)
        f_cnt[index] = f_cnt.get(index, 0) + 1
        frames.append((index, f_cnt[index]))
    return frames


# --- Publisher process -----------------------------------------------------------


def publisher(args: argparse.Namespace) -> None:
    """Publish a plan of uplinks; stdin 'go' starts it; prints publish times."""
    # Only the publisher needs paho.
    from paho.mqtt.client import Client  # noqa: PLC0415 - publisher process only
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415 - same

    codec = load_codec(Path(args.source))
    f_cnt = {
        int(index): last
        for index, last in json.loads(Path(args.f_cnt).read_text()).items()
    }
    messages = [
        uplink(
            codec,
            index,
            args.first + i,
            f_cnt=frame,
            decoded=args.decoded,
            per_entry=args.per_entry,
        )
        for i, (index, frame) in enumerate(plan(args.count, args.sockets, f_cnt))
    ]
    client = Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-publisher-{os.getpid()}"
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()
    times: list[float] = []
    info = None
    interval = 1 / args.rate if args.rate else 0.0
    start = time.monotonic()
    for i, (topic, payload) in enumerate(messages):
        if interval:
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            times.append(time.time())
        info = client.publish(topic, payload, qos=1)
    if info is not None:
        info.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()
    print(json.dumps(times), flush=True)


# --- Processes -------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(
    process: subprocess.Popen[Any] | None,
    timeout: float = 60,
    sig: signal.Signals = signal.SIGTERM,
) -> None:
    """Signal the process group, SIGKILL it if it does not end in time."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


GC_MANIFEST = {
    "domain": "bench_gc",
    "name": "Benchmark GC watch",
    "version": "1.0.0",
    "codeowners": [],
    "documentation": "https://example.invalid",
    "iot_class": "local_push",
}
# A benchmark-only integration in each side's config: times every garbage
# collection (gc.callbacks) and reports them with `bench_gc.report`.
GC_WATCH = """\
import gc
import time

from homeassistant.core import SupportsResponse
from homeassistant.setup import async_get_domain_setup_times

DOMAIN = "bench_gc"


async def async_setup(hass, config):
    stats = {"counts": [0, 0, 0], "seconds": 0.0, "full_ms": []}
    started = [0.0]

    def watch(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        pause = time.perf_counter() - started[0]
        stats["counts"][info["generation"]] += 1
        stats["seconds"] += pause
        if info["generation"] == 2:
            stats["full_ms"].append(round(pause * 1000, 1))

    gc.callbacks.append(watch)

    def report(call):
        out = dict(stats)
        stats.update(counts=[0, 0, 0], seconds=0.0, full_ms=[])
        return out

    hass.services.async_register(
        DOMAIN, "report", report, supports_response=SupportsResponse.ONLY
    )

    def setup_times(call):
        # Home Assistant's raw timings of a domain's set-up: group (config
        # entry) -> phase -> seconds, waits as negative seconds.
        times = async_get_domain_setup_times(hass, call.data["domain"])
        return {
            "groups": [
                {"group": str(group), "phases": {str(k): v for k, v in phases.items()}}
                for group, phases in times.items()
            ]
        }

    hass.services.async_register(
        DOMAIN, "setup_times", setup_times, supports_response=SupportsResponse.ONLY
    )
    return True
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def settle(pid: int, limit: float = 300) -> None:
    """Wait until a process is idle (under 5 % CPU for 3 s).

    After 10 000 sockets are discovered, Home Assistant saves its registries
    (delayed 10 s; seconds of serialising): a measured run must not include it.
    """
    # Home Assistant's registries save 10 s after their last change.
    await asyncio.sleep(REGISTRY_SAVE_DELAY + 2)
    deadline = time.monotonic() + limit
    quiet = 0
    before = cpu_seconds(pid)
    while quiet < 3 and time.monotonic() < deadline:
        await asyncio.sleep(1)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - before < 0.05 else 0
        before = now


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


@dataclass
class Side:
    """One Home Assistant with its broker: csocket or the template alternative."""

    kind: str  # "csocket" or "template"
    workdir: Path
    sockets: int
    source: Path
    hass_bin: Path
    per_entry: int = 0  # csocket's sockets per entry (0: one entry for all)
    broker_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    broker: subprocess.Popen[bytes] | None = None
    hass: subprocess.Popen[bytes] | None = None
    token: str = ""
    seq: int = 1  # next energy value
    last: dict[int, int] = field(default_factory=dict)  # socket -> last seq
    f_cnt: dict[int, int] = field(default_factory=dict)  # socket -> last fCnt
    # log_problems of the runs before the running one
    earlier_problems: list[str] = field(default_factory=list)
    started_at: float = 0.0

    @property
    def config(self) -> Path:
        """Home Assistant's configuration directory."""
        return self.workdir / "config"

    @property
    def pid(self) -> int:
        """Home Assistant's process id."""
        assert self.hass is not None
        return self.hass.pid

    @property
    def base(self) -> str:
        """Home Assistant's HTTP address."""
        return f"http://127.0.0.1:{self.http_port}"

    def energy_wh(self, state: str) -> int | None:
        """The energy state in Wh (csocket shows kWh, the templates Wh)."""
        try:
            value = float(state)
        except ValueError:
            return None
        return round(value * 1000) if self.kind == "csocket" else round(value)

    # Setup ---------------------------------------------------------------

    def prepare(self) -> None:
        """Write the broker's and Home Assistant's configuration."""
        (self.workdir / "mosquitto").mkdir(parents=True)
        (self.workdir / "mosquitto" / "mosquitto.conf").write_text(
            f"listener {self.broker_port} 127.0.0.1\n"
            "allow_anonymous true\npersistence false\n"
            # Queue everything for a slow subscriber: nothing may be dropped.
            "max_queued_messages 0\nmax_inflight_messages 100\n"
            # Latency, not Nagle's algorithm (+40 ms with delayed ACKs).
            "set_tcp_nodelay true\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n"
        )
        storage = self.config / ".storage"
        storage.mkdir(parents=True)
        yaml = (
            "homeassistant:\n  name: Bench\n  latitude: 52.5\n  longitude: 13.4\n"
            "  elevation: 0\n  unit_system: metric\n  time_zone: UTC\n"
            "  country: DE\n  currency: EUR\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.http_port}\n"
            "api:\nwebsocket_api:\nonboarding:\n"
            # Home Assistant logs a config entry's set-up retry (not ready)
            # at debug level; log_problems counts them.
            "logger:\n  default: warning\n"
            "  logs:\n    homeassistant.config_entries: debug\n"
        )
        (self.config / "custom_components").mkdir()
        # Both sides: the garbage collector's pauses, reported by an action.
        gc_watch = self.config / "custom_components" / "bench_gc"
        gc_watch.mkdir()
        (gc_watch / "manifest.json").write_text(json.dumps(GC_MANIFEST))
        (gc_watch / "__init__.py").write_text(GC_WATCH)
        yaml += "bench_gc:\n"
        if self.kind == "csocket":
            (self.config / "custom_components" / "csocket").symlink_to(self.source)
            entries = [self._csocket_entry(group) for group in range(self.entries)]
        else:
            yaml += "mqtt: !include mqtt.yaml\n"
            # No sockets at start: memory is measured before mqtt.reload.
            (self.config / "mqtt.yaml").write_text("sensor: []\nswitch: []\n")
            entries = [
                self._entry(
                    "mqtt",
                    {"broker": "127.0.0.1", "port": self.broker_port},
                    None,
                    options={"discovery": False},
                    minor_version=2,
                )
            ]
        (self.config / "configuration.yaml").write_text(yaml)
        (storage / "core.config_entries").write_text(
            json.dumps(
                {
                    "version": 1,
                    "minor_version": 5,
                    "key": "core.config_entries",
                    "data": {"entries": entries},
                }
            )
        )

    @property
    def entries(self) -> int:
        """csocket's entries: one per application."""
        if not self.per_entry:
            return 1
        return -(-self.sockets // self.per_entry)

    def _csocket_entry(self, group: int) -> dict[str, Any]:
        """The csocket entry of the sockets in application `group`."""
        app = application(group * self.per_entry, self.per_entry)
        return self._entry(
            "csocket",
            {
                "network_server": "chirpstack_v4",
                "transport": "broker",
                "host": "127.0.0.1",
                "port": self.broker_port,
                "username": "",
                "password": "",
                "tls": False,
                "ca_cert": "",
                "tls_verify_hostname": True,
                "client_id": f"csocket-bench-{self.broker_port}-{group}",
                "application_id": app,
                "event_topic": (
                    "application/{{application_id}}/device/{{dev_eui}}/event/{{event}}"
                ),
                "command_topic": (
                    "application/{{application_id}}/device/{{dev_eui}}"
                    "/command/{{command}}"
                ),
                "f_port": F_PORT,
            },
            f"127.0.0.1:{self.broker_port}/chirpstack_v4/{app}",
            # Automatic adding stops at 500 sockets by default.
            options={"max_sockets": max(self.sockets, 500)},
            group=group,
        )

    @staticmethod
    def _entry(
        domain: str,
        data: dict[str, Any],
        unique_id: str | None,
        *,
        options: dict[str, Any] | None = None,
        minor_version: int = 1,
        group: int = 0,
    ) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {  # ConfigEntry.as_dict() of Home Assistant 2025.4
            "created_at": now,
            "data": data,
            "discovery_keys": {},
            "disabled_by": None,
            "domain": domain,
            # Fixed width: group 1 padded must not be group 10.
            "entry_id": f"bench{domain}{group:04d}".ljust(26, "0").upper(),
            "minor_version": minor_version,
            "modified_at": now,
            "options": options or {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": f"Bench {domain} {group}" if group else f"Bench {domain}",
            "unique_id": unique_id,
            "version": 1,
        }

    def template_yaml(self) -> str:
        """The MQTT YAML of every socket (JSON is YAML, and faster to load)."""
        codec = load_codec(self.source)
        sensors, switches = [], []
        for index in range(self.sockets):
            eui = dev_eui(index)
            app = application(index, self.per_entry)
            up = f"application/{app}/device/{eui}/event/up"
            down = f"application/{app}/device/{eui}/command/down"
            for key, (
                field_,
                unit,
                device_class,
                state_class,
            ) in TEMPLATE_SENSORS.items():
                sensors.append(
                    {
                        "name": f"{name(index)} {key.replace('_', ' ')}",
                        "unique_id": f"{object_id(index)}_{key}",
                        "state_topic": up,
                        "value_template": f"{{{{ value_json.object.{field_} }}}}",
                        "unit_of_measurement": unit,
                        "device_class": device_class,
                        "state_class": state_class,
                        "qos": 1,
                    }
                )

            def downlink(on: bool, eui: str = eui) -> str:
                data = codec.encode_downlink({"socket_status": on})
                return json.dumps(
                    {
                        "devEui": eui,
                        "confirmed": False,
                        "fPort": F_PORT,
                        "data": base64.b64encode(data).decode(),
                    }
                )

            switches.append(
                {
                    "name": name(index),
                    "unique_id": object_id(index),
                    "state_topic": up,
                    "value_template": (
                        "{{ 'ON' if value_json.object.socket_status else 'OFF' }}"
                    ),
                    "command_topic": down,
                    "payload_on": downlink(True),
                    "payload_off": downlink(False),
                    "state_on": "ON",
                    "state_off": "OFF",
                    "qos": 1,
                }
            )
        return json.dumps({"sensor": sensors, "switch": switches})

    def start_broker(self) -> None:
        """Start this side's Mosquitto."""
        conf = self.workdir / "mosquitto" / "mosquitto.conf"
        log = (self.workdir / "mosquitto" / "mosquitto.log").open("ab")
        self.broker = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        wait_port(self.broker_port, self.broker, 10)

    def start_hass(self) -> None:
        """Start Home Assistant (its own process group)."""
        # Home Assistant moves its previous run's log aside at start, keeping
        # one: what that run logged is counted now.
        self.earlier_problems += self._problems(self.config / "home-assistant.log")
        log = (self.workdir / "hass.out").open("ab")
        self.started_at = time.monotonic()
        self.hass = subprocess.Popen(
            [str(self.hass_bin), "-c", str(self.config), "--skip-pip"],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def stop_all(self) -> None:
        """Stop Home Assistant, then the broker."""
        stop(self.hass)
        stop(self.broker, 10)

    def log_problems(self) -> list[str]:
        """Problems in every run's Home Assistant log (see `_problems`)."""
        return self.earlier_problems + self._problems(
            self.config / "home-assistant.log"
        )

    @staticmethod
    def _problems(path: Path) -> list[str]:
        """ERROR and CRITICAL lines, csocket's warnings, and set-up retries.

        csocket's log stays quiet when all is well: any warning of its own
        is a problem. A config entry that was not ready (Home Assistant logs a
        WARNING and retries it in the background) did not set up in time: a
        failure here.

        Without the optional libturbojpeg, Home Assistant logs an error when
        it imports the camera integration; without an ffmpeg binary (Home
        Assistant 2026.x starts tts, which needs ffmpeg, in every instance),
        haffmpeg logs one. Both are the machine, not a setup under test, and
        are left out.
        """
        if not path.exists():
            return []
        return [
            line
            for line in path.read_text(errors="replace").splitlines()
            if (
                re.search(r"\b(ERROR|CRITICAL)\b", line)
                or "not ready yet" in line
                or re.search(r"\bWARNING\b.*\[custom_components\.csocket\b", line)
            )
            and "Error loading libturbojpeg" not in line
            and "[haffmpeg.core] FFmpeg fails" not in line
        ]


def wait_port(port: int, process: subprocess.Popen[Any] | None, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


# --- Home Assistant clients ----------------------------------------------------


class WebSocket:
    """A minimal Home Assistant websocket client."""

    def __init__(self, session: Any, side: Side) -> None:
        """Bind to a side; `connect` opens it."""
        self.session = session
        self.side = side
        self.ws: Any = None
        self.next_id = 1
        self.results: dict[int, asyncio.Future[Any]] = {}
        self.events: dict[int, Any] = {}
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> WebSocket:
        """Open and authenticate."""
        self.ws = await self.session.ws_connect(
            f"{self.side.base}/api/websocket", max_msg_size=0
        )
        # The client writes a frame in more than one piece: without this the
        # second waits for the server's delayed ACK (~40 ms).
        self.ws.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        await self.ws.receive_json()
        await self.ws.send_json({"type": "auth", "access_token": self.side.token})
        reply = await self.ws.receive_json()
        if reply["type"] != "auth_ok":
            raise RuntimeError(f"websocket auth failed: {reply}")
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.ws:
            received = time.time()
            data = json.loads(message.data)
            for item in data if isinstance(data, list) else [data]:
                if item["type"] == "result":
                    if future := self.results.pop(item["id"], None):
                        future.set_result(item)
                elif item["type"] == "event" and (
                    handler := self.events.get(item["id"])
                ):
                    handler(item["event"], received)

    async def send(self, message: dict[str, Any]) -> asyncio.Future[Any]:
        """Send a command; returns the future of its result."""
        msg_id = self.next_id
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.results[msg_id] = future
        await self.ws.send_json({"id": msg_id, **message})
        return future

    async def call(self, message: dict[str, Any], limit: float = 120) -> Any:
        """Send a command and return its result (raises on an error result)."""
        reply = await asyncio.wait_for(await self.send(message), limit)
        if not reply["success"]:
            raise RuntimeError(f"{message['type']} failed: {reply['error']}")
        return reply["result"]

    async def subscribe(self, message: dict[str, Any], handler: Any) -> None:
        """Subscribe; `handler(event, received_time)` gets every event."""
        self.events[self.next_id] = handler
        await self.call(message)

    async def close(self) -> None:
        """Close the connection."""
        await self.ws.close()
        if self.reader:
            await self.reader


async def wait_http(session: Any, side: Side, limit: float) -> None:
    """Wait until Home Assistant answers HTTP."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if side.hass is not None and side.hass.poll() is not None:
            raise RuntimeError(f"hass ({side.kind}) exited, see {side.workdir}")
        with contextlib.suppress(Exception):
            async with session.get(f"{side.base}/api/onboarding") as resp:
                if resp.status < 500:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"hass ({side.kind}) did not start in {limit} s")


async def onboard(session: Any, side: Side) -> None:
    """Create the owner through onboarding and a long-lived token."""
    async with session.post(
        f"{side.base}/api/onboarding/users",
        json={
            "client_id": TOKEN_CLIENT,
            "name": "Bench",
            "username": "bench",
            "password": "bench-password",
            "language": "en",
        },
    ) as resp:
        code = (await resp.json())["auth_code"]
    async with session.post(
        f"{side.base}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": TOKEN_CLIENT,
        },
    ) as resp:
        side.token = (await resp.json())["access_token"]
    ws = await WebSocket(session, side).connect()
    side.token = await ws.call(
        {
            "type": "auth/long_lived_access_token",
            "client_name": "bench",
            "lifespan": 30,
        }
    )
    # Home Assistant 2026.x moves `http:` from YAML into its store as a trial
    # and, unless the owner confirms it within 5 minutes, restarts on the
    # previous (default) port: confirm it, as the owner would. Earlier
    # releases do not know the command.
    reply = await asyncio.wait_for(await ws.send({"type": "http/config/promote"}), 120)
    if not reply["success"] and reply["error"]["code"] != "unknown_command":
        raise RuntimeError(f"http/config/promote failed: {reply['error']}")
    await ws.close()


async def energies(session: Any, side: Side) -> dict[int, int | None]:
    """Every socket's energy state in Wh, from rendered templates.

    Home Assistant limits a template's output to 256 KiB: a few thousand
    sockets per request. Sockets without the entity are left out.
    """
    found: dict[int, int | None] = {}
    for first in range(0, side.sockets, TEMPLATE_CHUNK):
        template = (
            f"{{% for i in range({first}, {min(first + TEMPLATE_CHUNK, side.sockets)})"
            " %}{% set e = 'sensor.bench_%05d_energy' | format(i) %}"
            "{% if state_attr(e, 'friendly_name') is not none %}"
            "{{ i }}={{ states(e) }}\n{% endif %}{% endfor %}"
        )
        async with session.post(
            f"{side.base}/api/template",
            json={"template": template},
            headers={"Authorization": f"Bearer {side.token}"},
        ) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise RuntimeError(f"template failed ({resp.status}): {text}")
        for line in text.splitlines():
            index, _, state = line.partition("=")
            found[int(index)] = side.energy_wh(state)
    return found


# --- Phases ----------------------------------------------------------------------


@dataclass
class Results:
    """Figures of one side for one socket count."""

    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    action_ms: list[float] = field(default_factory=list)
    rss_per_socket_kib: float = 0.0
    rss_mb: tuple[float, float] = (0.0, 0.0)
    # Garbage collections during the runs, latency and actions: counts per
    # generation, seconds in total, each full collection's pause in ms.
    gc: dict[str, Any] = field(default_factory=dict)
    # CPU share per SPLIT category (with --py-spy).
    split: dict[str, float] = field(default_factory=dict)
    load_s: float = 0.0
    load_wall_s: float = 0.0
    start_s: float = 0.0
    restored: str = ""
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Bench:
    """Runs the phases for one socket count on both sides."""

    def __init__(
        self, session: Any, sides: list[Side], args: argparse.Namespace
    ) -> None:
        """Both sides are started and onboarded."""
        self.session = session
        self.sides = sides
        self.args = args
        self.results = {side.kind: Results() for side in sides}
        self.start_cpu = 0.0
        self.start_time = 0.0

    async def publish(self, side: Side, count: int, rate: float = 0) -> list[float]:
        """Run the publisher process for `count` uplinks; returns publish times."""
        counters = side.workdir / "f_cnt.json"
        counters.write_text(json.dumps(side.f_cnt))
        process = await asyncio.create_subprocess_exec(
            # The Python that runs this script: the one next to its hass.
            sys.executable,
            __file__,
            "publish",
            "--port",
            str(side.broker_port),
            "--sockets",
            str(side.sockets),
            "--first",
            str(side.seq),
            "--count",
            str(count),
            "--rate",
            str(rate),
            "--source",
            str(side.source),
            "--per-entry",
            str(side.per_entry),
            "--f-cnt",
            str(counters),
            *(["--decoded"] if side.kind == "template" else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 600)
            if line.strip() != b"ready":
                raise RuntimeError("the publisher did not start")
            self.start_cpu = cpu_seconds(side.pid)
            self.start_time = time.monotonic()
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            times = json.loads(await process.stdout.readline())
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for i, (index, _frame) in enumerate(plan(count, side.sockets, side.f_cnt)):
            side.last[index] = side.seq + i
        side.seq += count
        return list(times)

    def profile(self, side: Side, phase: str) -> subprocess.Popen[bytes] | None:
        """With --py-spy, sample hass during a phase (collapsed stacks)."""
        if not self.args.py_spy:
            return None
        out = Path(self.args.py_spy) / f"{side.kind}-{side.sockets}-{phase}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                self.args.py_spy_bin,
                "record",
                "--pid",
                str(side.pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def run_until_last(
        self, side: Side, count: int, limit: float | None = None
    ) -> tuple[float, float]:
        """Publish `count` uplinks at full speed; (uplinks/s, CPU ms per uplink)."""
        ws = await WebSocket(self.session, side).connect()
        last = side.seq + count - 1
        done = asyncio.get_running_loop().create_future()

        def seen(event: Any, _received: float) -> None:
            state = event["variables"]["trigger"]["to_state"]["state"]
            if side.energy_wh(state) == last and not done.done():
                done.set_result(time.monotonic())

        await ws.subscribe(
            {
                "type": "subscribe_trigger",
                "trigger": {
                    "platform": "state",
                    "entity_id": f"sensor.{object_id(0)}_energy",
                },
            },
            seen,
        )
        try:
            await self.publish(side, count)
            end = await asyncio.wait_for(done, limit or self.args.timeout)
        finally:
            await ws.close()
        cpu = cpu_seconds(side.pid) - self.start_cpu
        await self.verify(side)
        return count / (end - self.start_time), cpu / count * 1000

    async def verify(self, side: Side) -> None:
        """Every socket's last uplink must be its state."""
        found = await energies(self.session, side)
        wrong = [
            f"socket {index}: {found.get(index)} Wh, expected {seq}"
            for index, seq in side.last.items()
            if found.get(index) != seq
        ]
        if wrong:
            self.results[side.kind].missing.extend(wrong[:5])
            print(f"  {side.kind}: {len(wrong)} sockets without their last value")

    async def latency(self, side: Side) -> list[float]:
        """Publish -> state at LATENCY_RATE uplinks/s, in ms."""
        ws = await WebSocket(self.session, side).connect()
        arrived: dict[int, float] = {}
        first = side.seq
        count = LATENCY_RATE * LATENCY_SECONDS
        all_arrived = asyncio.Event()

        def changed(event: Any, received: float) -> None:
            data = event["data"]
            if data["entity_id"].endswith("_energy") and data["new_state"]:
                value = side.energy_wh(data["new_state"]["state"])
                if value is not None:
                    arrived.setdefault(value, received)
                if value == first + count - 1:
                    all_arrived.set()

        await ws.subscribe(
            {"type": "subscribe_events", "event_type": "state_changed"}, changed
        )
        try:
            times = await self.publish(side, count, LATENCY_RATE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_arrived.wait(), 60)
        finally:
            await ws.close()
        return [
            (arrived[first + i] - sent) * 1000
            for i, sent in enumerate(times)
            if first + i in arrived
        ]

    async def actions(self, side: Side) -> list[float]:
        """Switch action -> downlink on the broker, in ms."""
        import aiomqtt  # noqa: PLC0415 - only this phase needs it

        codec = load_codec(side.source)
        ws = await WebSocket(self.session, side).connect()
        latencies = []
        async with aiomqtt.Client("127.0.0.1", side.broker_port) as client:
            await client.subscribe("application/+/device/+/command/down", 1)
            messages = aiomqtt_messages(client)
            for n in range(ACTIONS):
                index = n % side.sockets
                on = n % 2 == 1  # off first: the runs left every socket on
                sent = time.time()
                result = await ws.send(
                    {
                        "type": "call_service",
                        "domain": "switch",
                        "service": "turn_on" if on else "turn_off",
                        "target": {"entity_id": f"switch.{object_id(index)}"},
                    }
                )
                await asyncio.wait_for(anext(messages), 30)
                latencies.append((time.time() - sent) * 1000)
                # The socket answers with its change report.
                side.f_cnt[index] = side.f_cnt.get(index, 0) + 1
                topic, payload = uplink(
                    codec,
                    index,
                    side.seq,
                    f_cnt=side.f_cnt[index],
                    decoded=side.kind == "template",
                    per_entry=side.per_entry,
                    on=on,
                    changed=True,
                )
                side.last[index] = side.seq
                side.seq += 1
                await client.publish(topic, payload, qos=1)
                reply = await asyncio.wait_for(result, 60)
                if not reply["success"]:
                    self.results[side.kind].missing.append(
                        f"action on socket {index} failed: {reply['error']}"
                    )
                # A user acts long after the last uplink: let the PUBACK that
                # hass just sent be acknowledged, or Nagle's algorithm holds
                # the downlink back until the broker's delayed ACK (~40 ms).
                await asyncio.sleep(ACTION_GAP)
        await ws.close()
        return latencies

    async def restart(self, side: Side) -> None:
        """Restart hass (profiled with --py-spy)."""
        stop(side.hass)
        side.start_hass()
        await asyncio.sleep(1)  # py-spy needs a running interpreter
        profiler = self.profile(side, "restart")
        try:
            await self._restarted(side)
        finally:
            stop(profiler, 30, signal.SIGINT)

    async def _restarted(self, side: Side) -> None:
        """Time to the entries' load and to all entities (csocket: values)."""
        await wait_http(self.session, side, 600)
        ws = await WebSocket(self.session, side).connect()
        domain = "csocket" if side.kind == "csocket" else "mqtt"
        result = self.results[side.kind]
        deadline = time.monotonic() + 600
        # Setup timings are final once the entry is loaded.
        while time.monotonic() < deadline:
            entries = await ws.call({"type": "config_entries/get", "domain": domain})
            if entries and all(entry["state"] == "loaded" for entry in entries):
                break
            await asyncio.sleep(0.2)
        timings = {
            item["domain"]: item["seconds"]
            for item in await ws.call({"type": "integration/setup_info"})
        }
        result.load_s = timings.get(domain, float("nan"))
        await ws.close()
        # Home Assistant's figure subtracts what it counts as waits (for other
        # integrations' set-up, platform imports); with several entries set
        # up together those overlap the others' work. The wall time: the
        # integration's own phases plus its slowest entry's, waits included.
        raw = await self.bench_action(side, "setup_times", {"domain": domain})
        own = [
            sum(v for v in group["phases"].values() if v > 0) for group in raw["groups"]
        ]
        top = [
            sum(v for v in group["phases"].values() if v > 0)
            for group in raw["groups"]
            if group["group"] == "None"
        ]
        entries = [
            seconds
            for group, seconds in zip(raw["groups"], own, strict=True)
            if group["group"] != "None"
        ]
        result.load_wall_s = sum(top) + max(entries, default=0.0)
        # csocket restores every value; MQTT entities start unknown.
        restoring = side.kind == "csocket"
        restored = 0
        while time.monotonic() < deadline:
            found = await energies(self.session, side)
            restored = sum(
                index in found and (not restoring or found[index] == seq)
                for index, seq in side.last.items()
            )
            if restored == len(side.last):
                result.start_s = time.monotonic() - side.started_at
                break
            await asyncio.sleep(0.2)
        if not restoring:
            result.restored = "no (unknown until the next uplink)"
        elif restored == len(side.last):
            result.restored = f"all {restored}"
        else:
            result.restored = f"{restored} of {len(side.last)}"
            result.missing.append(f"{len(side.last) - restored} values not restored")

    async def measured_run(self, side: Side, run: int) -> None:
        """One run of one side: uplinks/s and CPU (the first one profiled)."""
        profiler = self.profile(side, "run") if run == 0 else None
        try:
            rate, cpu = await self.run_until_last(side, self.args.uplinks)
        finally:
            stop(profiler, 30, signal.SIGINT)
        result = self.results[side.kind]
        if profiler is not None:
            result.split = cpu_split(
                Path(self.args.py_spy) / f"{side.kind}-{side.sockets}-run.txt"
            )
        result.rates.append(rate)
        result.cpu_ms.append(cpu)
        print(
            f"  run {run + 1} {side.kind}: {rate:.0f} uplinks/s, "
            f"{cpu:.3f} ms CPU per uplink"
        )

    async def gc_report(self, side: Side) -> dict[str, Any]:
        """The garbage collections since the last report (bench_gc)."""
        return await self.bench_action(side, "report")

    async def bench_action(
        self, side: Side, action: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The response of one of bench_gc's actions."""
        ws = await WebSocket(self.session, side).connect()
        try:
            result = await ws.call(
                {
                    "type": "execute_script",
                    "sequence": [
                        {
                            "action": f"bench_gc.{action}",
                            "data": data or {},
                            "response_variable": "out",
                        },
                        {"stop": "done", "response_variable": "out"},
                    ],
                }
            )
        finally:
            await ws.close()
        return dict(result["response"])

    async def discover(self, side: Side) -> None:
        """Every socket reports once: csocket discovers them.

        MQTT subscribes to the reloaded entities' topics a moment after the
        reload, so the first uplinks may find no subscriber yet: then again.
        """
        for attempt in range(1, 6):
            try:
                rate, _ = await self.run_until_last(
                    side, side.sockets, 30 + side.sockets / 50
                )
                break
            except TimeoutError:
                if attempt == 5:
                    raise
        print(f"  {side.kind}: {side.sockets} sockets known ({rate:.0f}/s)")

    async def run(self) -> None:
        """Every phase, sides alternating."""
        args = self.args
        by_kind = {side.kind: side for side in self.sides}
        rss0 = {side.kind: rss_bytes(side.pid) for side in self.sides}
        template = by_kind["template"]
        (template.config / "mqtt.yaml").write_text(template.template_yaml())
        ws = await WebSocket(self.session, template).connect()
        await ws.call(
            {"type": "call_service", "domain": "mqtt", "service": "reload"},
            limit=1800,
        )
        await ws.close()
        for side in self.sides:
            await self.discover(side)
        for side in self.sides:
            await settle(side.pid)
            await self.gc_report(side)  # from here on
        for run in range(args.runs):
            order = self.sides if run % 2 == 0 else self.sides[::-1]
            for side in order:
                await self.measured_run(side, run)
        for side in self.sides:
            result = self.results[side.kind]
            rss = rss_bytes(side.pid)
            result.rss_mb = (rss0[side.kind] / 1e6, rss / 1e6)
            result.rss_per_socket_kib = (rss - rss0[side.kind]) / side.sockets / 1024
        for side in self.sides:
            self.results[side.kind].latency_ms = await self.latency(side)
            self.results[side.kind].action_ms = await self.actions(side)
            self.results[side.kind].gc = await self.gc_report(side)
            print(f"  {side.kind}: latencies measured")
        for side in self.sides:
            await self.restart(side)
            print(f"  {side.kind}: restarted, {self.results[side.kind].restored}")


def aiomqtt_messages(client: Any) -> Any:
    """The client's message iterator (one per client)."""
    return aiter(client.messages)


# --- Report ----------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# Where a side's hass CPU goes, from py-spy's stacks of the first run: the
# first category whose marker is in a sample's stack takes the sample.
SPLIT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("state writes (Home Assistant)", ("Entity._async_write_ha_state (",)),
    (
        "the integration's own code",
        ("CsocketHub.async_handle_message (", "MQTT._async_mqtt_on_message ("),
    ),
    ("MQTT client and event loop", ("BaseEventLoop.run_forever (",)),
    ("other threads", ("",)),
)


def cpu_split(path: Path) -> dict[str, float]:
    """Share of each SPLIT category in py-spy's raw (collapsed) stacks."""
    counts = dict.fromkeys((name for name, _ in SPLIT), 0)
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        for name, markers in SPLIT:
            if any(marker in stack for marker in markers):
                counts[name] += int(n)
                break
    total = sum(counts.values()) or 1
    return {name: count / total for name, count in counts.items()}


def gc_text(r: Results) -> str:
    """Full collections, the longest full pause and the total GC time."""
    if not r.gc:
        return "n/a"
    full = r.gc["full_ms"]
    longest = f"{max(full):.0f} ms" if full else "-"
    return f"{len(full)} / {longest} / {r.gc['seconds']:.2f} s"


def memory(r: Results) -> str:
    """RSS per socket and the process's RSS before and after."""
    before, after = r.rss_mb
    return f"{r.rss_per_socket_kib:.0f} KiB ({before:.0f} → {after:.0f} MB)"


def table(all_results: dict[int, dict[str, Results]]) -> str:
    """The markdown table of every socket count."""
    lines = [
        "| sockets | | csocket | HA MQTT + templates | csocket / templates |",
        "|---:|---|---:|---:|---:|",
    ]
    for sockets, results in all_results.items():
        c, t = results["csocket"], results["template"]

        def rates(r: Results) -> str:
            return ", ".join(f"{x:.0f}" for x in r.rates)

        med_c = statistics.median(c.rates) if c.rates else float("nan")
        med_t = statistics.median(t.rates) if t.rates else float("nan")
        cpu_c = statistics.median(c.cpu_ms) if c.cpu_ms else float("nan")
        cpu_t = statistics.median(t.cpu_ms) if t.cpu_ms else float("nan")
        rows = [
            (
                "uplinks/s (runs)",
                rates(c),
                rates(t),
                f"**{med_c / med_t:.2f}\u00d7** (median)",
            ),
            (
                "hass CPU per uplink (median)",
                f"{cpu_c:.3f} ms",
                f"{cpu_t:.3f} ms",
                f"{cpu_t / cpu_c:.2f}\u00d7 less CPU"
                if cpu_c <= cpu_t
                else f"{cpu_c / cpu_t:.2f}\u00d7 more CPU",
            ),
            (
                "publish → state p50 / p99 (100/s)",
                f"{pct(c.latency_ms, 50):.1f} / {pct(c.latency_ms, 99):.1f} ms",
                f"{pct(t.latency_ms, 50):.1f} / {pct(t.latency_ms, 99):.1f} ms",
                "",
            ),
            (
                "switch action → downlink p50 / p99",
                f"{pct(c.action_ms, 50):.1f} / {pct(c.action_ms, 99):.1f} ms",
                f"{pct(t.action_ms, 50):.1f} / {pct(t.action_ms, 99):.1f} ms",
                "",
            ),
            (
                "RSS per socket (no sockets → after runs)",
                memory(c),
                memory(t),
                "",
            ),
            (
                (
                    "set up after a restart: integration (Home Assistant's figure"
                    " / wall time) / all entities from hass start"
                ),
                (
                    f"{c.load_s:.2f} / {c.load_wall_s:.2f} s / {c.start_s:.1f} s"
                    " (with their values)"
                ),
                f"{t.load_s:.2f} / {t.load_wall_s:.2f} s (MQTT) / {t.start_s:.1f} s",
                "",
            ),
            (
                "garbage collections (runs, latency, actions): full / longest / all",
                gc_text(c),
                gc_text(t),
                "",
            ),
            *(
                (
                    f"hass CPU per uplink: {name} (py-spy)",
                    f"{c.split[name] * cpu_c:.3f} ms ({c.split[name]:.0%})",
                    f"{t.split[name] * cpu_t:.3f} ms ({t.split[name]:.0%})",
                    "",
                )
                for name, _ in SPLIT
                if c.split and t.split
            ),
            ("values restored after a restart", c.restored, t.restored, ""),
            (
                (
                    "last values missing / hass log errors "
                    "(and csocket warnings, set-up retries)"
                ),
                f"{len(c.missing)} / {len(c.errors)}",
                f"{len(t.missing)} / {len(t.errors)}",
                "",
            ),
        ]
        lines += [f"| {sockets} | {a} | {b} | {d} | {e} |" for a, b, d, e in rows]
    return "\n".join(lines)


def machine(hass: Path) -> str:
    """CPU model, cores, load, Python and Home Assistant versions."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ha = subprocess.run(
        [str(hass), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"Home Assistant {ha}; Mosquitto; load average at the end {load}"
    )


def sockets_per_entry(args: argparse.Namespace) -> int:
    """csocket's sockets per entry: as given, or the most the hass allows.

    Home Assistant 2026.7+ adds at most MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY
    enabled entities to a config entry. This script runs with the Python of
    the benchmarked hass, so its Home Assistant is the one imported here.
    """
    if args.sockets_per_entry is not None:
        return int(args.sockets_per_entry)
    from homeassistant.helpers import entity_platform  # noqa: PLC0415 - slow

    limit = getattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", None)
    if not isinstance(limit, int):
        return 0
    per_socket = load("bench_const", args.source / "const.py")
    return int(limit // per_socket.ENABLED_ENTITIES_PER_SOCKET)


# --- Main ------------------------------------------------------------------------


async def run_size(
    args: argparse.Namespace, tmp: Path, sockets: int, per_entry: int
) -> dict[str, Results]:
    """Every phase for one socket count, both sides; their processes stopped."""
    import aiohttp  # noqa: PLC0415 - Home Assistant's dependency, in .venv

    sides = [
        Side(
            kind, tmp / f"{sockets}-{kind}", sockets, args.source, args.hass, per_entry
        )
        for kind in ("csocket", "template")
    ]
    try:
        for side in sides:
            side.prepare()
            side.start_broker()
            side.start_hass()
        async with aiohttp.ClientSession() as session:
            for side in sides:
                await wait_http(session, side, 600)
                await onboard(session, side)
            # Let the start settle before the baseline memory.
            await asyncio.sleep(5)
            bench_ = Bench(session, sides, args)
            await bench_.run()
    except Exception:
        # The temporary directory goes with the run: show why hass stopped.
        for side in sides:
            log = side.config / "home-assistant.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"  {side.kind} hass log, last lines:", *tail, sep="\n    ")
        raise
    finally:
        for side in sides:
            side.stop_all()
    for side in sides:
        bench_.results[side.kind].errors = side.log_problems()
        for line in side.log_problems()[:5]:
            print(f"  {side.kind} log: {line}")
    return bench_.results


async def bench(args: argparse.Namespace) -> int:
    """Run every socket count; print (and write) the table after each."""
    counts = list(args.sockets) + ([10_000] if args.with_10000 else [])
    per_entry = sockets_per_entry(args)
    all_results: dict[int, dict[str, Results]] = {}
    failed_counts: list[int] = []
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    split = "one csocket entry for all sockets"
    if per_entry and max(counts) > per_entry:
        split = (
            f"csocket: one entry (and ChirpStack application) per {per_entry} sockets"
        )
        if args.sockets_per_entry is None:
            split += ", the most Home Assistant's entity limit allows"
    with tempfile.TemporaryDirectory(prefix="csocket-bench-") as tmp:
        for sockets in counts:
            print(f"{sockets} sockets:")
            try:
                all_results[sockets] = await run_size(
                    args, Path(tmp), sockets, per_entry
                )
            except Exception:  # noqa: BLE001 - reported; the other sizes still run
                traceback.print_exc()
                failed_counts.append(sockets)
            header = (
                f"Machine: {machine(args.hass)} (load average at the start {load}).\n"
                f"{args.uplinks} uplinks per run, {args.runs} runs, sides "
                f"alternating; latency at {LATENCY_RATE} uplinks/s for "
                f"{LATENCY_SECONDS} s; {ACTIONS} switch actions; {split}.\n"
            )
            if failed_counts:
                header += f"Failed (see the console): {failed_counts} sockets.\n"
            text = table(all_results)
            if args.output:
                # After every size: a later failure keeps what was measured.
                await asyncio.to_thread(
                    Path(args.output).write_text,
                    "# Benchmarks\n\nGenerated by `.venv/bin/python "
                    "scripts/bench_e2e.py "
                    + " ".join(sys.argv[1:])
                    + "`.\n\n"
                    + header
                    + "\n"
                    + text
                    + "\n",
                )
    print()
    print(header)
    print(text)
    failed = bool(failed_counts) or any(
        r.missing or r.errors for res in all_results.values() for r in res.values()
    )
    return 1 if failed else 0


def main() -> int:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    pub = sub.add_parser("publish", help="(internal) the publisher process")
    pub.add_argument("--port", type=int, required=True)
    pub.add_argument("--sockets", type=int, required=True)
    pub.add_argument("--first", type=int, required=True)
    pub.add_argument("--count", type=int, required=True)
    pub.add_argument("--rate", type=float, default=0)
    pub.add_argument("--source", required=True)
    pub.add_argument("--decoded", action="store_true")
    pub.add_argument("--per-entry", type=int, default=0)
    pub.add_argument("--f-cnt", required=True, help="JSON: socket -> last fCnt")
    parser.add_argument(
        "--sockets", type=int, nargs="+", default=[100, 1000], help="socket counts"
    )
    parser.add_argument(
        "--with-10000", action="store_true", help="also run 10 000 sockets (long)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per side")
    parser.add_argument("--uplinks", type=int, default=20_000, help="uplinks per run")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for a run"
    )
    parser.add_argument(
        "--source",
        default=str(ROOT / "custom_components" / "csocket"),
        help="the custom_components/csocket directory to run",
    )
    parser.add_argument(
        "--hass",
        type=Path,
        default=HASS,
        help="the hass to run; run this script with the Python of its venv",
    )
    parser.add_argument(
        "--sockets-per-entry",
        type=int,
        help="csocket's sockets per entry (0: one entry; default: the most "
        "Home Assistant's entity limit allows, one entry before 2026.7)",
    )
    parser.add_argument("--output", help="write the results to this markdown file")
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="profile each side's first run with py-spy into DIR (collapsed stacks)",
    )
    parser.add_argument(
        "--py-spy-bin", default=shutil.which("py-spy") or "py-spy", help="py-spy"
    )
    args = parser.parse_args()
    args.source = Path(args.source).resolve()
    args.hass = args.hass.absolute()
    if args.command == "publish":
        publisher(args)
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
