"""The command line: flags to Config, then run the simulator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import aiomqtt

from .config import (
    DEFAULT_FAIL_REASON,
    DEFAULT_FORMAT,
    DEFAULT_INTERVAL,
    DEFAULT_LATENCY,
    DEFAULT_SOCKETS,
    Config,
)
from .device import DEFAULT_F_PORT
from .radio import RX2_SPREADING_FACTOR, SPREADING_FACTORS, time_on_air
from .runner import Simulator, create_server
from .servers import DEFAULT_TENANT_ID, SERVERS

if TYPE_CHECKING:
    from collections.abc import Callable

_LOGGER: Final = logging.getLogger("csocket.simulate")
MAX_SOCKETS: Final = 0xFFFFFF
# csocket's on/off frame with an enquiry: 080100ff ff28ff.
SWITCH_FRAME_LENGTH: Final = 7


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def socket_numbers(text: str) -> frozenset[int]:
    """ "1-3,5" -> {1, 2, 3, 5}; "" is none."""
    numbers: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"socket numbers like 1-3,5 expected, got {text!r}"
            ) from None
        if not 1 <= low <= high:
            raise argparse.ArgumentTypeError(f"bad socket range {part!r}")
        numbers.update(range(low, high + 1))
    return frozenset(numbers)


def _hears(text: str) -> tuple[int, frozenset[int]]:
    gateway, sep, sockets = text.partition("=")
    if not sep or not gateway.strip().isdecimal() or int(gateway) < 1:
        raise argparse.ArgumentTypeError(
            f"GATEWAY=SOCKETS expected (e.g. 2=1-3,5), got {text!r}"
        )
    return int(gateway), socket_numbers(sockets)


def _airtime(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"auto or seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Play a LoRaWAN network server (ChirpStack v4, ChirpStack v3, The "
            "Things Stack v3 or a Milesight gateway, on MQTT) with simulated "
            "Milesight WS523 / "
            "IOT-CSOCKET smart plugs, their gateways and LoRaWAN airtime."
        )
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="MQTT broker host")
    add("--port", type=int, default=1883, help="MQTT broker port")
    add("--username", default=os.environ.get("CSOCKET_SIM_USERNAME"))
    add("--password", default=os.environ.get("CSOCKET_SIM_PASSWORD"))
    add(
        "--format",
        choices=tuple(SERVERS),
        default=DEFAULT_FORMAT,
        help="network server to play (default %(default)s)",
    )
    add(
        "--sockets",
        type=int,
        default=DEFAULT_SOCKETS,
        help="number of simulated sockets (default %(default)s)",
    )
    add(
        "--interval",
        type=_positive(float),
        default=DEFAULT_INTERVAL,
        help="seconds between periodic reports (default %(default)s; the device's "
        "factory setting is 1200)",
    )
    add(
        "--application-id",
        help="application: a UUID for ChirpStack v4, a number for v3, an id for "
        "The Things Stack (default: "
        + ", ".join(f"{k} {c.default_application_id}" for k, c in SERVERS.items())
        + ")",
    )
    add(
        "--tenant-id",
        default=DEFAULT_TENANT_ID,
        help="The Things Stack tenant (default %(default)s; '' for Open Source)",
    )
    add("--f-port", type=int, default=DEFAULT_F_PORT)
    add(
        "--latency",
        type=float,
        default=DEFAULT_LATENCY,
        help="seconds between receiving a downlink and the device's answer "
        "(default %(default)s)",
    )
    add(
        "--gateways",
        type=int,
        default=1,
        help="number of simulated gateways (default %(default)s)",
    )
    add(
        "--hears",
        type=_hears,
        action="append",
        default=[],
        metavar="GATEWAY=SOCKETS",
        help="sockets a gateway hears, e.g. 2=1-3,5 (repeatable; a gateway "
        "without --hears hears every socket; downlinks go through the first "
        "gateway that hears the socket)",
    )
    add(
        "--airtime",
        type=_airtime,
        default=None,
        metavar="auto|SECONDS",
        help="time on air of each downlink: auto computes it from the payload "
        f"length at --spreading-factor ({time_on_air(SWITCH_FRAME_LENGTH):.3f} s "
        "for the 7-byte on/off frame at SF12); 0 turns airtime off (default auto)",
    )
    add(
        "--spreading-factor",
        type=int,
        choices=SPREADING_FACTORS,
        default=RX2_SPREADING_FACTOR,
        help="RX2 spreading factor of Class C downlinks (default %(default)s: "
        "EU868; The Things Network uses 9)",
    )
    add(
        "--fail-downlinks",
        type=socket_numbers,
        default=frozenset(),
        metavar="SOCKETS",
        help="the network server fails every downlink to these sockets (e.g. "
        "3 or 1-2) when its turn comes, with --fail-reason",
    )
    add(
        "--fail-reason",
        default=DEFAULT_FAIL_REASON,
        help="reason of a simulated failure (default %(default)s)",
    )
    add("--qos", type=int, choices=(0, 1, 2), default=1)
    add("--seed", type=int, help="random seed, for repeatable values")
    add(
        "--state",
        type=Path,
        help="JSON file keeping the sockets' state and energy across restarts",
    )
    add(
        "--once",
        action="store_true",
        help="join, send the basic information and one report per socket, exit",
    )
    add("-v", "--verbose", action="store_true", help="log payloads")
    return parser


def parse_args(argv: list[str] | None = None) -> tuple[Config, bool]:
    """The configuration and whether to log at DEBUG."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not 1 <= args.sockets <= MAX_SOCKETS:
        parser.error(f"--sockets must be between 1 and {MAX_SOCKETS}")
    if args.gateways < 1:
        parser.error("--gateways must be at least 1")
    coverage = dict(args.hears)
    if unknown := sorted(set(coverage) - set(range(1, args.gateways + 1))):
        parser.error(f"--hears names gateway(s) {unknown} of {args.gateways}")
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
        format=args.format,
        tenant_id=args.tenant_id,
        gateways=args.gateways,
        coverage=coverage,
        airtime=args.airtime,
        spreading_factor=args.spreading_factor,
        fail_downlinks=args.fail_downlinks,
        fail_reason=args.fail_reason,
    )
    try:
        create_server(config, random.Random())
    except ValueError as err:
        parser.error(str(err))
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
