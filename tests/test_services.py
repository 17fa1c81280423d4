"""End-to-end tests of the csocket actions against a real Mosquitto broker.

Each test sets up a config entry on the suite's broker, lets a socket report so
that it exists, calls actions with blocking=True and checks the exact downlink
the integration published (topic, JSON, bytes) and the entity states that follow.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import voluptuous as vol
import yaml
from homeassistant.config_entries import ConfigEntryState
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import selector
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.csocket import service_schemas
from custom_components.csocket.const import DOMAIN
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_TENANT_ID,
    ServerKind,
)

from .common import (
    APP_ID,
    BASIC_INFO,
    DEV_EUI,
    DEV_EUI_2,
    REPORT,
    cs4_uplink,
    make_entry,
    messages_before_sentinel,
    registry_device,
    send_uplink,
    setup_entry,
    wait_for,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .broker import Broker, Captured

COMPONENT = Path(__file__).parent.parent / "custom_components" / DOMAIN
CS4_DOWN = "application/+/device/+/command/down"
DOWN_TOPIC = f"application/{APP_ID}/device/{DEV_EUI}/command/down"
DOWN_TOPIC_2 = f"application/{APP_ID}/device/{DEV_EUI_2}/command/down"
NAME = "kettle_socket"


async def _socket(
    hass: HomeAssistant,
    broker: Broker,
    dev_eui: str = DEV_EUI,
    name: str = "Kettle socket",
) -> str:
    """Let a socket report (basic info + electrical status); return its device id."""
    for f_cnt, payload in enumerate((BASIC_INFO, REPORT), start=1):
        await send_uplink(
            hass, broker, *cs4_uplink(payload, dev_eui=dev_eui, f_cnt=f_cnt, name=name)
        )
    device = registry_device(hass, dev_eui)
    assert device is not None
    return device.id


@pytest.fixture
async def entry(hass: HomeAssistant, broker: Broker) -> Any:
    """A loaded ChirpStack v4 entry; unloaded again after the test."""
    config_entry = make_entry(broker)
    await setup_entry(hass, config_entry)
    yield config_entry
    if config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


@pytest.fixture
async def device_id(hass: HomeAssistant, broker: Broker, entry: MockConfigEntry) -> str:
    """The registry id of a socket that has reported."""
    return await _socket(hass, broker)


def _downlinks(captured: Captured) -> list[tuple[str, dict[str, Any]]]:
    return [(topic, json.loads(payload)) for topic, payload in captured.messages]


def _hex(body: dict[str, Any], key: str = "data") -> str:
    return base64.b64decode(body[key]).hex()


async def _call(
    hass: HomeAssistant, service: str, data: dict[str, Any], **kwargs: Any
) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, **kwargs
    )


async def _expect_one(
    hass: HomeAssistant,
    captured: Captured,
    payload_hex: str,
    topic: str = DOWN_TOPIC,
    *,
    f_port: int = 85,
    confirmed: bool = False,
) -> dict[str, Any]:
    """Exactly one ChirpStack v4 downlink with these bytes; clears the capture."""
    await captured.wait_for(1)
    device = registry_device(hass, topic.split("/")[3])
    assert device is not None
    [(got_topic, raw)] = await messages_before_sentinel(hass, captured, device.id)
    body = json.loads(raw)
    assert got_topic == topic
    assert set(body) == {"id", "devEui", "confirmed", "fPort", "data"}
    assert body["devEui"] == topic.split("/")[3]
    assert body["fPort"] == f_port
    assert body["confirmed"] is confirmed
    assert _hex(body) == payload_hex
    captured.messages.clear()
    return body


# Registration and descriptions -------------------------------------------------


async def test_actions_registered_with_descriptions(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Every action exists with valid services.yaml selectors and translations."""
    names = {
        "add_delay_task",
        "delete_delay_task",
        "set_overcurrent_alarm",
        "set_overcurrent_protection",
        "set_reporting_interval",
        "set_led",
        "set_button_lock",
        "set_energy_recording",
        "reset_energy",
        "reboot",
        "refresh",
        "send_raw_downlink",
    }
    assert set(hass.services.async_services_for_domain(DOMAIN)) == names

    described = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(described) == names
    spec = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    en = json.loads((COMPONENT / "translations" / "en.json").read_text())
    icons = json.loads((COMPONENT / "icons.json").read_text())
    for name in names:
        assert set(icons["services"][name]) == {"service"}
        assert en["services"][name]["name"]
        assert en["services"][name]["description"]
        fields = spec[name]["fields"]
        assert set(fields) == set(en["services"][name]["fields"])
        device_field = fields["device_id"]
        assert device_field["required"] is True
        assert device_field["selector"] == {
            "device": {"integration": DOMAIN, "multiple": True}
        }
        assert "target" not in spec[name]  # no device filters under target:
        for field_name, field in fields.items():
            selector.validate_selector(field["selector"])
            texts = en["services"][name]["fields"][field_name]
            assert texts["name"]
            assert texts["description"]
    assert set(en["selector"]["delay_action"]["options"]) == {"on", "off"}


# Happy paths: bytes on the wire and entity states -------------------------------


async def test_delay_task_add_and_delete(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """add_delay_task 60 s on -> ff22003c0011; sensor shows when and what."""
    sensor = f"sensor.{NAME}_delay_task"
    assert hass.states.get(sensor).state == "unknown"
    async with broker.capture(CS4_DOWN) as captured:
        before = dt_util.utcnow()
        await _call(
            hass,
            "add_delay_task",
            {"device_id": device_id, "delay": 60, "action": "on"},
        )
        await _expect_one(hass, captured, "ff22003c0011")
        state = hass.states.get(sensor)
        fires_at = dt_util.parse_datetime(state.state)
        assert fires_at is not None
        expected = before + timedelta(seconds=60)
        assert (
            expected - timedelta(seconds=1)
            <= fires_at
            <= expected + timedelta(seconds=5)
        )
        assert state.attributes["action"] == "on"

        # The duration selector's dict form; the new task replaces the old one.
        await _call(
            hass,
            "add_delay_task",
            {
                "device_id": device_id,
                "delay": {"hours": 18, "minutes": 12, "seconds": 15},
                "action": "off",
            },
        )
        await _expect_one(hass, captured, "ff2200ffff10")
        assert hass.states.get(sensor).attributes["action"] == "off"

        await _call(
            hass,
            "add_delay_task",
            {"device_id": device_id, "delay": "00:00:01", "action": "off"},
        )
        await _expect_one(hass, captured, "ff2200010010")

        await _call(hass, "delete_delay_task", {"device_id": device_id})
        await _expect_one(hass, captured, "ff2300ff")
        assert hass.states.get(sensor).state == "unknown"
        assert "action" not in hass.states.get(sensor).attributes


async def test_overcurrent_alarm_and_protection_share_a_frame(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """Both actions in the same loop turn -> one frame, as in the user guide."""
    async with broker.capture(CS4_DOWN) as captured:
        await asyncio.gather(
            _call(
                hass,
                "set_overcurrent_alarm",
                {"device_id": device_id, "enabled": True, "threshold": 10},
            ),
            _call(
                hass,
                "set_overcurrent_protection",
                {"device_id": device_id, "enabled": True, "threshold": 10},
            ),
        )
        await _expect_one(hass, captured, "ff24010aff30010a")


async def test_overcurrent_settings_follow_in_entities(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """Sent thresholds show in the config switches and numbers; disabling keeps them."""
    alarm_switch = f"switch.{NAME}_overcurrent_alarm"
    alarm_number = f"number.{NAME}_overcurrent_alarm_threshold"
    protection_switch = f"switch.{NAME}_overcurrent_protection"
    protection_number = f"number.{NAME}_overcurrent_protection_threshold"
    # BASIC_INFO reported both enabled at 10 A.
    assert hass.states.get(alarm_switch).state == "on"
    assert float(hass.states.get(alarm_number).state) == 10

    async with broker.capture(CS4_DOWN) as captured:
        await _call(
            hass,
            "set_overcurrent_alarm",
            {"device_id": device_id, "enabled": True, "threshold": 30},
        )
        await _expect_one(hass, captured, "ff24011e")
        assert hass.states.get(alarm_switch).state == "on"
        assert float(hass.states.get(alarm_number).state) == 30

        # Disabling without a threshold keeps the one the socket has (30 A).
        await _call(
            hass, "set_overcurrent_alarm", {"device_id": device_id, "enabled": False}
        )
        await _expect_one(hass, captured, "ff24001e")
        assert hass.states.get(alarm_switch).state == "off"
        assert float(hass.states.get(alarm_number).state) == 30

        await _call(
            hass,
            "set_overcurrent_protection",
            {"device_id": device_id, "enabled": False, "threshold": 5},
        )
        await _expect_one(hass, captured, "ff300005")
        assert hass.states.get(protection_switch).state == "off"
        assert float(hass.states.get(protection_number).state) == 5

        await _call(
            hass,
            "set_overcurrent_protection",
            {"device_id": device_id, "enabled": True, "threshold": 1},
        )
        await _expect_one(hass, captured, "ff300101")
        assert hass.states.get(protection_switch).state == "on"
        assert float(hass.states.get(protection_number).state) == 1


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_settings_and_commands(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """Each remaining action sends its documented bytes; settings show in entities."""
    cases: list[tuple[str, dict[str, Any], str, str | None, str | None]] = [
        # action, extra data, bytes, entity, expected state
        (
            "set_reporting_interval",
            {"interval": 30},
            "ff030807",
            f"number.{NAME}_reporting_interval",
            "30",
        ),
        (
            "set_reporting_interval",
            {"interval": 1080},
            "ff0320fd",
            f"number.{NAME}_reporting_interval",
            "1080",
        ),
        (
            "set_reporting_interval",
            {"interval": 1},
            "ff033c00",
            f"number.{NAME}_reporting_interval",
            "1",
        ),
        (
            "set_led",
            {"enabled": False},
            "ff2f00",
            f"switch.{NAME}_led_indicator",
            "off",
        ),
        ("set_led", {"enabled": True}, "ff2f01", f"switch.{NAME}_led_indicator", "on"),
        (
            "set_button_lock",
            {"locked": False},
            "ff250000",
            f"switch.{NAME}_button_lock",
            "off",
        ),
        (
            "set_button_lock",
            {"locked": True},
            "ff250080",
            f"switch.{NAME}_button_lock",
            "on",
        ),
        (
            "set_energy_recording",
            {"enabled": False},
            "ff2600",
            f"switch.{NAME}_energy_recording",
            "off",
        ),
        (
            "set_energy_recording",
            {"enabled": True},
            "ff2601",
            f"switch.{NAME}_energy_recording",
            "on",
        ),
        ("reset_energy", {}, "ff27ff", None, None),
        ("reboot", {}, "ff10ff", None, None),
        ("refresh", {}, "ff28ff", None, None),
    ]
    async with broker.capture(CS4_DOWN) as captured:
        for action, extra, payload_hex, entity_id, expected in cases:
            await _call(hass, action, {"device_id": device_id, **extra})
            await _expect_one(hass, captured, payload_hex)
            if entity_id is not None:
                state = hass.states.get(entity_id).state
                if entity_id.startswith("number."):
                    assert float(state) == float(expected), action
                else:
                    assert state == expected, action


async def test_refresh_answer_updates_sensors(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """refresh asks for a report; the device's answer lands in the sensors."""
    async with broker.capture(CS4_DOWN) as captured:
        await _call(hass, "refresh", {"device_id": device_id})
        await _expect_one(hass, captured, "ff28ff")
    # The socket answers: off, 0 W, 230.0 V.
    await send_uplink(
        hass, broker, *cs4_uplink("087000" + "0374fc08" + "048000000000", f_cnt=3)
    )
    assert hass.states.get(f"switch.{NAME}").state == "off"
    assert float(hass.states.get(f"sensor.{NAME}_voltage").state) == 230.0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_several_devices_in_one_call(
    hass: HomeAssistant, broker: Broker, entry: MockConfigEntry
) -> None:
    """A list of device ids reaches every socket, each once, each on its topic."""
    first = await _socket(hass, broker)
    second = await _socket(hass, broker, DEV_EUI_2, "Heater socket")
    async with broker.capture(CS4_DOWN) as captured:
        await _call(
            hass, "set_led", {"device_id": [first, second, first], "enabled": False}
        )
        before = await messages_before_sentinel(hass, captured, [first, second])
        got = sorted((topic, _hex(json.loads(body))) for topic, body in before)
        assert got == sorted([(DOWN_TOPIC, "ff2f00"), (DOWN_TOPIC_2, "ff2f00")])
    assert hass.states.get(f"switch.{NAME}_led_indicator").state == "off"
    assert hass.states.get("switch.heater_socket_led_indicator").state == "off"


async def test_send_raw_downlink(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """Raw bytes go out unchanged with the FPort/confirmed asked; ids come back."""
    async with broker.capture(CS4_DOWN) as captured:
        await _call(
            hass, "send_raw_downlink", {"device_id": device_id, "payload": "ff2cff"}
        )
        await _expect_one(hass, captured, "ff2cff")

        response = await _call(
            hass,
            "send_raw_downlink",
            {
                "device_id": device_id,
                "payload": "FF 28 FF",
                "f_port": 10,
                "confirmed": True,
            },
            return_response=True,
        )
        body = await _expect_one(hass, captured, "ff28ff", f_port=10, confirmed=True)
        assert response == {
            "downlinks": [
                {
                    "device_id": device_id,
                    "dev_eui": DEV_EUI,
                    "correlation_id": body["id"],
                }
            ]
        }
        await _call(
            hass,
            "send_raw_downlink",
            {"device_id": device_id, "payload": "0x080100ff", "f_port": 223},
        )
        await _expect_one(hass, captured, "080100ff", f_port=223)


# Validation ------------------------------------------------------------------------


async def test_out_of_range_arguments(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """Out-of-range arguments are refused, naming argument and range; none is sent."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "add_delay_task",
            {"delay": 0, "action": "on"},
            "delay must be from 1 to 65535 s, got 0",
        ),
        (
            "add_delay_task",
            {"delay": 65536, "action": "on"},
            "delay must be from 1 to 65535 s",
        ),
        (
            "add_delay_task",
            {"delay": {"hours": 18, "minutes": 12, "seconds": 16}, "action": "on"},
            "delay must be from 1 to 65535 s, got 65536",
        ),
        (
            "add_delay_task",
            {"delay": -5, "action": "on"},
            "delay must be from 1 to 65535 s",
        ),
        ("add_delay_task", {"delay": 1.5, "action": "on"}, "whole seconds"),
        ("add_delay_task", {"delay": 60, "action": "toggle"}, "action"),
        ("add_delay_task", {"action": "on"}, "delay"),
        (
            "set_overcurrent_alarm",
            {"enabled": True, "threshold": 0},
            "threshold must be from 1 to 30 A",
        ),
        (
            "set_overcurrent_alarm",
            {"enabled": True, "threshold": 31},
            "threshold must be from 1 to 30 A",
        ),
        (
            "set_overcurrent_alarm",
            {"enabled": False, "threshold": 31},
            "threshold must be from 1 to 30 A",
        ),
        ("set_overcurrent_alarm", {"enabled": True, "threshold": 10.5}, "whole number"),
        (
            "set_overcurrent_protection",
            {"enabled": True, "threshold": 0},
            "threshold must be from 1 to 30 A",
        ),
        (
            "set_overcurrent_protection",
            {"enabled": True, "threshold": 100},
            "threshold must be from 1 to 30 A",
        ),
        (
            "set_reporting_interval",
            {"interval": 0},
            "interval must be from 1 to 1080 min",
        ),
        (
            "set_reporting_interval",
            {"interval": 1081},
            "interval must be from 1 to 1080 min",
        ),
        ("set_reporting_interval", {"interval": True}, "whole number"),
        ("set_led", {"enabled": "maybe"}, "enabled"),
        ("set_button_lock", {}, "locked"),
        (
            "send_raw_downlink",
            {"payload": "ff28ff", "f_port": 0},
            "f_port must be from 1 to 223",
        ),
        (
            "send_raw_downlink",
            {"payload": "ff28ff", "f_port": 224},
            "f_port must be from 1 to 223",
        ),
        ("reboot", {"device_id": []}, "device_id"),
    ]
    async with broker.capture(CS4_DOWN) as captured:
        for action, extra, match in cases:
            # Ranges: translated ServiceValidationError; types: the schema's Invalid.
            expected = (
                ServiceValidationError if " must be from " in match else vol.Invalid
            )
            with pytest.raises(expected, match=match) as err:
                await _call(hass, action, {"device_id": device_id, **extra})
            if expected is ServiceValidationError:
                assert err.value.translation_key == "out_of_range"
        assert await messages_before_sentinel(hass, captured, device_id) == []


async def test_rules_raise_translated_errors(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """Cross-argument rules and bad payloads are translated ServiceValidationErrors."""
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "set_overcurrent_alarm",
            {"enabled": True},
            "overcurrent_alarm_threshold_required",
            (
                "Give a threshold from 1 to 30 A to enable the overcurrent alarm of "
                "Kettle socket"
            ),
        ),
        (
            "set_overcurrent_protection",
            {"enabled": True},
            "overcurrent_protection_threshold_required",
            (
                "Give a threshold from 1 to 30 A to enable the overcurrent protection"
                " of Kettle socket"
            ),
        ),
        (
            "send_raw_downlink",
            {"payload": "ff2"},
            "invalid_payload",
            '"ff2" is not a valid payload',
        ),
        ("send_raw_downlink", {"payload": "zz"}, "invalid_payload", "1 to 242 bytes"),
        ("send_raw_downlink", {"payload": ""}, "invalid_payload", "hexadecimal"),
        (
            "send_raw_downlink",
            {"payload": "00" * 243},
            "invalid_payload",
            "1 to 242 bytes",
        ),
    ]
    async with broker.capture(CS4_DOWN) as captured:
        for action, extra, key, message in cases:
            with pytest.raises(ServiceValidationError) as err:
                await _call(hass, action, {"device_id": device_id, **extra})
            assert err.value.translation_domain == DOMAIN
            assert err.value.translation_key == key
            assert message in str(err.value)
        assert await messages_before_sentinel(hass, captured, device_id) == []


async def test_device_resolution_errors(
    hass: HomeAssistant, broker: Broker, entry: MockConfigEntry, device_id: str
) -> None:
    """Unknown device, another integration's device, unknown socket, unloaded entry."""
    registry = dr.async_get(hass)
    other_entry = MockConfigEntry(domain="other_integration", title="Other")
    other_entry.add_to_hass(hass)
    other = registry.async_get_or_create(
        config_entry_id=other_entry.entry_id,
        identifiers={("other_integration", "lamp")},
        name="Desk lamp",
    )
    # Registered for csocket (e.g. restored) but the hub has never heard of it.
    ghost = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, "0011223344556677")},
        name="Ghost socket",
    )

    async def refused(device: str, key: str, message: str) -> None:
        with pytest.raises(ServiceValidationError) as err:
            await _call(hass, "refresh", {"device_id": device})
        assert err.value.translation_domain == DOMAIN
        assert err.value.translation_key == key
        assert str(err.value) == message

    async with broker.capture(CS4_DOWN) as captured:
        await refused(
            "no-such-device", "device_not_found", "Device no-such-device does not exist"
        )
        await refused(
            other.id, "device_not_csocket", "Desk lamp is not a csocket socket"
        )
        await refused(
            ghost.id,
            "socket_unknown",
            "Ghost socket is not known to the csocket entry chirpstack_v4 test yet; "
            "it is added when it sends its first report",
        )
        # One bad id in a list: nothing is sent to the good one either.
        with pytest.raises(ServiceValidationError):
            await _call(hass, "refresh", {"device_id": [device_id, other.id]})
        assert await messages_before_sentinel(hass, captured, device_id) == []
        captured.messages.clear()

        hub = entry.runtime_data
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await refused(
            device_id,
            "entry_not_loaded",
            "Cannot send to Kettle socket: the csocket entry chirpstack_v4 test "
            "is not loaded",
        )
        # Unloaded, csocket has no connection left that could publish.
        assert not hub.transport.connected
    assert captured.messages == []


async def test_broker_down_is_an_error(
    hass: HomeAssistant, broker: Broker, device_id: str
) -> None:
    """With the broker gone actions fail with a translated error, not a hang."""
    broker.stop()
    try:
        for action, extra in (
            ("reboot", {}),
            ("send_raw_downlink", {"payload": "ff10ff"}),
        ):
            with pytest.raises(HomeAssistantError) as err:
                async with asyncio.timeout(10):
                    await _call(hass, action, {"device_id": device_id, **extra})
            assert err.value.translation_domain == DOMAIN
            assert str(err.value).startswith("Cannot send"), action
    finally:
        broker.start()


# Another network server --------------------------------------------------------------


def _tts_uplink(payload_hex: str, f_cnt: int) -> tuple[str, bytes]:
    body = {
        "end_device_ids": {
            "device_id": "kettle",
            "application_ids": {"application_id": "sockets"},
            "dev_eui": DEV_EUI.upper(),
        },
        "uplink_message": {
            "f_port": 85,
            "f_cnt": f_cnt,
            "frm_payload": base64.b64encode(bytes.fromhex(payload_hex)).decode(),
            "rx_metadata": [
                {"gateway_ids": {"gateway_id": "gw-1"}, "rssi": -70, "snr": 7.5}
            ],
        },
    }
    return "v3/sockets@ttn/devices/kettle/up", json.dumps(body).encode()


async def test_the_things_stack_topics(hass: HomeAssistant, broker: Broker) -> None:
    """On The Things Stack the same action publishes TTS's down/push JSON."""
    entry = make_entry(
        broker,
        ServerKind.TTS_V3,
        **{CONF_APPLICATION_ID: "sockets", CONF_TENANT_ID: "ttn"},
    )
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *_tts_uplink(REPORT, 1))
    device = registry_device(hass, DEV_EUI)
    assert device is not None

    async with broker.capture("v3/#") as captured:
        await _call(
            hass,
            "add_delay_task",
            {"device_id": device.id, "delay": 60, "action": "on"},
        )
        await wait_for(
            hass, lambda: any(t.endswith("/push") for t, _ in captured.messages)
        )
        pushes = [
            (topic, json.loads(payload))
            for topic, payload in captured.messages
            if topic.endswith("/down/push")
        ]
        [(topic, body)] = pushes
        assert topic == "v3/sockets@ttn/devices/kettle/down/push"
        [downlink] = body["downlinks"]
        assert downlink["f_port"] == 85
        assert downlink["confirmed"] is False
        assert _hex(downlink, "frm_payload") == "ff22003c0011"
        assert downlink["correlation_ids"][0].startswith("csocket:")

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def test_schema_helpers() -> None:
    """Whole numbers are never rounded; durations become whole seconds."""
    assert service_schemas.INTERVAL(20.0) == 20
    assert service_schemas.INTERVAL("20") == 20
    assert service_schemas.DELAY("01:00:00") == 3600
    assert service_schemas.DELAY({"minutes": 1}) == 60
    for bad in (None, "x", 2.5, float("nan"), float("inf")):
        with pytest.raises(vol.Invalid):
            service_schemas.INTERVAL(bad)
