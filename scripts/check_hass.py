#!/usr/bin/env python3
"""Run csocket in a real Home Assistant and check it from the outside.

Starts Mosquitto, Home Assistant (with a csocket entry for that broker, in a
temporary configuration) and the simulated ChirpStack v4 with two sockets, all
on free ports of 127.0.0.1; then, over Home Assistant's REST API with the
owner created through onboarding (as on a new installation):

* the csocket entry sets up (state ``loaded``);
* each simulated socket gets its entities, the outlet switch with a state;
* a switch round trip: ``switch.turn_off``/``turn_on`` reach the simulator as
  downlinks and the switch follows the device's confirming report;
* a restart: the stop writes csocket's file marked clean, and every switch
  and energy total comes back before any uplink (the simulator is stopped);
* a crash: the first change after that start is saved within 10 s without
  the mark; after a SIGKILL and a start the switches come back, the energy
  totals stay unknown until the next report, which brings them;
* removing the entry (which ends csocket's persistent MQTT session) works;
* in the log of every run, no WARNING or ERROR from csocket (its loggers,
  aiomqtt/paho, or a traceback through its code). Other warnings and errors
  are listed for information.

Run by scripts/test-current with the Home Assistant 2026.11 venv; it works with
any venv that has ``homeassistant`` and csocket's requirements. Exits non-zero
with a message on the first failure and prints the end of the logs.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

# Only csocket's own modules: they need Home Assistant, which this venv has.
from custom_components.csocket.const import (  # noqa: E402 - after sys.path
    CONF_CLIENT_ID,
    CONF_SERVER,
    CONF_TRANSPORT,
    DOMAIN,
    TRANSPORT_BROKER,
)
from custom_components.csocket.network_servers import (  # noqa: E402 - same
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    ServerKind,
)

SOCKETS = 2
START_TIMEOUT = 240.0  # first start of a fresh configuration on 2 busy cores
STEP_TIMEOUT = 60.0
USERNAME = "csocket-check"
# Home Assistant warns once for every custom integration; that one is expected.
EXPECTED = re.compile(r"We found a custom integration csocket ")
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* (?P<level>[A-Z]+) \([^)]*\) "
    r"\[(?P<logger>[^\]]+)\] (?P<message>.*)$"
)
# Records that are csocket's: its loggers, its MQTT client (HA's own MQTT
# integration is not set up here), a traceback through its code, or Home
# Assistant naming it (e.g. "Detected that custom integration 'csocket' ..."), but
# not paths like the venv's /opt/csocket/.
OURS = re.compile(
    r"custom_components[./]csocket|(?<![/\w-])csocket(?![/\w-])|aiomqtt|paho"
)


class CheckFailedError(Exception):
    """A check did not pass."""


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(what: str, probe: Callable[[], Any], timeout: float = STEP_TIMEOUT) -> Any:
    """Poll `probe` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if result := probe():
                return result
        except (OSError, CheckFailedError) as err:
            last_error = err
        time.sleep(0.5)
    detail = f" (last error: {last_error})" if last_error else ""
    raise CheckFailedError(
        f"timed out after {timeout:.0f} s waiting for {what}{detail}"
    )


class Api:
    """Home Assistant's HTTP API on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        """Not logged in yet."""
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        timeout: float = STEP_TIMEOUT,
    ) -> Any:
        """Send a request; the JSON (or text) answer, or CheckFailedError."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            raise CheckFailedError(
                f"{method} {path}: HTTP {err.code} {err.read().decode()[:300]}"
            ) from err
        try:
            return json.loads(text)
        except ValueError:
            return text

    def onboard(self) -> None:
        """Create the owner like the first visit of the frontend; keep a token.

        Onboarding's user step is the public way a new installation gets its
        first user; it answers with an authorization code for the token endpoint.
        """
        client_id = self.base + "/"
        result = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": "csocket check",
                "username": USERNAME,
                "password": secrets.token_urlsafe(16),
                "language": "en",
            },
        )
        tokens = self.request(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": result["auth_code"],
                "client_id": client_id,
            },
        )
        self.token = tokens["access_token"]

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state, by entity id."""
        return {
            state["entity_id"]: state for state in self.request("GET", "/api/states")
        }

    def csocket_entities(self) -> list[str]:
        """The entity ids csocket registered (the entity registry's view)."""
        text = self.request(
            "POST",
            "/api/template",
            {"template": "{{ integration_entities('csocket') | list | to_json }}"},
        )
        return list(text if isinstance(text, list) else json.loads(text))


class Stack:
    """Mosquitto, Home Assistant and the simulator, in one working directory."""

    def __init__(self, workdir: Path, hass: str) -> None:
        """Choose ports; nothing runs yet."""
        self.workdir = workdir
        self.config = workdir / "config"
        self.hass_bin = hass
        self.broker_port = free_port()
        self.http_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> None:
        """Start a process with its output in workdir/NAME.out."""
        out = (self.workdir / f"{name}.out").open("wb")
        self.processes[name] = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self, name: str) -> None:
        """Fail if the process has exited."""
        code = self.processes[name].poll()
        if code is not None:
            raise CheckFailedError(f"{name} exited with status {code}")

    def stop(self, name: str, timeout: float = 90) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        process = self.processes.pop(name, None)
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                print(f"    {name} did not stop in {timeout:.0f} s: killed")
        return process.returncode

    def crash(self, name: str) -> None:
        """SIGKILL: nothing is written on the way out."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def keep_log(self) -> Path:
        """A copy of Home Assistant's log (each start moves it to .log.1)."""
        runs = len(list(self.workdir.glob("home-assistant-run*.log")))
        copy = self.workdir / f"home-assistant-run{runs + 1}.log"
        shutil.copyfile(self.workdir / "home-assistant.log", copy)
        return copy

    def stop_all(self) -> None:
        """Stop whatever still runs, the broker last."""
        for name in ("simulator", "hass", "mosquitto"):
            self.stop(name)

    def start_broker(self) -> None:
        """Mosquitto with anonymous access on 127.0.0.1 only."""
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.broker_port} 127.0.0.1\nallow_anonymous true\n"
            "persistence false\nlog_dest stdout\nconnection_messages true\n"
        )
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.start("mosquitto", [mosquitto, "-c", str(conf)])

        def listening() -> bool:
            self.alive("mosquitto")
            with socket.create_connection(("127.0.0.1", self.broker_port), 1):
                return True

        wait("Mosquitto to listen", listening, 20)

    def write_config(self) -> None:
        """configuration.yaml, csocket linked in and the csocket entry."""
        (self.config / "custom_components").mkdir(parents=True)
        (self.config / "custom_components" / DOMAIN).symlink_to(
            PROJECT / "custom_components" / DOMAIN
        )
        (self.config / "configuration.yaml").write_text(
            f"""\
http:
  server_host: 127.0.0.1
  server_port: {self.http_port}
logger:
  default: info
  logs:
    custom_components.csocket: debug
"""
        )
        self.write_entry()

    def write_entry(self) -> None:
        """The entry the config flow creates for this broker (ChirpStack v4, all apps).

        Written to storage before the first start, in the oldest supported format
        (Home Assistant migrates it), so the check does not depend on the steps of
        the config flow; the suite covers the flow itself.
        """
        now = datetime.now(UTC).isoformat()
        data = {
            CONF_SERVER: ServerKind.CHIRPSTACK_V4.value,
            CONF_TRANSPORT: TRANSPORT_BROKER,
            "host": "127.0.0.1",
            "port": self.broker_port,
            CONF_CLIENT_ID: f"csocket-check-{secrets.token_hex(4)}",
            CONF_APPLICATION_ID: "",
            CONF_F_PORT: 85,
        }
        entry: dict[str, Any] = {
            "created_at": now,
            "modified_at": now,
            "data": data,
            "discovery_keys": {},
            "disabled_by": None,
            "domain": DOMAIN,
            "entry_id": secrets.token_hex(13).upper(),
            "minor_version": 1,
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": "csocket check",
            "unique_id": f"127.0.0.1:{self.broker_port}/chirpstack_v4/+",
            "version": 1,
        }
        storage = self.config / ".storage"
        storage.mkdir(exist_ok=True)
        (storage / "core.config_entries").write_text(
            json.dumps(
                {
                    "version": 1,
                    "minor_version": 5,
                    "key": "core.config_entries",
                    "data": {"entries": [entry]},
                }
            )
        )

    def start_hass(self) -> None:
        """Home Assistant with the log in workdir/home-assistant.log."""
        self.start(
            "hass",
            [
                self.hass_bin,
                *("-c", str(self.config), "--log-no-color"),
                *("--log-file", str(self.workdir / "home-assistant.log")),
            ],
        )

    def start_simulator(self) -> None:
        """The simulated ChirpStack v4 with SOCKETS sockets."""
        self.start(
            "simulator",
            [
                sys.executable,
                str(PROJECT / "scripts" / "simulate.py"),
                *("--port", str(self.broker_port), "--sockets", str(SOCKETS)),
                *("--interval", "30", "--latency", "0.2", "--seed", "1", "-v"),
            ],
        )


def check(stack: Stack) -> None:
    """Every check of the module docstring, in order."""
    api = Api(stack.http_port)
    t0 = time.monotonic()

    def http_up() -> bool:
        stack.alive("hass")
        return isinstance(api.request("GET", "/api/onboarding", timeout=5), list)

    wait("Home Assistant's HTTP server", http_up, START_TIMEOUT)
    api.onboard()
    version = api.request("GET", "/api/config")["version"]
    print(f"    Home Assistant {version} up in {time.monotonic() - t0:.0f} s")

    entry_id = wait_loaded(stack, api)
    print("    csocket entry loaded")

    stack.start_simulator()

    def outlets() -> list[str]:
        stack.alive("simulator")
        states = api.states()
        ours = api.csocket_entities()
        found = [
            entity_id
            for entity_id in ours
            if entity_id.startswith("switch.")
            and states.get(entity_id, {}).get("attributes", {}).get("device_class")
            == "outlet"
            and states[entity_id]["state"] in ("on", "off")
        ]
        return sorted(found) if len(found) == SOCKETS else []

    switches = wait(f"{SOCKETS} outlet switches with a state", outlets)
    ours = api.csocket_entities()
    per_domain = Counter(entity_id.split(".", 1)[0] for entity_id in ours)
    print(
        f"    {len(ours)} csocket entities: "
        + ", ".join(f"{count} {domain}" for domain, count in sorted(per_domain.items()))
    )
    for domain in ("switch", "sensor", "binary_sensor", "button", "number", "event"):
        if not per_domain[domain]:
            raise CheckFailedError(f"csocket created no {domain} entity")

    switch = switches[0]
    first = api.states()[switch]["state"]
    for target in [("off" if first == "on" else "on"), first]:
        t1 = time.monotonic()
        api.request(
            "POST", f"/api/services/switch/turn_{target}", {"entity_id": switch}
        )
        wait(f"{switch} to report {target}", _state_is(api, switch, target))
        print(f"    {switch} {target} (confirmed in {time.monotonic() - t1:.1f} s)")

    check_restarts(stack, api, entry_id, switches)

    result = api.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")
    print(f"    csocket entry removed ({result})")


def wait_loaded(stack: Stack, api: Api) -> str:
    """Wait for Home Assistant and the csocket entry; its entry id."""

    def http_up() -> bool:
        stack.alive("hass")
        return isinstance(api.request("GET", "/api/config", timeout=5), dict)

    def entry_state() -> str | None:
        stack.alive("hass")
        entries = api.request(
            "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
        )
        if len(entries) != 1:
            raise CheckFailedError(f"expected one csocket entry, got {entries}")
        state = entries[0]["state"]
        if state in ("setup_error", "setup_retry", "migration_error", "failed_unload"):
            raise CheckFailedError(f"csocket entry {state}: {entries[0].get('reason')}")
        return entries[0]["entry_id"] if state == "loaded" else None

    wait("Home Assistant's API", http_up, START_TIMEOUT)
    return str(wait("the csocket entry to load", entry_state, STEP_TIMEOUT))


def check_restarts(stack: Stack, api: Api, entry_id: str, switches: list[str]) -> None:
    """What a stop keeps, and what a crash keeps (module docstring)."""
    saved_file = stack.config / ".storage" / f"{DOMAIN}.{entry_id}"

    def saved() -> dict[str, Any]:
        data: dict[str, Any] = json.loads(saved_file.read_text())["data"]
        return data

    def shown(entities: list[str]) -> dict[str, str]:
        states = api.states()
        return {entity_id: states[entity_id]["state"] for entity_id in entities}

    energy = [
        e
        for e in api.csocket_entities()
        if e.startswith("sensor.") and e.endswith("_energy")
    ]
    if len(energy) != SOCKETS:
        raise CheckFailedError(f"expected {SOCKETS} energy sensors, got {energy}")

    def all_known() -> bool:
        return "unknown" not in shown(energy).values()

    wait("every energy total", all_known)
    stack.stop("simulator")  # no uplink from here on: what shows is restored
    before = shown(switches + energy)
    stack.stop("hass")
    stack.keep_log()
    if saved().get("clean") is not True or len(saved()["devices"]) != SOCKETS:
        raise CheckFailedError(f"the stop did not write a clean file: {saved()}")
    stack.start_hass()
    wait_loaded(stack, api)
    if (after := shown(switches + energy)) != before:
        raise CheckFailedError(f"restored after a stop: {after}, before: {before}")
    print(f"    restart: {len(before)} switch and energy states restored")

    stack.start_simulator()
    wait("the first change after the start to be saved", lambda: "clean" not in saved())
    stack.stop("simulator")
    stack.crash("hass")
    stack.keep_log()
    stack.start_hass()
    wait_loaded(stack, api)
    after = shown(switches + energy)
    if {after[e] for e in energy} != {"unknown"} or not all(
        after[s] in ("on", "off") for s in switches
    ):
        raise CheckFailedError(f"after a crash: {after}")
    stack.start_simulator()
    wait("the energy totals of the next report", all_known)
    print("    crash: switches restored, energy totals unknown until the next report")


def _state_is(api: Api, entity_id: str, state: str) -> Callable[[], bool]:
    return lambda: bool(api.states()[entity_id]["state"] == state)


def check_log(path: Path) -> None:
    """Fail on csocket's warnings and errors; list everyone else's."""
    records: list[dict[str, str]] = []
    for line in path.read_text(errors="replace").splitlines():
        if match := LOG_LINE.match(line):
            records.append(match.groupdict() | {"text": line})
        elif records:  # a traceback or a multi-line message
            records[-1]["text"] += "\n" + line
    problems = [r for r in records if r["level"] in ("WARNING", "ERROR", "CRITICAL")]
    ours = [
        r
        for r in problems
        if OURS.search(r["logger"] + " " + r["text"])
        and not (r["logger"] == "homeassistant.loader" and EXPECTED.match(r["message"]))
    ]
    others = [r for r in problems if r not in ours and not EXPECTED.match(r["message"])]
    csocket_lines = sum(
        r["logger"].startswith("custom_components.csocket") for r in records
    )
    print(f"    log: {len(records)} records, {csocket_lines} from csocket")
    if not csocket_lines:  # csocket logs at debug level here: the format changed?
        raise CheckFailedError(f"no csocket record understood in {path}")
    for record in others:
        level, logger = record["level"], record["logger"]
        print(f"    (not csocket) {level} [{logger}] {record['message']}")
    if ours:
        for record in ours:
            print(record["text"])
        raise CheckFailedError(f"{len(ours)} warning/error record(s) from csocket")
    print("    no warning or error from csocket")


def main() -> int:
    """Run the stack, the checks and the log check; 0 when all pass."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hass", default="hass", help="the hass executable")
    parser.add_argument(
        "--keep", action="store_true", help="keep the working directory"
    )
    parser.add_argument(
        "--tmp", help="where to make the working directory (kept on failure)"
    )
    args = parser.parse_args()
    if args.tmp:
        Path(args.tmp).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="csocket-hass-", dir=args.tmp))
    stack = Stack(workdir, args.hass)
    ok = False
    # Stopped from outside (Ctrl-C, CI timeout): still stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        stack.start_broker()
        stack.write_config()
        stack.start_hass()
        check(stack)
        code = stack.stop("hass")
        print(f"    Home Assistant stopped (exit status {code})")
        stack.keep_log()
        for log in sorted(workdir.glob("home-assistant-run*.log")):
            print(f"    {log.name}:")
            check_log(log)
        ok = True
    except (CheckFailedError, OSError) as err:
        print(f"FAILED: {err}", file=sys.stderr)
    finally:
        stack.stop_all()
        if not ok:
            for name in (
                "home-assistant.log",
                "hass.out",
                "simulator.out",
                "mosquitto.out",
            ):
                if (log := workdir / name).exists():
                    tail = log.read_text(errors="replace").splitlines()[-40:]
                    print(f"--- end of {name} ---", *tail, sep="\n", file=sys.stderr)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"    working directory: {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
