"""Configuration entities: state from the device's echoes, else from what was sent."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import SERVICE_PRESS
from homeassistant.components.number import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .broker import Broker
from .common import (
    APP_ID,
    BASIC_INFO,
    DEV_EUI,
    REPORT,
    cs4_uplink,
    make_entry,
    registry_device,
    send_uplink,
    setup_entry,
    wait_for,
)

DOWN_TOPIC = f"application/{APP_ID}/device/{DEV_EUI}/command/down"
LED = "switch.kettle_socket_led_indicator"


async def _sent(
    hass: HomeAssistant, broker: Broker, domain: str, service: str, data: dict
) -> str:
    async with broker.capture(DOWN_TOPIC) as captured:
        await hass.services.async_call(domain, service, data, blocking=True)
        await wait_for(hass, lambda: captured.messages)
    return base64.b64decode(json.loads(captured.messages[-1][1])["data"]).hex()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_led_sent_restored_then_echoed(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The LED is never in reports: its state is what was sent, kept across restarts."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    assert hass.states.get(LED).state == "unknown"

    payload = await _sent(
        hass, broker, "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: LED}
    )
    assert payload == "ff2f00"
    assert hass.states.get(LED).state == "off"

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(LED).state == "off"

    # The device's own echo wins over what was sent.
    await send_uplink(hass, broker, *cs4_uplink("ff2f01", f_cnt=1))
    assert hass.states.get(LED).state == "on"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_thresholds_and_interval(hass: HomeAssistant, broker: Broker) -> None:
    """Numbers send the setting and keep the other half of it."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    number = "number.kettle_socket_overcurrent_protection_threshold"
    payload = await _sent(
        hass,
        broker,
        "number",
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: number, ATTR_VALUE: 16},
    )
    assert payload == "ff300110"  # still enabled, now 16 A
    assert hass.states.get(number).state == "16"

    interval = "number.kettle_socket_reporting_interval"
    payload = await _sent(
        hass,
        broker,
        "number",
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: interval, ATTR_VALUE: 5},
    )
    assert payload == "ff032c01"  # 300 s
    assert hass.states.get(interval).state == "5"

    alarm = "switch.kettle_socket_overcurrent_alarm"
    payload = await _sent(
        hass, broker, "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: alarm}
    )
    assert payload == "ff24000a"  # disabled, threshold kept
    assert hass.states.get(alarm).state == "off"
    assert (
        hass.states.get("number.kettle_socket_overcurrent_alarm_threshold").state
        == "10"
    )

    payload = await _sent(
        hass,
        broker,
        "switch",
        SERVICE_TURN_ON,
        {ATTR_ENTITY_ID: "switch.kettle_socket_button_lock"},
    )
    assert payload == "ff250080"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_buttons(hass: HomeAssistant, broker: Broker) -> None:
    """Reboot, energy reset and refresh send their commands."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    for entity_id, expected in (
        ("button.kettle_socket_restart", "ff10ff"),
        ("button.kettle_socket_reset_energy", "ff27ff"),
        ("button.kettle_socket_refresh", "ff28ff"),
    ):
        assert await _sent(
            hass, broker, "button", SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}
        ) == (expected)
    # The reset echo zeroes the energy counter (a meter reset for statistics).
    await send_uplink(hass, broker, *cs4_uplink("ff27ff", f_cnt=2))
    assert hass.states.get("sensor.kettle_socket_energy").state == "0.0"


async def test_delay_task_cleared_by_change_report(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The task's own change report clears the delay-task sensor."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(
        hass, broker, *cs4_uplink(REPORT.replace("087001", "087000"), f_cnt=1)
    )
    device_id = registry_device(hass, DEV_EUI).id
    payload = await _sent(
        hass,
        broker,
        "csocket",
        "add_delay_task",
        {"device_id": device_id, "delay": {"seconds": 5}, "action": "on"},
    )
    assert payload == "ff2200050011"
    sensor = "sensor.kettle_socket_delay_task"
    assert hass.states.get(sensor).attributes["action"] == "on"
    await send_uplink(
        hass, broker, *cs4_uplink(REPORT.replace("087001", "087011"), f_cnt=2)
    )
    assert hass.states.get(sensor).state == "unknown"
    assert hass.states.get("switch.kettle_socket").state == "on"


async def test_overdue_delay_task_is_cleared(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Without its change report, the task stops showing two minutes after due."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    device_id = registry_device(hass, DEV_EUI).id
    await _sent(
        hass,
        broker,
        "csocket",
        "add_delay_task",
        {"device_id": device_id, "delay": {"minutes": 10}, "action": "off"},
    )
    sensor = "sensor.kettle_socket_delay_task"
    assert hass.states.get(sensor).attributes["action"] == "off"
    freezer.tick(timedelta(minutes=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(sensor).attributes["action"] == "off"
    freezer.tick(timedelta(minutes=1, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(sensor).state == "unknown"
    # The socket itself is still within its availability window.
    assert hass.states.get("switch.kettle_socket").state == "on"
