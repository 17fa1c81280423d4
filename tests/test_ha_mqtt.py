"""The Home Assistant MQTT transport: same entities, downlinks through HA's client."""

from __future__ import annotations

import base64
import json

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.csocket.const import (
    CONF_SERVER,
    CONF_TRANSPORT,
    DOMAIN,
    TRANSPORT_HA_MQTT,
)
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    ServerKind,
)

from .common import APP_ID, DEV_EUI, REPORT, cs4_uplink

DOWN_TOPIC = f"application/{APP_ID}/device/{DEV_EUI}/command/down"


async def _setup_ha_mqtt_entry(hass: HomeAssistant) -> MockConfigEntry:
    """A ChirpStack v4 entry on Home Assistant's MQTT, loaded."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"mqtt/chirpstack_v4/{APP_ID}",
        data={
            CONF_SERVER: ServerKind.CHIRPSTACK_V4.value,
            CONF_TRANSPORT: TRANSPORT_HA_MQTT,
            CONF_APPLICATION_ID: APP_ID,
            CONF_F_PORT: 85,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_ha_mqtt_transport(
    hass: HomeAssistant, ha_mqtt: MqttMockHAClient
) -> None:
    """Uplinks from HA's MQTT make entities; the switch publishes through it."""
    entry = await _setup_ha_mqtt_entry(hass)
    subscribed = {call.args[0] for call in ha_mqtt.async_subscribe.call_args_list}
    assert f"application/{APP_ID}/device/+/event/up" in subscribed

    topic, payload = cs4_uplink(REPORT.replace("087001", "087000"))
    async_fire_mqtt_message(hass, topic, payload)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.kettle_socket_voltage").state == "229.3"
    assert hass.states.get("switch.kettle_socket").state == "off"

    ha_mqtt.async_publish.reset_mock()
    task = hass.async_create_task(
        hass.services.async_call(
            SWITCH_DOMAIN,
            SERVICE_TURN_ON,
            {ATTR_ENTITY_ID: "switch.kettle_socket"},
            blocking=True,
        )
    )
    for _ in range(100):
        if ha_mqtt.async_publish.called:
            break
        await hass.async_add_executor_job(__import__("time").sleep, 0.01)
    call = ha_mqtt.async_publish.call_args
    assert call.args[0] == DOWN_TOPIC
    body = json.loads(call.args[1])
    assert body["devEui"] == DEV_EUI
    assert base64.b64decode(body["data"]).hex() == "080100ffff28ff"

    async_fire_mqtt_message(
        hass, *cs4_uplink(REPORT.replace("087001", "087011"), f_cnt=2)
    )
    await task
    assert hass.states.get("switch.kettle_socket").state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_ha_mqtt_publish_failure(
    hass: HomeAssistant, ha_mqtt: MqttMockHAClient
) -> None:
    """HA's MQTT refusing to publish becomes a translated error on the button."""
    entry = await _setup_ha_mqtt_entry(hass)
    async_fire_mqtt_message(hass, *cs4_uplink(REPORT))
    await hass.async_block_till_done()

    ha_mqtt.async_publish.side_effect = HomeAssistantError("MQTT is not enabled")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "button",
            "press",
            {ATTR_ENTITY_ID: "button.kettle_socket_refresh"},
            blocking=True,
        )
    assert err.value.translation_key == "not_connected"
    assert "MQTT is not enabled" in str(err.value)
    assert await hass.config_entries.async_unload(entry.entry_id)
