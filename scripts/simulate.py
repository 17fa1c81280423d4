#!/usr/bin/env python3
"""Simulate a LoRaWAN network server with Milesight WS523 smart plugs.

The simulator connects to an MQTT broker and plays a network server's MQTT
integration (ChirpStack v4 by default; ChirpStack v3, The Things Stack v3 or
a Milesight gateway's built-in server with ``--format``) for simulated WS523 /
IOT-CSOCKET sockets behind simulated gateways:

* on start every socket joins: a join event, then the basic-information frame
  (versions, SN, thresholds, button lock, energy recording) and a first
  electrical report;
* then an electrical report every ``--interval`` seconds, with plausible
  voltage, power, current, power factor and a growing energy counter;
* it takes downlink commands, queues them per gateway and transmits one at a
  time with LoRaWAN airtime (``--airtime``), reports each when it leaves the
  gateway (ChirpStack ``txack``, The Things Stack ``down/sent``), and loses
  the uplinks a gateway would miss while it transmits;
* the sockets behave like the device: change reports after switching, an
  immediate report on ``ff28``, echoes of settings, the basic information on
  ``ff2c`` and after a reboot, delay tasks that fire, overcurrent protection.

Run it with ``.venv/bin/python scripts/simulate.py --help``. It needs only
aiomqtt (no Home Assistant); the code is the ``simulator`` package next to
this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# scripts/ is not a package: make simulator/ importable however this file runs
# (as a script, or loaded by path in the tests).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from simulator import *  # noqa: E402, F403 - the entry point re-exports the package
from simulator import main  # noqa: E402 - after the path setup above

if __name__ == "__main__":
    sys.exit(main())
