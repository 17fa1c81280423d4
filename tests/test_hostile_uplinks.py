"""Through the hub: an uplink's body cannot redirect a socket's downlinks.

And a downlink that cannot be addressed fails with a message saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components import csocket
from custom_components.csocket.const import DOMAIN
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_DOWNLINK_TOPIC,
    CONF_UPLINK_TOPIC,
    DOWNLINK_INVALID_IDENTITY,
    DOWNLINK_INVALID_REQUEST,
    DOWNLINK_NOT_ADDRESSABLE,
    DOWNLINK_TOPIC_MISMATCH,
    DownlinkError,
    ServerKind,
)
from custom_components.csocket.util import downlink_error

from .broker import Broker
from .common import (
    APP_ID,
    DEV_EUI,
    DEV_EUI_2,
    REPORT,
    cs4_uplink,
    make_entry,
    milesight_uplink,
    send_uplink,
    setup_entry,
    wait_for,
    with_device_info,
)

OFF_REPORT = REPORT.replace("087001", "087000")
CHANGED_ON = REPORT.replace("087001", "087011")


def _renamed(message: tuple[str, bytes], **changes: object) -> tuple[str, bytes]:
    topic, payload = message
    return topic, json.dumps(json.loads(payload) | changes).encode()


async def _turn_on(
    hass: HomeAssistant, broker: Broker, entity_id: str, reply: tuple[str, bytes]
) -> str:
    """Turn the socket on; return the topic its downlink went to."""
    async with broker.capture("#") as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, True
            )
        )
        # MQTT keeps order: the first message after the call is the downlink.
        await wait_for(hass, lambda: captured.messages, settle=False)
        topic = captured.messages[0][0]
        await broker.publish(*reply)
        await task
    return topic


def _by_device_name(broker: Broker) -> MockConfigEntry:
    """A Milesight entry whose downlink topics use the device name."""
    return make_entry(
        broker,
        ServerKind.MILESIGHT,
        **{
            CONF_APPLICATION_ID: "",
            CONF_UPLINK_TOPIC: "csocket/uplink/#",
            CONF_DOWNLINK_TOPIC: "csocket/downlink/$deviceName",
        },
    )


async def test_milesight_uplink_naming_another_socket(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The reported attack: socket A's uplink naming itself sock-victim."""
    entry = _by_device_name(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *milesight_uplink(OFF_REPORT, f_cnt=1))
    hostile = _renamed(milesight_uplink(OFF_REPORT, f_cnt=2), deviceName="sock-victim")
    await send_uplink(hass, broker, *hostile)
    # A name that cannot be a topic level is refused outright.
    wildcard = _renamed(
        milesight_uplink(OFF_REPORT, dev_eui=DEV_EUI_2, f_cnt=1), deviceName="x/#"
    )
    await send_uplink(hass, broker, *wildcard)
    assert set(entry.runtime_data.devices) == {DEV_EUI}
    reply = milesight_uplink(CHANGED_ON, f_cnt=3)
    topic = await _turn_on(hass, broker, "switch.fan_socket", reply)
    assert topic == "csocket/downlink/Fan socket"
    assert hass.states.get("switch.fan_socket").state == "on"


async def test_chirpstack_v4_body_application_never_addresses(
    hass: HomeAssistant, broker: Broker
) -> None:
    """deviceInfo.applicationId unlike the configured one: no device, no topic."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    escape = f"../../device/{DEV_EUI_2}"
    await send_uplink(
        hass,
        broker,
        *with_device_info(
            cs4_uplink(OFF_REPORT, dev_eui=DEV_EUI_2), applicationId=escape
        ),
    )
    # A base64 devEui is not ChirpStack v4's (JOEkFItBAAE= is 24e124148b410001).
    topic, payload = cs4_uplink(OFF_REPORT, dev_eui="JOEkFItBAAE=")
    await send_uplink(hass, broker, topic, payload)
    await send_uplink(hass, broker, *cs4_uplink(OFF_REPORT, f_cnt=1))
    assert set(entry.runtime_data.devices) == {DEV_EUI}
    reply = cs4_uplink(CHANGED_ON, f_cnt=2)
    topic = await _turn_on(hass, broker, "switch.kettle_socket", reply)
    assert topic == f"application/{APP_ID}/device/{DEV_EUI}/command/down"


async def test_unaddressable_identity_is_a_specific_error(
    hass: HomeAssistant, broker: Broker, hass_storage: dict[str, Any]
) -> None:
    """A name saved before csocket checked it: the action says what is wrong."""
    entry = _by_device_name(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *milesight_uplink(OFF_REPORT, f_cnt=1))
    assert await hass.config_entries.async_unload(entry.entry_id)
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    stored["devices"][DEV_EUI]["ref"]["device_name"] = "kitchen/+"
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    async with broker.capture("csocket/downlink/#") as captured:
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_ON,
                {ATTR_ENTITY_ID: "switch.fan_socket"},
                blocking=True,
            )
        await broker.publish("csocket/downlink/sentinel", b"")
        await captured.wait_for(1)
    assert captured.messages == [("csocket/downlink/sentinel", b"")]
    assert err.value.translation_key == "cannot_address_invalid_identity"
    assert "is not a valid MQTT topic level" in str(err.value)
    assert "kitchen/+" in str(err.value)


def test_every_downlink_error_code_has_its_message() -> None:
    """Each DownlinkError code reads as its own translated message."""
    messages = json.loads(
        (Path(csocket.__file__).parent / "translations" / "en.json").read_text()
    )["exceptions"]
    device_name = "Fan socket"
    keys = set()
    for code in (
        DOWNLINK_NOT_ADDRESSABLE,
        DOWNLINK_INVALID_REQUEST,
        DOWNLINK_INVALID_IDENTITY,
        DOWNLINK_TOPIC_MISMATCH,
    ):
        err = downlink_error(DownlinkError("detail", code), device_name)
        assert err.translation_placeholders == {"name": device_name, "error": "detail"}
        assert "{name}" in messages[err.translation_key]["message"]
        keys.add(err.translation_key)
    assert len(keys) == 4
