"""The energy sensor is accepted by the Energy dashboard's own validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from .broker import Broker
from .common import REPORT, cs4_uplink, make_entry, send_uplink, setup_entry


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None
) -> None:
    """The recorder must start before custom integrations are enabled."""


async def test_energy_dashboard_accepts_sensor(
    hass: HomeAssistant,
    broker: Broker,
    hass_ws_client: WebSocketGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Added as device consumption, the sensor passes energy/validate."""
    assert await async_setup_component(hass, "energy", {})
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    # Compile the statistics of the period the state was recorded in.
    await async_wait_recording_done(hass)
    freezer.tick(timedelta(minutes=5))
    do_adhoc_statistics(hass)
    await async_wait_recording_done(hass)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "energy/save_prefs",
            "device_consumption": [{"stat_consumption": "sensor.kettle_socket_energy"}],
        }
    )
    assert (await client.receive_json())["success"]
    await client.send_json_auto_id({"type": "energy/validate"})
    response = await client.receive_json()
    assert response["success"]
    assert response["result"]["device_consumption"] == [[]]
