"""Uplinks from every network server become devices and entity states."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components import csocket
from custom_components.csocket import PLATFORMS
from custom_components.csocket.const import CONF_AUTO_ADD, CONF_DEV_EUIS, DOMAIN
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_TENANT_ID,
    CONF_UPLINK_TOPIC,
    ServerKind,
)

from .broker import Broker
from .common import (
    BASIC_INFO,
    DEV_EUI,
    DEV_EUI_2,
    REPORT,
    cs3_uplink,
    cs4_uplink,
    make_entry,
    milesight_uplink,
    registry_device,
    send_uplink,
    setup_entry,
    tts_uplink,
)


def _states(hass: HomeAssistant, prefix: str) -> dict[str, str]:
    return {
        s.entity_id: s.state
        for s in hass.states.async_all()
        if s.entity_id.split(".", 1)[1].startswith(prefix)
    }


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_entities_snapshot(
    hass: HomeAssistant,
    broker: Broker,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
    platform: Platform,
) -> None:
    """Every entity of each platform with its unit, class and state."""
    # last_seen in the snapshot must not depend on the clock.
    freezer.move_to(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    entry = make_entry(broker)
    with patch("custom_components.csocket.PLATFORMS", [platform]):
        await setup_entry(hass, entry)
        await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
        await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
        await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_chirpstack_v4_report_and_device_info(
    hass: HomeAssistant, broker: Broker, device_registry: dr.DeviceRegistry
) -> None:
    """The guide's frames via ChirpStack v4: measurements and device info."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))

    device = registry_device(hass, DEV_EUI)
    assert device is not None
    assert device.name == "Kettle socket"
    assert device.manufacturer == "Milesight"
    assert device.model_id == "WS523"
    assert device.serial_number == "6148b13783621055"
    assert device.hw_version == "v1.0"
    assert device.sw_version == "v1.3"

    voltage = hass.states.get("sensor.kettle_socket_voltage")
    assert voltage is not None
    assert voltage.state == "229.3"
    assert voltage.attributes["unit_of_measurement"] == "V"
    current = hass.states.get("sensor.kettle_socket_current")
    assert current is not None
    assert (current.state, current.attributes["unit_of_measurement"]) == ("0.018", "A")
    energy = hass.states.get("sensor.kettle_socket_energy")
    assert energy is not None
    assert energy.state == "0.005"
    assert energy.attributes["device_class"] == "energy"
    assert energy.attributes["state_class"] == "total_increasing"
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert hass.states.get("sensor.kettle_socket_power").state == "1"
    assert hass.states.get("sensor.kettle_socket_power_factor").state == "41"
    assert hass.states.get("switch.kettle_socket").state == "on"
    assert hass.states.get("sensor.kettle_socket_signal_strength").state == "-60"
    # Thresholds and lock come from the join frame.
    assert (
        hass.states.get("number.kettle_socket_overcurrent_alarm_threshold").state
        == "10"
    )
    assert hass.states.get("switch.kettle_socket_button_lock").state == "on"
    assert hass.states.get("binary_sensor.kettle_socket_overcurrent").state == "off"


@pytest.mark.parametrize(
    ("kind", "data", "uplink", "name", "rssi"),
    [
        (
            ServerKind.CHIRPSTACK_V3,
            {CONF_APPLICATION_ID: "12"},
            cs3_uplink,
            "heater_socket",
            "-71",
        ),
        (
            ServerKind.TTS_V3,
            {CONF_APPLICATION_ID: "sockets", CONF_TENANT_ID: "ttn"},
            tts_uplink,
            "desk_lamp",
            "-88",
        ),
        (
            ServerKind.MILESIGHT,
            {CONF_APPLICATION_ID: "", CONF_UPLINK_TOPIC: "csocket/uplink/#"},
            milesight_uplink,
            "fan_socket",
            "-51",
        ),
    ],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_other_network_servers(
    hass: HomeAssistant,
    broker: Broker,
    kind: ServerKind,
    data: dict[str, str],
    uplink: object,
    name: str,
    rssi: str,
) -> None:
    """ChirpStack v3, TTS and Milesight uplinks give the same entities."""
    await setup_entry(hass, make_entry(broker, kind, **data))
    await send_uplink(hass, broker, *uplink(REPORT))  # type: ignore[operator]
    assert hass.states.get(f"sensor.{name}_voltage").state == "229.3"
    assert hass.states.get(f"sensor.{name}_energy").state == "0.005"
    assert hass.states.get(f"switch.{name}").state == "on"
    assert hass.states.get(f"sensor.{name}_signal_strength").state == rssi


async def test_power_outage(hass: HomeAssistant, broker: Broker) -> None:
    """ff3fff turns the outage on; the next report with voltage turns it off."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    outage = "binary_sensor.kettle_socket_power_outage"
    assert hass.states.get(outage).state == "off"
    await send_uplink(hass, broker, *cs4_uplink("ff3fff", f_cnt=2))
    assert hass.states.get(outage).state == "on"
    event = hass.states.get("event.kettle_socket_alert")
    assert event.attributes["event_type"] == "power_outage"
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=3))
    assert hass.states.get(outage).state == "off"
    assert hass.states.get("event.kettle_socket_alert").attributes["event_type"] == (
        "power_restored"
    )
    await send_uplink(hass, broker, *cs4_uplink("ff3fff", f_cnt=4))
    await send_uplink(hass, broker, *cs4_uplink("ff3f00", f_cnt=5))
    assert hass.states.get(outage).state == "off"


async def test_overcurrent(hass: HomeAssistant, broker: Broker) -> None:
    """Current at the alarm threshold sets the problem sensor and fires the event."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))  # alarm at 10 A
    # 10000 mA = 0x2710 -> "07c91027"
    high = "08700105812907c910270374f508068305000000048001000000"
    await send_uplink(hass, broker, *cs4_uplink(high, f_cnt=1))
    assert hass.states.get("binary_sensor.kettle_socket_overcurrent").state == "on"
    assert hass.states.get("event.kettle_socket_alert").attributes["event_type"] == (
        "overcurrent_alarm"
    )
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    assert hass.states.get("binary_sensor.kettle_socket_overcurrent").state == "off"


async def test_protection_trip_event(hass: HomeAssistant, broker: Broker) -> None:
    """A change report switching off at the protection threshold is a trip."""
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    trip = "08701005812907c910270374f508068305000000048001000000"
    await send_uplink(hass, broker, *cs4_uplink(trip, f_cnt=1))
    assert hass.states.get("switch.kettle_socket").state == "off"
    assert hass.states.get("event.kettle_socket_alert").attributes["event_type"] == (
        "protection_trip"
    )


async def test_ignored_messages(
    hass: HomeAssistant,
    broker: Broker,
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Other FPorts, other device types and malformed JSON create nothing."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    caplog.set_level(logging.DEBUG, logger="custom_components.csocket")
    topic, _ = cs4_uplink(REPORT)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_port=10))
    # A temperature sensor (Milesight EM300 record 0367) on FPort 85 ...
    await send_uplink(hass, broker, *cs4_uplink("0367ea00", dev_eui=DEV_EUI_2))
    # ... and its join frame, whose records every Milesight device shares.
    await send_uplink(
        hass, broker, *cs4_uplink("ff0101ff090140ff0a0114ff0f02", dev_eui=DEV_EUI_2)
    )
    await send_uplink(hass, broker, topic, b"{not json")
    await send_uplink(hass, broker, topic, b"\x0a\x10protobuf")
    assert dr.async_entries_for_config_entry(device_registry, entry.entry_id) == []
    assert entry.runtime_data.ignored_count == 3
    assert "does not speak the WS523 protocol" in caplog.text
    # The stream goes on: a good uplink still works afterwards.
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=9))
    assert hass.states.get("sensor.kettle_socket_voltage").state == "229.3"


async def test_only_listed_sockets(hass: HomeAssistant, broker: Broker) -> None:
    """With auto-add off, only listed DevEUIs become devices."""
    entry = make_entry(
        broker, options={CONF_AUTO_ADD: False, CONF_DEV_EUIS: [DEV_EUI_2]}
    )
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    await send_uplink(
        hass, broker, *cs4_uplink(REPORT, dev_eui=DEV_EUI_2, name="Listed socket")
    )
    assert set(entry.runtime_data.devices) == {DEV_EUI_2}
    assert hass.states.get("sensor.listed_socket_voltage").state == "229.3"


async def test_duplicate_uplink_processed_once(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The same frame from two gateways (or a redelivery) is handled once."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    uplink = cs4_uplink(REPORT, f_cnt=7)
    await send_uplink(hass, broker, *uplink)
    await send_uplink(hass, broker, *uplink)
    assert len(entry.runtime_data.devices[DEV_EUI].frames) == 1


async def test_protobuf_raises_repair_issue(
    hass: HomeAssistant,
    broker: Broker,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """ChirpStack with json=false: a repair issue tells the user; JSON clears it.

    Only once no Protobuf came for 10 minutes: a stream mixing both keeps one
    issue rather than recreating it for every binary message after JSON.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    topic, _ = cs4_uplink(REPORT)
    # An UplinkEvent in Protobuf starts with field 1 (deduplication_id), tag 0x0a.
    await send_uplink(hass, broker, topic, b"\x0a\x243ac7e3c4-4401-4b8d-9386-a5c9")
    issue = issue_registry.async_get_issue(
        DOMAIN, f"chirpstack_protobuf_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "chirpstack_protobuf"
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    assert (
        issue_registry.async_get_issue(DOMAIN, f"chirpstack_protobuf_{entry.entry_id}")
        == issue
    )
    freezer.tick(timedelta(minutes=10))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    assert (
        issue_registry.async_get_issue(DOMAIN, f"chirpstack_protobuf_{entry.entry_id}")
        is None
    )


async def test_protobuf_from_chirpstack_v3_names_the_v3_fix(
    hass: HomeAssistant, broker: Broker, issue_registry: ir.IssueRegistry
) -> None:
    """v3 needs marshaler="json_v3", not v4's json=true."""
    entry = make_entry(broker, ServerKind.CHIRPSTACK_V3, application_id="12")
    await setup_entry(hass, entry)
    topic, _ = cs3_uplink(REPORT)
    await send_uplink(hass, broker, topic, b"\x08\x0c\x12\x07sockets")
    issue = issue_registry.async_get_issue(
        DOMAIN, f"chirpstack_protobuf_{entry.entry_id}"
    )
    assert issue is not None
    strings = json.loads(
        (Path(csocket.__file__).parent / "translations" / "en.json").read_text()
    )["issues"][issue.translation_key]
    assert 'marshaler="json_v3"' in strings["description"]
    assert "json=true" not in strings["description"]
