"""Setup, unload, restart, reconnect, availability and device removal."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_USERNAME,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.csocket.const import CONF_AVAILABILITY_FACTOR, DOMAIN
from custom_components.csocket.store import RELEASE

from .broker import Broker
from .common import (
    APP_ID,
    DEV_EUI,
    ECHO_20_MIN,
    REPORT,
    cs4_uplink,
    make_entry,
    registry_device,
    remove_device,
    send_uplink,
    setup_entry,
    wait_for,
)

VOLTAGE = "sensor.kettle_socket_voltage"
ENERGY = "sensor.kettle_socket_energy"
# REPORT with 9 Wh instead of 5 (channel 06, type 83, uint32 LE).
NINE_WH = REPORT.replace("068305000000", "068309000000")


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unload_reload_restores_values(
    hass: HomeAssistant, broker: Broker, entity_registry: er.EntityRegistry
) -> None:
    """After unload + load the same entities come back with their last values."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    unique_ids = {
        e.entity_id: e.unique_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    last_seen = hass.states.get("sensor.kettle_socket_last_seen").state

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"
    assert hass.states.get(ENERGY).state == "0.005"
    assert hass.states.get("switch.kettle_socket").state == "on"
    assert hass.states.get("sensor.kettle_socket_last_seen").state == last_seen
    assert {
        e.entity_id: e.unique_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    } == unique_ids
    assert unique_ids[VOLTAGE] == f"{DEV_EUI}_voltage"


async def test_after_a_crash_the_energy_total_waits_for_the_next_report(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Restated values are saved every 15 minutes; a crash loses the last ones.

    Restoring the older energy total would send Home Assistant's
    total_increasing sensor back (a dip in the energy statistics): it stays
    unknown until the socket's next report. The other values come back.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    key = f"{DOMAIN}.{entry.entry_id}"
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    freezer.tick(timedelta(seconds=11))  # a new socket: saved within 10 s
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await send_uplink(hass, broker, *cs4_uplink(NINE_WH, f_cnt=2))
    assert hass.states.get(ENERGY).state == "0.009"
    crash_save = copy.deepcopy(hass_storage[key])
    assert crash_save["data"]["devices"][DEV_EUI]["values"]["power_consumption"] == 5
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass_storage[key] = crash_save  # what a crash leaves behind

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(ENERGY).state == STATE_UNKNOWN
    assert hass.states.get(VOLTAGE).state == "229.3"
    assert hass.states.get("switch.kettle_socket").state == "on"
    await send_uplink(hass, broker, *cs4_uplink(NINE_WH, f_cnt=3))
    assert hass.states.get(ENERGY).state == "0.009"


async def test_uplinks_while_unloaded_are_delivered(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The persistent session queues QoS 1 uplinks while Home Assistant is away."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    assert await hass.config_entries.async_unload(entry.entry_id)

    # 5 Wh -> 9 Wh while the integration is not running.
    await broker.publish(*cs4_uplink(NINE_WH, f_cnt=2), qos=1)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(hass, lambda: hass.states.get(ENERGY).state == "0.009")


async def test_reconnects_after_broker_restart(
    hass: HomeAssistant, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker goes away and comes back: the next uplink is processed."""
    caplog.set_level(logging.INFO, logger="custom_components.csocket")
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    hub = entry.runtime_data
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))

    with patch("custom_components.csocket.transport.RECONNECT_MIN", 0.05):
        broker.stop()
        await wait_for(hass, lambda: not hub.transport.connected)
        # Entities keep their values: the socket itself did not go away.
        assert hass.states.get(VOLTAGE).state == "229.3"
        await asyncio.sleep(0.2)
        broker.start()
        await wait_for(hass, lambda: hub.transport.connected, timeout=10)

    later = REPORT.replace("0374f508", "0374fe08")  # 230.2 V
    await send_uplink(hass, broker, *cs4_uplink(later, f_cnt=2))
    assert hass.states.get(VOLTAGE).state == "230.2"
    assert caplog.text.count("lost") == 1
    assert caplog.text.count("restored") == 1


async def test_setup_retries_when_broker_unreachable(
    hass: HomeAssistant, broker: Broker
) -> None:
    """No broker: the entry is retried later (ConfigEntryNotReady)."""
    entry = make_entry(broker)
    broker.stop()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    broker.start()


async def test_a_failed_start_leaves_nothing_running(
    hass: HomeAssistant,
    broker: Broker,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A set-up that cannot connect leaves no timer of its sockets behind.

    The restored socket's availability timer is armed before the connection
    is tried; left running, it would act for a hub that is gone (the test
    harness fails on a timer left after the test). Nothing writes the saved
    state later either, and it does not claim the entities were registered.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT))
    assert await hass.config_entries.async_unload(entry.entry_id)
    # Saved by another release: this one has not yet registered its entities.
    hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"][RELEASE] = "0.0.1"
    broker.stop()
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    saved = copy.deepcopy(hass_storage[f"{DOMAIN}.{entry.entry_id}"])
    # The failed start built no entity: the next one must still hand them all.
    assert saved["data"][RELEASE] == "0.0.1"
    # Past the socket's window (restarted by the set-up), then any save delay.
    for step in (timedelta(hours=6), timedelta(minutes=20)):
        freezer.tick(step)
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}"] == saved
    broker.start()


@pytest.mark.usefixtures("allow_loopback")
async def test_bad_credentials_start_reauth(hass: HomeAssistant, tmp_path) -> None:
    """Rejected credentials fail setup with an auth error and start reauth."""
    passwords = tmp_path / "passwd"
    passwords.write_text("")
    secured = Broker(
        tmp_path / "secured",
        extra_config=f"allow_anonymous false\npassword_file {passwords}\n",
    )
    secured.start()
    try:
        entry = make_entry(secured, **{CONF_USERNAME: "user", CONF_PASSWORD: "wrong"})
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_ERROR
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    finally:
        secured.stop()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_availability_window(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Unavailable only after interval x factor + a grace minute without uplinks."""
    entry = make_entry(broker, options={CONF_AVAILABILITY_FACTOR: 2.0})
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT))
    assert hass.states.get(VOLTAGE).state == "229.3"

    # Interval 20 min: 2 x 20 min + 60 s = 41 min.
    freezer.tick(timedelta(minutes=40, seconds=59))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"

    freezer.tick(timedelta(seconds=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE
    # The outlet's last state is stale once the socket stops reporting; the
    # buttons and settings stay usable while the broker connection is up.
    assert hass.states.get("switch.kettle_socket").state == STATE_UNAVAILABLE
    assert hass.states.get("button.kettle_socket_refresh").state != STATE_UNAVAILABLE

    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    assert hass.states.get(VOLTAGE).state == "229.3"


async def test_restart_keeps_availability(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """A restart never makes an available socket unavailable by itself.

    Uplinks sent while Home Assistant was down may be lost (QoS 0 servers), so
    the window of a socket that was available restarts when csocket starts.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT))
    assert await hass.config_entries.async_unload(entry.entry_id)
    freezer.tick(timedelta(hours=2))  # longer than the 51 min window
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"
    # ... and the window runs again from the restart: 20 min x 2.5 + 1 min.
    freezer.tick(timedelta(minutes=50))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"
    freezer.tick(timedelta(minutes=1, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE


async def test_unavailable_socket_stays_unavailable_after_restart(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """A socket that had already gone quiet is not revived by a restart."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT))
    freezer.tick(timedelta(hours=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE


async def test_a_restart_leaves_out_disabled_entities_until_enabled(
    hass: HomeAssistant,
    broker: Broker,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Disabled entities are not handed to Home Assistant at a restart.

    The first start of another csocket release hands them over once, so their
    registry entries get that release's names and units. Enabling one (Home
    Assistant reloads the entry 30 s later) brings it back with the socket's
    value, whether the user or the integration disabled it.
    """
    caplog.set_level(logging.DEBUG)
    signal = "sensor.kettle_socket_signal_strength"
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    # A new socket's entities all go to the platform, which registers the
    # disabled-by-default ones and drops them (and says so at debug level).
    assert "because it's disabled" in caplog.text
    registered = entity_registry.async_get(signal)
    assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    name = registered.original_name
    assert name
    # As an earlier release might have named it.
    entity_registry.async_update_entity(signal, original_name="Old name")
    assert hass.states.get(VOLTAGE).state == "229.3"
    energy = hass.states.get(ENERGY).state
    entity_registry.async_update_entity(
        VOLTAGE, disabled_by=er.RegistryEntryDisabler.USER
    )
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE) is None

    caplog.clear()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert "because it's disabled" not in caplog.text
    assert entity_registry.async_get(signal).original_name == "Old name"
    assert hass.states.get(VOLTAGE) is None
    assert hass.states.get(signal) is None
    assert hass.states.get(ENERGY).state == energy

    # The saved state of another release: everything goes to the platform.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"][RELEASE] = "0.0.1"
    caplog.clear()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert "because it's disabled" in caplog.text
    assert entity_registry.async_get(signal).original_name == name
    assert hass.states.get(VOLTAGE) is None
    assert hass.states.get(ENERGY).state == energy

    entity_registry.async_update_entity(VOLTAGE, disabled_by=None)
    entity_registry.async_update_entity(signal, disabled_by=None)
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"
    assert hass.states.get(signal).state == "-60"


async def test_remove_stale_device(
    hass: HomeAssistant,
    broker: Broker,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The user can delete a socket; it is forgotten until it reports again."""
    assert await async_setup_component(hass, "config", {})
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    device = registry_device(hass, DEV_EUI)
    assert device is not None

    client = await hass_ws_client(hass)
    response = await remove_device(client, device.id, entry.entry_id)
    assert response["success"]
    await hass.async_block_till_done()
    assert registry_device(hass, DEV_EUI) is None
    assert DEV_EUI not in entry.runtime_data.devices

    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=5))
    assert registry_device(hass, DEV_EUI)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_seen_is_receive_time(hass: HomeAssistant, broker: Broker) -> None:
    """Last seen is when the uplink arrived."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    before = dt_util.utcnow().replace(microsecond=0)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    seen = dt_util.parse_datetime(
        hass.states.get("sensor.kettle_socket_last_seen").state
    )
    assert seen is not None
    assert seen >= before


async def test_outage_stays_visible_while_socket_is_silent(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """After a last-gasp ff3fff the socket goes quiet; the outage stays on."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT, f_cnt=1))
    await send_uplink(hass, broker, *cs4_uplink("ff3fff", f_cnt=2))
    freezer.tick(timedelta(hours=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.kettle_socket_power_outage").state == "on"


async def test_frame_repeated_after_rejoin_is_processed(
    hass: HomeAssistant, broker: Broker
) -> None:
    """After a reboot the counter restarts: the same bytes at fCnt 0 are new."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=0))
    join = {
        "deviceInfo": {"applicationId": APP_ID, "devEui": DEV_EUI},
        "devAddr": "00189440",
    }
    await send_uplink(
        hass,
        broker,
        f"application/{APP_ID}/device/{DEV_EUI}/event/join",
        json.dumps(join).encode(),
    )
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=0))
    assert len(entry.runtime_data.devices[DEV_EUI].frames) == 2


async def test_options_change_reloads_entry(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Options saved in the options flow take effect through a reload.

    Neither a new title nor options saved unchanged reload the entry.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    hub = entry.runtime_data
    hass.config_entries.async_update_entry(entry, title="renamed")
    await hass.async_block_till_done()
    assert entry.runtime_data is hub

    async def save_options(changes: dict[str, Any]) -> None:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], changes
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()

    await save_options({CONF_AVAILABILITY_FACTOR: 4.0})
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not hub
    assert entry.runtime_data.availability_factor == 4.0

    hub = entry.runtime_data
    await save_options({})  # the form's defaults are the saved options
    assert entry.runtime_data is hub


async def test_credentials_rejected_later_start_reauth(
    hass: HomeAssistant, broker: Broker, tmp_path
) -> None:
    """The broker starts requiring a password: csocket stops retrying and asks."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    passwords = tmp_path / "passwd"
    passwords.write_text("")
    with patch("custom_components.csocket.transport.RECONNECT_MIN", 0.05):
        broker.stop()
        broker.extra_config = f"allow_anonymous false\npassword_file {passwords}\n"
        broker.start()
        await wait_for(
            hass,
            lambda: (
                [
                    flow["context"]["source"]
                    for flow in hass.config_entries.flow.async_progress_by_handler(
                        DOMAIN
                    )
                ]
                == ["reauth"]
            ),
            timeout=10,
        )
    assert not entry.runtime_data.transport.connected
