"""The demo simulator (scripts/simulate.py) speaks ChirpStack v4 and the WS523 protocol.

Its uplinks are read back with the integration's own ChirpStack v4 adapter and
codec, so the simulator and the integration check each other.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from types import ModuleType
from typing import Any

import pytest

from custom_components.csocket.codec import decode_uplink, encode_downlink
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    DownlinkResult,
    DownlinkStatus,
    Join,
    ServerKind,
    Uplink,
    create_adapter,
)

from .broker import Broker, Captured
from .simulator_support import load_simulator, run_once, running, wait_until

APP_ID = "9e1b7c1e-2f55-4b0c-8d3a-0c4f2a6b7d10"
EUIS = ["24e124148b000001", "24e124148b000002", "24e124148b000003"]


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    """scripts/simulate.py loaded as a module."""
    return load_simulator()


ADAPTER = create_adapter(ServerKind.CHIRPSTACK_V4, {CONF_APPLICATION_ID: APP_ID})


def parse(message: tuple[str, bytes]) -> Any:
    """A captured message as the integration's adapter sees it."""
    return ADAPTER.parse(*message)


def uplinks(captured: Captured, dev_eui: str | None = None) -> list[Uplink]:
    events = [parse(m) for m in captured.messages]
    return [
        e
        for e in events
        if isinstance(e, Uplink) and dev_eui in (None, e.device.dev_eui)
    ]


async def test_once_joins_and_reports(broker: Broker) -> None:
    """`--once`: join, basic information, one report per socket, then exit."""
    async with broker.capture("application/#") as captured:
        output = await run_once(broker, "--application-id", APP_ID)
        await captured.wait_for(9)

    topics = [topic for topic, _ in captured.messages]
    for eui in EUIS:
        base = f"application/{APP_ID}/device/{eui}/event/"
        assert [t for t in topics if t.startswith(base)] == [
            base + "join",
            base + "up",
            base + "up",
        ]
    events = [parse(m) for m in captured.messages]
    assert sum(isinstance(e, Join) for e in events) == 3
    assert "joined" in output

    serials = set()
    for eui in EUIS:
        info, report = uplinks(captured, eui)
        assert (info.f_cnt, report.f_cnt) == (0, 1)
        assert info.f_port == report.f_port == 85
        assert info.rssi is not None
        assert info.snr is not None
        assert info.device.application_id == APP_ID
        basic = decode_uplink(info.payload)
        assert "unparsed" not in basic
        assert basic["protocol_version"] == 1
        assert basic["hardware_version"] == "v1.0"
        assert basic["firmware_version"] == "v1.3"
        assert basic["overcurrent_alarm"] == {"enabled": True, "threshold": 10}
        assert basic["overcurrent_protection"] == {"enabled": True, "threshold": 10}
        assert basic["button_lock"] is True
        assert basic["power_consumption_enabled"] is True
        assert len(basic["sn"]) == 16
        serials.add(basic["sn"])

        values = decode_uplink(report.payload)
        assert list(values) == [
            "socket_status",
            "socket_changed",
            "power_factor",
            "current",
            "voltage",
            "power_consumption",
            "active_power",
        ]
        assert values["socket_changed"] is False
        assert 225 <= values["voltage"] <= 235
        assert values["power_consumption"] > 0
    assert len(serials) == 3

    names = {u.device.dev_eui: u.device.device_name for u in uplinks(captured)}
    assert names == {
        EUIS[0]: "Kettle socket",
        EUIS[1]: "Heater socket",
        EUIS[2]: "Desk lamp socket",
    }
    kettle = decode_uplink(uplinks(captured, EUIS[0])[1].payload)
    assert kettle["socket_status"] is False
    assert kettle["active_power"] == 0
    assert kettle["current"] == 0
    heater = decode_uplink(uplinks(captured, EUIS[1])[1].payload)
    assert heater["socket_status"] is True
    assert 1400 <= heater["active_power"] <= 1600
    # The current follows from the power, the voltage and the power factor.
    expected = heater["active_power"] / (
        heater["voltage"] * heater["power_factor"] / 100
    )
    assert heater["current"] == pytest.approx(expected * 1000, rel=0.01)


def downlink(dev_eui: str, data: bytes, **extra: Any) -> tuple[str, str, bytes]:
    """Topic, queue item id and JSON of a ChirpStack v4 downlink command."""
    item = str(uuid.uuid4())
    body = {
        "id": item,
        "devEui": dev_eui,
        "confirmed": False,
        "fPort": 85,
        "data": base64.b64encode(data).decode(),
        **extra,
    }
    topic = f"application/{APP_ID}/device/{dev_eui}/command/down"
    return topic, item, json.dumps(body).encode()


def txack_for(captured: Captured, item: str) -> DownlinkResult | None:
    for message in captured.messages:
        event = parse(message)
        if isinstance(event, DownlinkResult) and event.correlation_id == item:
            return event
    return None


def new_values(captured: Captured, dev_eui: str, since: int) -> list[dict[str, Any]]:
    """Decoded uplinks of one socket after the first `since` messages."""
    later = Captured(messages=captured.messages[since:])
    return [decode_uplink(u.payload) for u in uplinks(later, dev_eui)]


async def test_switch_off_and_enquire(sim: ModuleType, broker: Broker) -> None:
    """`080000ff ff28ff`: txack with the same id, then a report saying off."""
    heater = EUIS[1]
    async with (
        broker.capture("application/#") as captured,
        running(sim, broker, application_id=APP_ID),
    ):
        await wait_until(captured, lambda: len(uplinks(captured)) >= 6)
        since = len(captured.messages)
        topic, item, body = downlink(heater, bytes.fromhex("080000ffff28ff"))
        await broker.publish(topic, body)

        result = await wait_until(captured, lambda: txack_for(captured, item))
        assert result.status is DownlinkStatus.SENT
        assert result.dev_eui == heater
        reports = await wait_until(
            captured, lambda: new_values(captured, heater, since)
        )
    report = reports[0]
    assert report["socket_status"] is False
    assert report["socket_changed"] is True
    assert report["active_power"] == 0
    assert report["current"] == 0
    # The txack comes before the device's answer, and only the heater answers.
    events = [parse(m) for m in captured.messages[since:]]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("DownlinkResult") < kinds.index("Uplink")
    assert {u.device.dev_eui for u in uplinks(Captured(captured.messages[since:]))} == {
        heater
    }


async def test_settings_are_echoed_and_applied(sim: ModuleType, broker: Broker) -> None:
    """Settings echo, enquiry, basic information and a delay task that fires."""
    kettle = EUIS[0]
    async with (
        broker.capture("application/#") as captured,
        running(sim, broker, application_id=APP_ID) as simulator,
    ):
        await wait_until(captured, lambda: len(uplinks(captured)) >= 6)
        since = len(captured.messages)
        data = encode_downlink(
            {
                "led_enabled": False,
                "overcurrent_alarm": {"enabled": True, "threshold": 15},
                "overcurrent_protection": {"enabled": False, "threshold": 0},
                "button_lock": False,
                "power_consumption_enabled": True,
                "report_interval": 600,
                "reset_power_consumption": True,
                "report_attribute": True,
                "delay_task": {"delay": 1, "socket_status": True},
            }
        )
        topic, item, body = downlink(kettle, data, confirmed=True)
        await broker.publish(topic, body)
        # echo, basic information, then the delay task's change report
        frames = await wait_until(
            captured,
            lambda: (found := new_values(captured, kettle, since))[2:] and found,
        )
        assert txack_for(captured, item) is not None

    echo, info, change = frames[:3]
    assert echo == {
        "led_enabled": False,
        "overcurrent_alarm": {"enabled": True, "threshold": 15},
        "overcurrent_protection": {"enabled": False, "threshold": 0},
        "button_lock": False,
        "button_lock_time": 0,
        "power_consumption_enabled": True,
        "report_interval": 600,
    }
    assert list(echo) == [  # the device echoes in the downlink's order
        "led_enabled",
        "overcurrent_alarm",
        "overcurrent_protection",
        "button_lock",
        "button_lock_time",
        "power_consumption_enabled",
        "report_interval",
    ]
    assert info["overcurrent_alarm"] == {"enabled": True, "threshold": 15}
    assert info["overcurrent_protection"] == {"enabled": False, "threshold": 0}
    assert info["button_lock"] is False
    assert change["socket_status"] is True
    assert change["socket_changed"] is True
    assert 1800 <= change["active_power"] <= 2200
    assert change["power_consumption"] < 5  # counter reset a second ago
    socket = simulator.sockets[kettle]
    assert socket.report_interval == 600
    assert socket.settings.led is False
    # confirmed downlink: ChirpStack also publishes an ack event
    acks = [parse(m) for m in captured.messages if m[0].endswith("/event/ack")]
    assert [(a.status, a.correlation_id) for a in acks] == [
        (DownlinkStatus.ACKNOWLEDGED, item)
    ]


async def test_rejects_what_chirpstack_rejects(sim: ModuleType, broker: Broker) -> None:
    """A devEui that differs from the topic, or garbage, gets no txack."""
    async with (
        broker.capture("application/#") as captured,
        running(sim, broker, application_id=APP_ID),
    ):
        await wait_until(captured, lambda: len(uplinks(captured)) >= 6)
        topic, bad_item, body = downlink(EUIS[0], b"\xff\x28\xff")
        await broker.publish(topic.replace(EUIS[0], EUIS[1]), body)
        await broker.publish(topic, b"not json")
        # An unknown command stops parsing; what came before still applies.
        topic, item, body = downlink(EUIS[0], bytes.fromhex("ff28ffee01"))
        await broker.publish(topic, body)
        await wait_until(captured, lambda: txack_for(captured, item))
        await wait_until(captured, lambda: len(uplinks(captured, EUIS[0])) >= 3)
    assert txack_for(captured, bad_item) is None


def test_parses_every_command_of_the_codec(sim: ModuleType) -> None:
    """Every command the integration can encode is understood by the simulator."""
    commands = {
        "socket_status": True,
        "report_interval": 1200,
        "reboot": True,
        "delay_task": {"delay": 90, "socket_status": False},
        "delete_delay_task": True,
        "overcurrent_alarm": {"enabled": True, "threshold": 12},
        "button_lock": True,
        "power_consumption_enabled": False,
        "reset_power_consumption": True,
        "report_status": True,
        "report_attribute": True,
        "led_enabled": True,
        "overcurrent_protection": {"enabled": True, "threshold": 16},
    }
    parsed, rest = sim.parse_downlink(encode_downlink(commands))
    assert rest == b""
    names = [c.name for c in parsed]
    assert names == [
        "socket",
        *list(commands)[1:],
    ]
    appliance = sim.appliance_for(1)
    socket = sim.SimulatedSocket(
        1,
        EUIS[0],
        appliance,
        random.Random(1),  # noqa: S311
        report_interval=60,
    )
    answer = socket.apply(parsed)
    assert answer.change_report
    assert answer.report
    assert answer.basic_info
    assert answer.reboot
    assert answer.delay_task is None  # deleted by the next command
    assert answer.delete_delay_task
    assert socket.settings.on is True
    assert socket.settings.protection_threshold == 16
    assert socket.settings.recording is False
    assert socket.settings.energy_wh == 0
    assert decode_uplink(socket.basic_info())["button_lock"] is True


def test_encoder_matches_the_user_guide(sim: ModuleType) -> None:
    """The simulator's encoder reproduces the user guide's example report."""
    reading = sim.Reading(
        on=True, voltage=229.3, power=1, current=18, power_factor=41, energy=5
    )
    assert (
        sim.encode_report(reading).hex()
        == "08700105812907c912000374f508068305000000048001000000"
    )
    settings = sim.Settings(on=True, energy_wh=0)
    assert sim.encode_basic_info("6148b13783621055", settings).hex() == (
        "ff0101ff166148b13783621055ff090100ff0a0103ff24010aff30010aff250080ff2601"
    )
