"""Diagnostics: redacted configuration, raw frames, decoded values, link quality."""

from __future__ import annotations

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.csocket.const import FRAME_HISTORY
from custom_components.csocket.diagnostics import async_get_config_entry_diagnostics

from .broker import Broker
from .common import (
    BASIC_INFO,
    DEV_EUI,
    DEV_EUI_2,
    ECHO_20_MIN,
    REPORT,
    cs4_uplink,
    make_entry,
    registry_device,
    send_uplink,
    setup_entry,
)

# The serial number inside BASIC_INFO (record ff16).
SERIAL = "6148b13783621055"


async def test_diagnostics(
    hass: HomeAssistant, broker: Broker, hass_client: ClientSessionGenerator
) -> None:
    """Secrets are redacted; each socket shows its frames and link quality."""
    # Anonymous broker: the credentials are stored but not needed.
    entry = make_entry(
        broker, **{CONF_USERNAME: "app@ttn", CONF_PASSWORD: "NNSXS.secret"}
    )
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert "NNSXS.secret" not in str(result)
    assert "app@ttn" not in str(result)
    data = result["entry"]["data"]
    assert data[CONF_PASSWORD] == "**REDACTED**"
    assert data[CONF_USERNAME] == "**REDACTED**"
    assert result["connected"] is True

    device = result["devices"][DEV_EUI]
    assert [f["payload"] for f in device["frames"]] == [
        BASIC_INFO.replace(SERIAL, "x" * 16),
        REPORT,
    ]
    assert [f["frame_counter"] for f in device["frames"]] == [0, 1]
    assert device["frames"][1]["decoded"]["voltage"] == 229.3
    assert device["frames"][0]["decoded"]["sn"] == "**REDACTED**"
    assert device["frames"][0]["decoded"]["hardware_version"]
    assert device["link"] == {
        "rssi": -60,
        "snr": 9.5,
        "frame_counter": 1,
        "gateways": 2,
    }
    assert device["values"]["power_consumption"] == 5
    assert device["network_server"]["device_name"] == "Kettle socket"
    assert device["available"] is True


async def test_frame_history(
    hass: HomeAssistant, broker: Broker, hass_client: ClientSessionGenerator
) -> None:
    """The last FRAME_HISTORY frames, oldest first, each decoded on its own."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    count = FRAME_HISTORY + 2
    for f_cnt in range(count):
        payload = REPORT if f_cnt % 2 else ECHO_20_MIN
        await send_uplink(hass, broker, *cs4_uplink(payload, f_cnt=f_cnt))

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    frames = result["devices"][DEV_EUI]["frames"]
    assert [f["frame_counter"] for f in frames] == list(range(2, count))
    for frame in frames:
        if frame["frame_counter"] % 2:
            assert frame["payload"] == REPORT
            assert frame["decoded"]["voltage"] == 229.3
            assert "report_interval" not in frame["decoded"]
        else:
            assert frame["payload"] == ECHO_20_MIN
            assert frame["decoded"] == {"report_interval": 1200}


async def test_redaction_policy(
    hass: HomeAssistant, broker: Broker, hass_client: ClientSessionGenerator
) -> None:
    """Broker host (data and title), serial numbers and the raw SN bytes."""
    entry = make_entry(broker)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, title=f"ChirpStack v4 · {broker.host}"
    )
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=0))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))

    for result in (
        await get_diagnostics_for_config_entry(hass, hass_client, entry),
        await get_diagnostics_for_device(
            hass, hass_client, entry, registry_device(hass, DEV_EUI)
        ),
    ):
        text = str(result)
        assert SERIAL not in text
        assert broker.host not in text
        assert result["entry"]["data"]["host"] == "**REDACTED**"
        assert result["entry"]["title"] == "ChirpStack v4 · **REDACTED**"
        assert result["devices"][DEV_EUI]["values"]["sn"] == "**REDACTED**"
        # The DevEUI stays: it is how network server logs name the socket.
        assert DEV_EUI in text


async def test_device_diagnostics(
    hass: HomeAssistant, broker: Broker, hass_client: ClientSessionGenerator
) -> None:
    """Device diagnostics show only that socket."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    await send_uplink(
        hass, broker, *cs4_uplink(REPORT, f_cnt=1, dev_eui=DEV_EUI_2, name="Other")
    )
    device = registry_device(hass, DEV_EUI)
    result = await get_diagnostics_for_device(hass, hass_client, entry, device)
    assert list(result["devices"]) == [DEV_EUI]
    assert result["devices"][DEV_EUI]["frames"][0]["payload"] == REPORT


async def test_commands_in_flight(hass: HomeAssistant, broker: Broker) -> None:
    """A command waiting for the socket's confirmation shows with its state."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT.replace("087001", "087000")))
    async with broker.capture("application/+/device/+/command/down") as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                "switch", "turn_on", {"entity_id": "switch.kettle_socket"}, True
            )
        )
        await captured.wait_for(1)
        # Called directly: the HTTP view would wait for the pending action.
        result = await async_get_config_entry_diagnostics(hass, entry)
        [command] = result["devices"][DEV_EUI]["commands_in_flight"]
        # Published, not yet reported on air by the network server.
        assert (command["state"], command["payload"]) == ("queued", "080100ffff28ff")
        assert command["published_at"] is not None
        await send_uplink(
            hass, broker, *cs4_uplink(REPORT.replace("087001", "087011"), f_cnt=2)
        )
        await task
    result = await async_get_config_entry_diagnostics(hass, entry)
    assert result["devices"][DEV_EUI]["commands_in_flight"] == []
