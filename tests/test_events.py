"""Events, outages, the delay task and names, proven through the broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback

from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_DOWNLINK_TOPIC,
    CONF_UPLINK_TOPIC,
    ServerKind,
)

from .broker import Broker
from .common import (
    APP_ID,
    BASIC_INFO,
    DEV_EUI,
    REPORT,
    cs4_uplink,
    make_entry,
    milesight_uplink,
    registry_device,
    send_uplink,
    setup_entry,
    wait_for,
)

ALERT = "event.kettle_socket_alert"
OUTAGE = "binary_sensor.kettle_socket_power_outage"
DELAY_TASK = "sensor.kettle_socket_delay_task"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Protection on at 16 A (instead of the guide's 10 A), alarm off.
BASIC_INFO_16A = BASIC_INFO.replace("ff30010a", "ff300110").replace(
    "ff24010a", "ff240000"
)


def _alerts(hass: HomeAssistant) -> list[str]:
    """Record every event type the alert entity fires from now on."""
    fired: list[str] = []

    @callback
    def _changed(event: Event) -> None:
        new = event.data["new_state"]
        if (
            event.data["entity_id"] == ALERT
            and new is not None
            and (event_type := new.attributes.get("event_type"))
        ):
            fired.append(event_type)

    hass.bus.async_listen(EVENT_STATE_CHANGED, _changed)
    return fired


def _changed_off(current_ma: int) -> str:
    """A change report "switched off" carrying `current_ma` in the same frame."""
    return REPORT.replace("087001", "087010").replace(
        "07c91200", "07c9" + current_ma.to_bytes(2, "little").hex()
    )


async def test_any_uplink_after_outage_means_power_is_back(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 5: the join frame after a last gasp (no voltage) restores power."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    fired = _alerts(hass)
    await send_uplink(hass, broker, *cs4_uplink("ff3fff", f_cnt=2))
    assert hass.states.get(OUTAGE).state == "on"
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    assert hass.states.get(OUTAGE).state == "off"
    assert fired == ["power_outage", "power_restored"]


async def test_queued_outage_fires_at_start(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 6: events of uplinks queued while Home Assistant was down fire."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await broker.publish(*cs4_uplink("ff3fff", f_cnt=2), qos=1)
    await broker.publish(*cs4_uplink(BASIC_INFO, f_cnt=0), qos=1)
    fired = _alerts(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(hass, lambda: len(fired) == 2)
    assert fired == ["power_outage", "power_restored"]


async def test_protection_trip_uses_configured_threshold_and_same_frame(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 11: 14 A under a 16 A protection is no trip; an old current neither."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO_16A, f_cnt=1))
    fired = _alerts(hass)
    # Above 130 % of 10 A, below the configured 16 A: not a trip.
    await send_uplink(hass, broker, *cs4_uplink(_changed_off(14_000), f_cnt=2))
    # 17 A in a periodic report, then switched off with no current: no trip.
    on_17a = REPORT.replace("07c91200", "07c9" + (17_000).to_bytes(2, "little").hex())
    await send_uplink(hass, broker, *cs4_uplink(on_17a, f_cnt=3))
    await send_uplink(hass, broker, *cs4_uplink(_changed_off(0), f_cnt=4))
    # At the threshold in the switching frame itself: a trip.
    await send_uplink(hass, broker, *cs4_uplink(on_17a, f_cnt=5))
    await send_uplink(hass, broker, *cs4_uplink(_changed_off(16_500), f_cnt=6))
    assert fired == ["protection_trip"]


async def test_delay_task_echo_and_what_ends_a_task(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Point 13: the ff22 echo sets the task; energy reset keeps it, reboot ends it."""
    freezer.move_to(T0)
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    # Echo: task 00, 600 s, switch on.
    await send_uplink(hass, broker, *cs4_uplink("ff2200580211", f_cnt=2))
    state = hass.states.get(DELAY_TASK)
    assert state.state == (T0 + timedelta(seconds=600)).isoformat()
    assert state.attributes["action"] == "on"
    await send_uplink(hass, broker, *cs4_uplink("ff27ff", f_cnt=3))
    assert hass.states.get(DELAY_TASK).state == state.state
    await send_uplink(hass, broker, *cs4_uplink("ff10ff", f_cnt=4))
    assert hass.states.get(DELAY_TASK).state == "unknown"
    # An outage ends it too.
    await send_uplink(hass, broker, *cs4_uplink("ff2200580211", f_cnt=5))
    assert hass.states.get(DELAY_TASK).state != "unknown"
    await send_uplink(hass, broker, *cs4_uplink("ff3fff", f_cnt=6))
    assert hass.states.get(DELAY_TASK).state == "unknown"


async def test_rename_on_network_server_reaches_registry(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 14: a new name shows; Milesight `$deviceName` topics keep the first."""
    entry = make_entry(
        broker,
        ServerKind.MILESIGHT,
        **{
            CONF_APPLICATION_ID: "",
            CONF_UPLINK_TOPIC: "csocket/uplink/#",
            CONF_DOWNLINK_TOPIC: "csocket/downlink/$deviceName",
        },
    )
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *milesight_uplink(REPORT, f_cnt=1))
    assert registry_device(hass, DEV_EUI).name == "Fan socket"
    topic, body = milesight_uplink(REPORT, f_cnt=2)
    renamed = {**json.loads(body), "deviceName": "Desk fan"}
    await send_uplink(hass, broker, topic, json.dumps(renamed).encode())
    assert registry_device(hass, DEV_EUI).name == "Desk fan"
    async with broker.capture("csocket/downlink/#") as captured:
        await hass.services.async_call(
            "csocket",
            "refresh",
            {"device_id": registry_device(hass, DEV_EUI).id},
            blocking=True,
        )
        await captured.wait_for(1)
    assert captured.messages[0][0] == "csocket/downlink/Fan socket"


async def test_uplink_without_name_keeps_the_name(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 15: an application id without a device name is not "Socket XXXXXX"."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    topic, body = cs4_uplink(REPORT, f_cnt=2)
    data = json.loads(body)
    del data["deviceInfo"]["deviceName"]
    assert data["deviceInfo"]["applicationId"] == APP_ID
    await send_uplink(hass, broker, topic, json.dumps(data).encode())
    # The join frame's versions and serial number update the registry entry.
    topic, body = cs4_uplink(BASIC_INFO, f_cnt=0)
    data = json.loads(body)
    del data["deviceInfo"]["deviceName"]
    await send_uplink(hass, broker, topic, json.dumps(data).encode())
    device = registry_device(hass, DEV_EUI)
    assert (device.name, device.serial_number) == ("Kettle socket", "6148b13783621055")
