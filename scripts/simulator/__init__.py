"""csocket's simulator: a LoRaWAN network server with simulated WS523 sockets.

A second, independent implementation of the WS523 protocol and of the network
servers' MQTT formats (stdlib and aiomqtt only, no Home Assistant), so the
tests can check the integration against it. Modules:

- protocol: the WS523 uplink encoder and downlink parser;
- device: one simulated socket's state and behaviour;
- life: when the sockets report, answer downlinks and run delay tasks;
- radio: LoRaWAN airtime, the gateways and their downlink queues;
- servers: the MQTT formats of ChirpStack v4, v3, The Things Stack v3 and
  the Milesight gateway's built-in server;
- runner: the network server on MQTT, driving the sockets;
- state, config, cli: the state file, the settings and the command line.
"""

from __future__ import annotations

from .cli import main, parse_args, socket_numbers
from .config import DEFAULT_APPLICATION_ID, Config
from .device import Answer, Appliance, SimulatedSocket, appliance_for
from .protocol import (
    Command,
    Reading,
    Settings,
    describe,
    encode_basic_info,
    encode_report,
    parse_downlink,
    record,
)
from .radio import Clock, Gateway, Radio, Transmission, gateway_id, time_on_air
from .runner import EUI_PREFIX, Simulator, create_server
from .servers import SERVERS

__all__ = [
    "DEFAULT_APPLICATION_ID",
    "EUI_PREFIX",
    "SERVERS",
    "Answer",
    "Appliance",
    "Clock",
    "Command",
    "Config",
    "Gateway",
    "Radio",
    "Reading",
    "Settings",
    "SimulatedSocket",
    "Simulator",
    "Transmission",
    "appliance_for",
    "create_server",
    "describe",
    "encode_basic_info",
    "encode_report",
    "gateway_id",
    "main",
    "parse_args",
    "parse_downlink",
    "record",
    "socket_numbers",
    "time_on_air",
]
