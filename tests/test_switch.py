"""The outlet switch: confirmed by the device, with timeout and failure paths."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.csocket.const import CONF_COMMAND_TIMEOUT, DOMAIN
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_DOWNLINK_TOPIC,
    CONF_TENANT_ID,
    CONF_TOPIC_STYLE,
    CONF_UPLINK_TOPIC,
    ServerKind,
)

from .broker import Broker, Captured
from .common import (
    APP_ID,
    DEV_EUI,
    DEV_EUI_2,
    DEV_EUI_3,
    REPORT,
    cs3_uplink,
    cs4_uplink,
    make_entry,
    messages_before_sentinel,
    milesight_uplink,
    registry_device,
    send_uplink,
    setup_entry,
    tts_uplink,
    wait_for,
)

SWITCH = "switch.kettle_socket"
DOWN_TOPIC = f"application/{APP_ID}/device/{DEV_EUI}/command/down"
OFF_REPORT = REPORT.replace("087001", "087000")
# Change reports: bit 4 set, as after a downlink, the button or a delay task.
CHANGED_OFF = REPORT.replace("087001", "087010")
CHANGED_ON = REPORT.replace("087001", "087011")


async def _start(hass: HomeAssistant, broker: Broker, **options: float) -> None:
    await setup_entry(hass, make_entry(broker, options=options))
    await send_uplink(hass, broker, *cs4_uplink(OFF_REPORT, f_cnt=1))
    assert hass.states.get(SWITCH).state == "off"


def _call(
    hass: HomeAssistant, service: str, entity_id: str = SWITCH
) -> asyncio.Task[None]:
    return hass.async_create_task(
        hass.services.async_call(
            SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
    )


async def _downlink(hass: HomeAssistant, captured: Captured) -> dict[str, object]:
    await wait_for(hass, lambda: captured.messages, settle=False)
    topic, payload = captured.messages[-1]
    assert topic == DOWN_TOPIC
    return json.loads(payload)


async def _behind_the_kettle(
    hass: HomeAssistant, captured: Captured, other: str
) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
    """Turn the kettle on, then `other` switch, queued behind the kettle's.

    The kettle's command holds the air until the kettle confirms.
    """
    kettle = _call(hass, SERVICE_TURN_ON)
    await _downlink(hass, captured)
    behind = _call(hass, SERVICE_TURN_ON, other)
    await wait_for(
        hass,
        lambda: hass.states.get(other).attributes.get("command_state") == "queued",
        settle=False,
    )
    return kettle, behind


def _txack(queue_item_id: str, dev_eui: str = DEV_EUI) -> tuple[str, str]:
    """ChirpStack v4 `txack`: the downlink left the gateway."""
    body = {
        "queueItemId": queue_item_id,
        "deviceInfo": {"applicationId": APP_ID, "devEui": dev_eui},
        "fCntDown": 1,
        "gatewayId": "0016c001f153a14c",
    }
    return f"application/{APP_ID}/device/{dev_eui}/event/txack", json.dumps(body)


async def test_turn_on_confirmed_by_device(hass: HomeAssistant, broker: Broker) -> None:
    """One downlink switches and asks for status; the reply sets the state."""
    await _start(hass, broker)
    async with broker.capture(DOWN_TOPIC) as captured:
        task = _call(hass, SERVICE_TURN_ON)
        body = await _downlink(hass, captured)
        assert list(body) == ["id", "devEui", "confirmed", "fPort", "data"]
        assert body["devEui"] == DEV_EUI
        assert body["fPort"] == 85
        assert body["confirmed"] is False
        assert base64.b64decode(body["data"]).hex() == "080100ffff28ff"

        # Not confirmed yet: the state stays, the target is an attribute.
        state = hass.states.get(SWITCH)
        assert (state.state, state.attributes["pending_target"]) == ("off", True)
        assert not task.done()

        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=2))
        await task
    state = hass.states.get(SWITCH)
    assert (state.state, state.attributes["pending_target"]) == ("on", None)


@pytest.mark.parametrize("before", [REPORT, OFF_REPORT], ids=["on", "already_off"])
async def test_turn_off_confirmed(
    hass: HomeAssistant, broker: Broker, before: str
) -> None:
    """Off sends 080000ff plus the status enquiry.

    Also when the socket reported off a moment ago: it may have been switched
    by its button since (README "LoRaWAN airtime").
    """
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(before, f_cnt=1))
    async with broker.capture(DOWN_TOPIC) as captured:
        task = _call(hass, SERVICE_TURN_OFF)
        body = await _downlink(hass, captured)
        assert base64.b64decode(body["data"]).hex() == "080000ffff28ff"
        await broker.publish(*cs4_uplink(CHANGED_OFF, f_cnt=2))
        await task
    assert hass.states.get(SWITCH).state == "off"


async def test_no_confirmation_times_out(
    hass: HomeAssistant, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a reply the state is unchanged, a warning is logged, the call fails."""
    await _start(hass, broker, **{CONF_COMMAND_TIMEOUT: 0.3})
    async with broker.capture(DOWN_TOPIC) as captured:
        task = _call(hass, SERVICE_TURN_ON)
        body = await _downlink(hass, captured)
        # The timeout counts from the server's transmission report.
        await broker.publish(*_txack(str(body["id"])))
        with pytest.raises(HomeAssistantError) as err:
            await task
    assert err.value.translation_key == "command_timeout"
    assert str(err.value) == (
        "Kettle socket did not confirm the command within 0.3 seconds; "
        "its state is unchanged"
    )
    state = hass.states.get(SWITCH)
    assert (state.state, state.attributes["pending_target"]) == ("off", None)
    assert "did not confirm switching on" in caplog.text
    assert any(r.levelno == logging.WARNING for r in caplog.records)


async def test_device_refutes(hass: HomeAssistant, broker: Broker) -> None:
    """Reports that keep saying off end in an error naming the refusal."""
    await _start(hass, broker, **{CONF_COMMAND_TIMEOUT: 1})
    async with broker.capture(DOWN_TOPIC) as captured:
        task = _call(hass, SERVICE_TURN_ON)
        body = await _downlink(hass, captured)
        await broker.publish(*_txack(str(body["id"])))
        await broker.publish(*cs4_uplink(OFF_REPORT, f_cnt=2))
        with pytest.raises(HomeAssistantError) as err:
            await task
    assert err.value.translation_key == "command_refused"
    assert hass.states.get(SWITCH).state == "off"


async def test_crossing_report_does_not_end_the_wait(
    hass: HomeAssistant, broker: Broker
) -> None:
    """A periodic report sent before the downlink arrived is not the answer."""
    await _start(hass, broker)
    async with broker.capture(DOWN_TOPIC) as captured:
        task = _call(hass, SERVICE_TURN_ON)
        await _downlink(hass, captured)
        await broker.publish(*cs4_uplink(OFF_REPORT, f_cnt=2))
        device = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.devices[
            DEV_EUI
        ]
        await wait_for(hass, lambda: len(device.frames) == 2, settle=False)
        assert not task.done()
        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=3))
        await task
    assert hass.states.get(SWITCH).state == "on"


async def test_chirpstack_failure_fails_fast(
    hass: HomeAssistant, broker: Broker
) -> None:
    """A ChirpStack `log` error for our queue item ends the wait with its reason."""
    await _start(hass, broker, **{CONF_COMMAND_TIMEOUT: 30})
    async with broker.capture(DOWN_TOPIC) as captured:
        task = _call(hass, SERVICE_TURN_ON)
        body = await _downlink(hass, captured)
        log = {
            "time": "2022-07-18T09:40:01.000000000+00:00",
            "deviceInfo": {"applicationId": APP_ID, "devEui": DEV_EUI},
            "level": "ERROR",
            "code": "DOWNLINK_GATEWAY",
            "description": "Gateway is offline",
            "context": {"queue_item_id": body["id"]},
        }
        await broker.publish(
            f"application/{APP_ID}/device/{DEV_EUI}/event/log", json.dumps(log)
        )
        with pytest.raises(HomeAssistantError) as err:
            async with asyncio.timeout(5):
                await task
    assert err.value.translation_key == "downlink_failed"
    assert "Gateway is offline" in str(err.value)


async def test_tts_nack_fails_fast(hass: HomeAssistant, broker: Broker) -> None:
    """The Things Stack `down/failed` with our correlation id fails the command."""
    entry = make_entry(
        broker,
        ServerKind.TTS_V3,
        **{CONF_APPLICATION_ID: "sockets", CONF_TENANT_ID: "ttn"},
    )
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *tts_uplink(OFF_REPORT, device_id="kettle"))
    push = "v3/sockets@ttn/devices/kettle/down/push"
    async with broker.capture(push) as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: "switch.kettle"}, True
            )
        )
        await wait_for(hass, lambda: captured.messages, settle=False)
        downlink = json.loads(captured.messages[0][1])["downlinks"][0]
        assert base64.b64decode(downlink["frm_payload"]).hex() == "080100ffff28ff"
        failed = {
            "end_device_ids": {
                "device_id": "kettle",
                "application_ids": {"application_id": "sockets"},
            },
            "correlation_ids": downlink["correlation_ids"],
            "downlink_failed": {
                "downlink": downlink,
                "error": {
                    "namespace": "pkg/networkserver",
                    "name": "application_downlink_too_long",
                    "message_format": "application downlink payload is too long",
                    "code": 3,
                },
            },
        }
        await broker.publish(
            "v3/sockets@ttn/devices/kettle/down/failed", json.dumps(failed), qos=0
        )
        with pytest.raises(HomeAssistantError, match="payload is too long"):
            async with asyncio.timeout(5):
                await task


async def test_downlinks_serialised(hass: HomeAssistant, broker: Broker) -> None:
    """A second command waits until the first one is confirmed."""
    await _start(hass, broker)
    # Another socket's queue is free: its sentinel shows what went out before.
    await send_uplink(
        hass, broker, *cs4_uplink(OFF_REPORT, dev_eui=DEV_EUI_2, name="Heater")
    )
    other = registry_device(hass, DEV_EUI_2)
    assert other is not None
    async with broker.capture("application/+/device/+/command/down") as captured:
        first = _call(hass, SERVICE_TURN_ON)
        await _downlink(hass, captured)
        second = _call(hass, SERVICE_TURN_OFF)
        await wait_for(
            hass,
            lambda: hass.states.get(SWITCH).attributes.get("pending_target") is False,
            settle=False,
        )
        before = await messages_before_sentinel(hass, captured, other.id)
        assert [topic for topic, _body in before] == [DOWN_TOPIC]
        captured.messages.clear()
        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=2))
        await first
        await wait_for(hass, lambda: len(captured.messages) == 1, settle=False)
        assert base64.b64decode(json.loads(captured.messages[0][1])["data"]).hex() == (
            "080000ffff28ff"
        )
        await broker.publish(*cs4_uplink(CHANGED_OFF, f_cnt=3))
        await second
    assert hass.states.get(SWITCH).state == "off"


async def test_entries_on_one_broker_share_the_air(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Two applications' entries on one broker: one switch command on air at a time.

    Their gateways are the network server's, shared by its applications. Past
    about 625 sockets Home Assistant 2026.7+ needs a second application and
    entry, and a scene may switch sockets of both at once.
    """
    other_app = "0b1b0b5e-6c0d-4a47-9e5b-3f4b8a3c1d2e"
    await _start(hass, broker)
    await setup_entry(
        hass, make_entry(broker, application_id=other_app, client_id="csocket-2")
    )
    for dev_eui, name in ((DEV_EUI_2, "Heater socket"), (DEV_EUI_3, "Lamp socket")):
        await send_uplink(
            hass,
            broker,
            *cs4_uplink(
                OFF_REPORT, dev_eui=dev_eui, name=name, application_id=other_app
            ),
        )
    lamp = registry_device(hass, DEV_EUI_3)
    assert lamp is not None
    heater = "switch.heater_socket"
    async with broker.capture("application/+/device/+/command/down") as captured:
        first, second = await _behind_the_kettle(hass, captured, heater)
        # The lamp's sentinels go out through the second entry's connection,
        # after anything that entry published before them.
        before = await messages_before_sentinel(hass, captured, lamp.id, rounds=2)
        assert [topic for topic, _body in before] == [DOWN_TOPIC]
        captured.messages.clear()
        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=2))
        await first
        await wait_for(hass, lambda: captured.messages, settle=False)
        assert [topic for topic, _body in captured.messages] == [
            f"application/{other_app}/device/{DEV_EUI_2}/command/down"
        ]
        await broker.publish(
            *cs4_uplink(
                CHANGED_ON,
                dev_eui=DEV_EUI_2,
                name="Heater socket",
                f_cnt=2,
                application_id=other_app,
            )
        )
        await second
    assert hass.states.get(SWITCH).state == "on"
    assert hass.states.get(heater).state == "on"


async def test_milesight_wait_counts_other_entries_commands(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """A Milesight command queued behind another entry's command gets that wait.

    Milesight gateways report no transmission, so the clock runs from the
    call: command timeout + 5 s for each command ahead at the broker's gate,
    whichever entry sent it. Here the fan's 1 s would be over before the
    kettle (a ChirpStack entry on the same broker) confirms.
    """
    await _start(hass, broker)
    milesight = make_entry(
        broker,
        ServerKind.MILESIGHT,
        options={CONF_COMMAND_TIMEOUT: 1},
        client_id="csocket-milesight",
        **{
            CONF_APPLICATION_ID: "",
            CONF_UPLINK_TOPIC: "csocket/uplink/#",
            CONF_DOWNLINK_TOPIC: "csocket/downlink/$deveui",
        },
    )
    await setup_entry(hass, milesight)
    await send_uplink(hass, broker, *milesight_uplink(OFF_REPORT, dev_eui=DEV_EUI_2))
    fan = "switch.fan_socket"
    async with broker.capture("csocket/downlink/+") as fan_downlinks:
        async with broker.capture("application/+/device/+/command/down") as captured:
            kettle, behind = await _behind_the_kettle(hass, captured, fan)
        freezer.tick(timedelta(seconds=2))  # past the fan's own 1 s
        async_fire_time_changed(hass)
        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=2))
        await kettle
        await wait_for(hass, lambda: fan_downlinks.messages, settle=False)
        assert fan_downlinks.messages[0][0] == f"csocket/downlink/{DEV_EUI_2}"
        await broker.publish(*milesight_uplink(CHANGED_ON, dev_eui=DEV_EUI_2, f_cnt=2))
        await behind
    assert hass.states.get(fan).state == "on"


async def test_assist_turns_on_the_socket(hass: HomeAssistant, broker: Broker) -> None:
    """'Turn on the kettle socket' through the default agent publishes the downlink."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    await _start(hass, broker)
    async with broker.capture(DOWN_TOPIC) as captured:
        result = await conversation.async_converse(
            hass, "turn on kettle socket", None, Context(), language="en"
        )
        assert result.response.error_code is None, result.response.speech
        body = await _downlink(hass, captured)
        assert base64.b64decode(body["data"]).hex() == "080100ffff28ff"
        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=2))
        await wait_for(hass, lambda: hass.states.get(SWITCH).state == "on")


@pytest.mark.parametrize(
    ("kind", "data", "uplink", "entity_id", "down_topic", "expected"),
    [
        (
            ServerKind.CHIRPSTACK_V3,
            {CONF_APPLICATION_ID: "12"},
            cs3_uplink,
            "switch.heater_socket",
            f"application/12/device/{DEV_EUI}/command/down",
            {"confirmed": False, "fPort": 85, "data": "CAEA//8o/w=="},
        ),
        (
            ServerKind.CHIRPSTACK_V3,
            {CONF_APPLICATION_ID: "12", CONF_TOPIC_STYLE: "legacy"},
            functools.partial(cs3_uplink, event="rx"),
            "switch.heater_socket",
            f"application/12/device/{DEV_EUI}/tx",
            {"confirmed": False, "fPort": 85, "data": "CAEA//8o/w=="},
        ),
        (
            ServerKind.MILESIGHT,
            {
                CONF_APPLICATION_ID: "",
                CONF_UPLINK_TOPIC: "csocket/uplink/#",
                CONF_DOWNLINK_TOPIC: "csocket/downlink/$deveui",
            },
            milesight_uplink,
            "switch.fan_socket",
            f"csocket/downlink/{DEV_EUI}",
            {"confirmed": False, "fport": 85, "fPort": 85, "data": "CAEA//8o/w=="},
        ),
        (
            ServerKind.MILESIGHT,
            {CONF_APPLICATION_ID: "", CONF_UPLINK_TOPIC: "csocket/uplink/#"},
            milesight_uplink,
            "switch.fan_socket",
            f"application/1/device/{DEV_EUI}/tx",
            {"confirmed": False, "fport": 85, "fPort": 85, "data": "CAEA//8o/w=="},
        ),
    ],
)
async def test_downlink_format_per_server(
    hass: HomeAssistant,
    broker: Broker,
    kind: ServerKind,
    data: dict[str, str],
    uplink: Callable[..., tuple[str, bytes]],
    entity_id: str,
    down_topic: str,
    expected: dict[str, object],
) -> None:
    """Each server gets its own topic and JSON; the reply confirms as usual."""
    await setup_entry(hass, make_entry(broker, kind, **data))
    await send_uplink(hass, broker, *uplink(OFF_REPORT, f_cnt=1))
    async with broker.capture(down_topic) as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, True
            )
        )
        await wait_for(hass, lambda: captured.messages, settle=False)
        topic, payload = captured.messages[0]
        assert topic == down_topic
        assert json.loads(payload) == expected
        assert list(json.loads(payload)) == list(expected)
        await broker.publish(*uplink(CHANGED_ON, f_cnt=2))
        await task
    assert hass.states.get(entity_id).state == "on"


async def test_chirpstack_v3_error_fails_by_dev_eui(
    hass: HomeAssistant, broker: Broker
) -> None:
    """v3 has no correlation ids: a downlink error for the socket ends its wait."""
    entry = make_entry(broker, ServerKind.CHIRPSTACK_V3, **{CONF_APPLICATION_ID: "12"})
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs3_uplink(OFF_REPORT, f_cnt=1))
    down = f"application/12/device/{DEV_EUI}/command/down"
    async with broker.capture(down) as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_ON,
                {ATTR_ENTITY_ID: "switch.heater_socket"},
                blocking=True,
            )
        )
        await wait_for(hass, lambda: captured.messages, settle=False)
        error = {
            "applicationID": "12",
            "applicationName": "sockets",
            "deviceName": "Heater socket",
            "devEUI": DEV_EUI,
            "type": "DOWNLINK_PAYLOAD_SIZE",
            "error": "payload exceeds max payload size",
            "fCnt": 3,
        }
        await broker.publish(
            f"application/12/device/{DEV_EUI}/event/error", json.dumps(error)
        )
        with pytest.raises(HomeAssistantError, match="max payload size"):
            async with asyncio.timeout(5):
                await task


async def test_queued_command_is_superseded(
    hass: HomeAssistant, broker: Broker
) -> None:
    """On, then off, while queued: one downlink (off); the first call says why."""
    await _start(hass, broker)
    await send_uplink(
        hass, broker, *cs4_uplink(OFF_REPORT, dev_eui=DEV_EUI_2, name="Heater")
    )
    heater = "switch.heater"
    async with broker.capture("application/+/device/+/command/down") as captured:
        kettle, first = await _behind_the_kettle(hass, captured, heater)
        assert hass.states.get(heater).attributes["pending_target"] is True
        second = _call(hass, SERVICE_TURN_OFF, heater)
        with pytest.raises(HomeAssistantError) as err:
            await first
        assert err.value.translation_key == "superseded"
        assert str(err.value) == (
            "A newer command to Heater replaced this one before it was sent"
        )
        state = hass.states.get(heater)
        assert state.attributes["pending_target"] is False
        assert state.attributes["command_state"] == "queued"

        await broker.publish(*cs4_uplink(CHANGED_ON, f_cnt=2))
        await kettle
        await wait_for(hass, lambda: len(captured.messages) == 2, settle=False)
        await broker.publish(
            *cs4_uplink(CHANGED_OFF, dev_eui=DEV_EUI_2, name="Heater", f_cnt=2)
        )
        await second
        sent = [
            (json.loads(body)["devEui"], base64.b64decode(json.loads(body)["data"]))
            for _topic, body in captured.messages
        ]
    assert sent == [
        (DEV_EUI, bytes.fromhex("080100ffff28ff")),
        (DEV_EUI_2, bytes.fromhex("080000ffff28ff")),
    ]
    assert hass.states.get(heater).state == "off"
