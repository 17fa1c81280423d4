"""The processes the browser test drives: Mosquitto, Home Assistant, the simulator.

Everything listens on free ports of 127.0.0.1 and lives in a temporary folder.
Home Assistant gets a configuration without `default_config` and with the
onboarding steps after the user already done, so nothing wants the internet
(the core_config step would set up met, radio_browser, google_translate and
shopping_list); the owner is created through the onboarding API, and the
test then logs in on the real login page.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO

from tests.broker import Broker, free_port

ROOT = Path(__file__).resolve().parents[2]
# How to run `hass`: scripts/test's venv (Home Assistant 2025.4), or the command in
# CSOCKET_UI_HASS (scripts/test-current: the newest release, in its chroot).
HASS = shlex.split(os.environ.get("CSOCKET_UI_HASS", "")) or [
    str(ROOT / ".venv" / "bin" / "hass")
]
SIMULATOR = ROOT / "scripts" / "simulate.py"
USERNAME = "tester"
PASSWORD = "csocket-ui-test"  # noqa: S105 - throwaway owner of a temporary instance

CONFIGURATION = """\
homeassistant:
  name: csocket UI test
  latitude: 52.52
  longitude: 13.40
  elevation: 34
  unit_system: metric
  time_zone: UTC
  country: DE
  currency: EUR
  language: en
{http}frontend:
config:
logger:
  default: warning
  logs:
    custom_components.csocket: debug
"""

# Where Home Assistant's address is set: up to 2026.7 configuration.yaml; from
# 2026.8 (its http/config.py) .storage/http, as Settings → System → Network
# saves it (YAML would be imported as a change to confirm in a dialog, which a
# new user never sees). The file below has 2026.11's format (version 3, SSL
# profiles); 2026.8 and 2026.9 stored version 2. Only 2025.4 and 2026.11 are
# tested here.
HTTP_YAML = "http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
HTTP_IN_STORAGE_SINCE = (2026, 8)


def http_storage(port: int) -> dict[str, object]:
    """.storage/http as the Network settings page saves loopback and `port`."""
    settings = {
        "server_host": ["127.0.0.1"],
        "server_port": port,
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "intermediate_v6",
        "use_x_frame_options": True,
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    return {
        "version": 3,
        "minor_version": 1,
        "key": "http",
        "data": {"stable": settings, "pending": None, "yaml_migration_done": True},
    }


# "… INFO Kettle socket (24e124148b000001): uplink fCnt 1, report: off, 229.0 V,
# 48213 Wh" (simulate.describe; "on" adds power, current and power factor).
_UPLINK = re.compile(
    r"^(?P<time>\S+ \S+) INFO (?P<name>.+?) \([0-9a-f]{16}\): uplink fCnt \d+, "
    r"[a-z ]+: (?P<state>on|off), (?:(?P<power>\d+) W, )?(?P<voltage>[\d.]+) V, "
    r"(?:.*?, )?(?P<energy>\d+) Wh$"
)


@dataclass(frozen=True)
class Reading:
    """One electrical report of a simulated socket, as the simulator logged it."""

    at: float  # epoch seconds
    on: bool
    power: int
    voltage: float
    energy: int


@dataclass
class Environment:
    """Mosquitto, Home Assistant and (once started) the socket simulator."""

    workdir: Path
    broker: Broker = field(init=False)
    port: int = field(default_factory=free_port)
    processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        """Prepare the broker (not started yet)."""
        self.broker = Broker(self.workdir / "mosquitto")

    @property
    def url(self) -> str:
        """Home Assistant's address."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        """Home Assistant's configuration folder."""
        return self.workdir / "config"

    @property
    def simulator_log(self) -> Path:
        """What the simulator prints: one line per uplink."""
        return self.workdir / "simulator.log"

    def start(self) -> None:
        """Broker, then Home Assistant with an owner account."""
        self.broker.start()
        storage = self.config / ".storage"
        storage.mkdir(parents=True)
        version = tuple(int(part) for part in self.version.split(".")[:2])
        http = ""
        if version >= HTTP_IN_STORAGE_SINCE:
            (storage / "http").write_text(
                json.dumps(http_storage(self.port)), encoding="utf-8"
            )
        else:
            http = HTTP_YAML.format(port=self.port)
        (self.config / "configuration.yaml").write_text(
            CONFIGURATION.format(http=http), encoding="utf-8"
        )
        (self.config / "custom_components").mkdir()
        (self.config / "custom_components" / "csocket").symlink_to(
            ROOT / "custom_components" / "csocket"
        )
        onboarding = {
            "version": 4,
            "minor_version": 1,
            "key": "onboarding",
            "data": {"done": ["core_config", "analytics", "integration"]},
        }
        (storage / "onboarding").write_text(json.dumps(onboarding), encoding="utf-8")
        self._spawn("hass", [*HASS, "-c", str(self.config)])
        self._wait_for_http()
        self._create_owner()

    @cached_property
    def version(self) -> str:
        """The version of the Home Assistant this environment runs."""
        return subprocess.run(  # noqa: S603 - the test's own hass command (HASS)
            [*HASS, "--version"], capture_output=True, check=True, text=True
        ).stdout.strip()

    def start_simulator(self) -> None:
        """Three simulated sockets behind a simulated ChirpStack v4.

        The latency between a downlink and the socket's answer is long enough
        to tell an optimistic switch from one that waits for the report.
        """
        self._spawn(
            "simulator",
            [
                sys.executable,
                str(SIMULATOR),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.broker.port),
                "--interval",
                "300",
                "--latency",
                "2",
                "--seed",
                "1",
            ],
            log=self.simulator_log,
        )

    def readings(self, name: str) -> list[Reading]:
        """Every electrical report the simulator sent for socket `name`."""
        if not self.simulator_log.exists():
            return []
        readings = []
        for line in self.simulator_log.read_text(encoding="utf-8").splitlines():
            match = _UPLINK.match(line)
            if match is None or match["name"] != name:
                continue
            logged = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f").replace(
                tzinfo=UTC
            )  # the simulator runs with TZ=UTC
            readings.append(
                Reading(
                    at=logged.timestamp(),
                    on=match["state"] == "on",
                    power=int(match["power"] or 0),
                    voltage=float(match["voltage"]),
                    energy=int(match["energy"]),
                )
            )
        return readings

    def wait_for_reading(self, name: str, timeout: float = 30) -> Reading:
        """The first report of socket `name` (the simulator may still be joining)."""
        deadline = time.monotonic() + timeout
        while not (readings := self.readings(name)):
            if time.monotonic() > deadline:
                raise AssertionError(f"the simulator sent no report for {name}")
            time.sleep(0.2)
        return readings[-1]

    def home_assistant_errors(self) -> list[str]:
        """ERROR lines of Home Assistant's log about csocket."""
        log = self.config / "home-assistant.log"
        if not log.exists():
            return []
        return [
            line
            for line in log.read_text(encoding="utf-8").splitlines()
            if " ERROR " in line and "csocket" in line
        ]

    def stop(self) -> None:
        """Stop everything this environment started, newest first."""
        for process, log in reversed(self.processes):
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.close()
        self.processes.clear()
        self.broker.stop()

    def _spawn(self, name: str, argv: list[str], log: Path | None = None) -> None:
        out = (log or self.workdir / f"{name}.log").open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TZ": "UTC"}
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
        self.processes.append((process, out))

    def _wait_for_http(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        hass = self.processes[0][0]
        while time.monotonic() < deadline:
            if hass.poll() is not None:
                raise RuntimeError(
                    "Home Assistant exited: "
                    + (self.workdir / "hass.log").read_text(encoding="utf-8")[-3000:]
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/onboarding", timeout=2):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError("Home Assistant did not start in time")

    def _create_owner(self) -> None:
        """The onboarding user step, as the onboarding page would do it."""
        body = json.dumps(
            {
                "client_id": f"{self.url}/",
                "name": "Tester",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"{self.url}/api/onboarding/users",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 200, response.read()
