"""Edge cases found in review: odd settings, unloads mid-command, several sockets."""

from __future__ import annotations

import asyncio
import base64
import json
from unittest.mock import patch

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.csocket.const import DOMAIN
from custom_components.csocket.network_servers import CONF_APPLICATION_ID

from .broker import Broker
from .common import (
    APP_ID,
    DEV_EUI,
    DEV_EUI_2,
    REPORT,
    cs4_uplink,
    make_entry,
    registry_device,
    remove_device,
    send_uplink,
    setup_entry,
    wait_for,
)

OFF_REPORT = REPORT.replace("087001", "087000")


def _device_id(hass: HomeAssistant, dev_eui: str = DEV_EUI) -> str:
    device = registry_device(hass, dev_eui)
    assert device is not None
    return device.id


async def test_disabling_alarm_with_unknown_threshold(
    hass: HomeAssistant, broker: Broker
) -> None:
    """No join frame seen: disabling the alarm keeps uplinks flowing."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    async with broker.capture("application/+/device/+/command/down") as captured:
        await hass.services.async_call(
            DOMAIN,
            "set_overcurrent_alarm",
            {"device_id": _device_id(hass), "enabled": False},
            blocking=True,
        )
        await wait_for(hass, lambda: captured.messages)
    data = json.loads(captured.messages[0][1])["data"]
    assert base64.b64decode(data).hex() == "ff240000"
    assert hass.states.get("switch.kettle_socket_overcurrent_alarm").state == "off"
    assert hass.states.get("binary_sensor.kettle_socket_overcurrent").state == "unknown"

    await send_uplink(hass, broker, *cs4_uplink(REPORT.replace("0374f508", "0374fe08")))
    assert hass.states.get("sensor.kettle_socket_voltage").state == "230.2"


async def test_threshold_zero_echo_is_not_overcurrent(
    hass: HomeAssistant, broker: Broker
) -> None:
    """A disabled alarm echoed as ff240000 never flags 0 mA as overcurrent."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink("ff240000", f_cnt=0))
    idle = "08700005810007c900000374f508068305000000048000000000"
    await send_uplink(hass, broker, *cs4_uplink(idle, f_cnt=1))
    assert hass.states.get("binary_sensor.kettle_socket_overcurrent").state == "unknown"
    assert hass.states.get("event.kettle_socket_alert").state == "unknown"
    assert hass.states.get(
        "number.kettle_socket_overcurrent_alarm_threshold"
    ).state == ("unknown")


async def test_sockets_take_turns_on_air(hass: HomeAssistant, broker: Broker) -> None:
    """Two sockets switched together: the second goes out once the first confirmed.

    A half-duplex gateway would miss the first socket's report while sending
    the second frame (README "LoRaWAN airtime").
    """
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(OFF_REPORT, f_cnt=1))
    await send_uplink(
        hass, broker, *cs4_uplink(OFF_REPORT, f_cnt=1, dev_eui=DEV_EUI_2, name="Lamp")
    )
    names = {DEV_EUI: "Kettle socket", DEV_EUI_2: "Lamp"}
    on = OFF_REPORT.replace("087000", "087011")
    async with broker.capture("application/+/device/+/command/down") as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_ON,
                {ATTR_ENTITY_ID: ["switch.kettle_socket", "switch.lamp"]},
                blocking=True,
            )
        )
        await wait_for(hass, lambda: captured.messages, settle=False)
        first = captured.messages[0][0].split("/")[3]
        # Its sentinel: a report of the first socket that does not confirm.
        hub = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
        handled = hub.messages_handled
        await broker.publish(
            *cs4_uplink(OFF_REPORT, f_cnt=2, dev_eui=first, name=names[first])
        )
        await wait_for(hass, lambda: hub.messages_handled > handled, settle=False)
        assert len(captured.messages) == 1
        await broker.publish(*cs4_uplink(on, f_cnt=3, dev_eui=first, name=names[first]))
        await wait_for(hass, lambda: len(captured.messages) == 2, settle=False)
        [second] = set(names) - {first}
        assert captured.messages[1][0].split("/")[3] == second
        await broker.publish(
            *cs4_uplink(on, f_cnt=2, dev_eui=second, name=names[second])
        )
        await task
    assert hass.states.get("switch.lamp").state == "on"
    assert hass.states.get("switch.kettle_socket").state == "on"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unload_fails_waiting_commands(
    hass: HomeAssistant, broker: Broker
) -> None:
    """A command still waiting when the entry unloads fails instead of hanging."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(OFF_REPORT, f_cnt=1))
    async with broker.capture("application/+/device/+/command/down") as captured:
        switching = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_ON,
                {ATTR_ENTITY_ID: "switch.kettle_socket"},
                True,
            )
        )
        await wait_for(hass, lambda: captured.messages, settle=False)
        # Queued behind the switch command on the same socket.
        led = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_OFF,
                {ATTR_ENTITY_ID: "switch.kettle_socket_led_indicator"},
                True,
            )
        )
        await asyncio.sleep(0)
        assert await hass.config_entries.async_unload(entry.entry_id)
        for task in (switching, led):
            with pytest.raises(HomeAssistantError, match="unloading"):
                async with asyncio.timeout(5):
                    await task


async def test_reconfigured_application_drops_old_subscription(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The persistent session forgets the old application's topics."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    other_app = "8d0e3f4a-1b2c-4d5e-9f60-718293a4b5c6"
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_APPLICATION_ID: other_app}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    hub = entry.runtime_data

    await broker.publish(*cs4_uplink(REPORT, f_cnt=1))  # old application
    topic, payload = cs4_uplink(REPORT, f_cnt=2, dev_eui=DEV_EUI_2, name="New app")
    # ChirpStack names the application in the topic and the body alike.
    await broker.publish(
        topic.replace(APP_ID, other_app),
        payload.replace(APP_ID.encode(), other_app.encode()),
    )
    await wait_for(hass, lambda: DEV_EUI_2 in hub.devices)
    assert DEV_EUI not in hub.devices


async def test_delete_device_while_unloaded(
    hass: HomeAssistant, broker: Broker, hass_ws_client: WebSocketGenerator
) -> None:
    """A socket deleted while the entry is unloaded does not come back from storage."""
    assert await async_setup_component(hass, "config", {})
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    device_id = _device_id(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED

    client = await hass_ws_client(hass)
    response = await remove_device(client, device_id, entry.entry_id)
    assert response["success"]

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert DEV_EUI not in entry.runtime_data.devices
    assert hass.states.get("sensor.kettle_socket_voltage") is None


async def test_removing_entry_clears_session_and_storage(
    hass: HomeAssistant, broker: Broker
) -> None:
    """After deleting the entry, the broker no longer queues uplinks for it."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.kettle_socket_voltage") is None

    # Same client id again: a persistent session would still hold the
    # subscription and deliver this uplink.
    await broker.publish(*cs4_uplink(REPORT, f_cnt=5))
    again = make_entry(broker)
    await setup_entry(hass, again)
    # A queued uplink would be delivered at connect, before this sentinel.
    await broker.publish(*cs4_uplink(REPORT, f_cnt=6, dev_eui=DEV_EUI_2))
    await wait_for(hass, lambda: DEV_EUI_2 in again.runtime_data.devices)
    assert set(again.runtime_data.devices) == {DEV_EUI_2}


async def test_controls_follow_the_broker_connection(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Controls go unavailable with the broker and come back with it."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    with patch("custom_components.csocket.transport.RECONNECT_MIN", 0.05):
        broker.stop()
        await wait_for(
            hass, lambda: hass.states.get("switch.kettle_socket").state == "unavailable"
        )
        # Measurements keep their values: the socket itself did not go away.
        assert hass.states.get("sensor.kettle_socket_voltage").state == "229.3"
        broker.start()
        await wait_for(
            hass, lambda: hass.states.get("switch.kettle_socket").state == "on", 10
        )


async def test_two_events_from_one_uplink(hass: HomeAssistant, broker: Broker) -> None:
    """A trip frame is both an overcurrent alarm and a trip: both are recorded."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=0))
    await send_uplink(hass, broker, *cs4_uplink("ff24010aff30010a", f_cnt=1))
    seen: list[str] = []

    @callback
    def _record(event: Event) -> None:
        state = event.data["new_state"]
        if event.data["entity_id"] == "event.kettle_socket_alert" and state:
            seen.append(state.attributes.get("event_type"))

    unsub = hass.bus.async_listen("state_changed", _record)
    trip = "08701005812907c910270374f508068305000000048001000000"
    await send_uplink(hass, broker, *cs4_uplink(trip, f_cnt=2))
    unsub()
    assert seen == ["overcurrent_alarm", "protection_trip"]


async def test_settings_split_into_frames_that_fit(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Settings sent together share frames of at most 11 bytes (US915 DR0)."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    device_id = _device_id(hass)
    async with broker.capture("application/+/device/+/command/down") as captured:
        await asyncio.gather(
            hass.services.async_call(
                DOMAIN,
                "set_overcurrent_alarm",
                {"device_id": device_id, "enabled": True, "threshold": 10},
                blocking=True,
            ),
            hass.services.async_call(
                DOMAIN,
                "set_overcurrent_protection",
                {"device_id": device_id, "enabled": True, "threshold": 10},
                blocking=True,
            ),
            hass.services.async_call(
                DOMAIN,
                "set_led",
                {"device_id": device_id, "enabled": True},
                blocking=True,
            ),
            hass.services.async_call(
                DOMAIN,
                "set_button_lock",
                {"device_id": device_id, "locked": True},
                blocking=True,
            ),
        )
        await wait_for(hass, lambda: len(captured.messages) == 2)
    frames = [
        base64.b64decode(json.loads(payload)["data"]).hex()
        for _, payload in captured.messages
    ]
    assert frames == ["ff24010aff30010aff2f01", "ff250080"]
