"""Entity metadata, the one settings table, and README's examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.csocket.const import DOMAIN
from custom_components.csocket.settings import INTERVAL, SETTINGS, THRESHOLD

from .broker import Broker
from .common import (
    BASIC_INFO,
    DEV_EUI,
    REPORT,
    cs4_uplink,
    downlink_payloads,
    make_entry,
    registry_device,
    send_uplink,
    setup_entry,
    wait_for,
)

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / DOMAIN


def _number_selectors(node: Any) -> dict[str, dict[str, Any]]:
    """Field name -> number selector, over every action of services.yaml."""
    found: dict[str, dict[str, Any]] = {}
    for action in node.values():
        for name, field in (action.get("fields") or {}).items():
            if number := (field.get("selector") or {}).get("number"):
                found.setdefault(name, number)
                assert found[name] == number, f"{name} differs between actions"
    return found


def test_services_yaml_ranges_equal_the_table() -> None:
    """services.yaml cannot import Python: its ranges must equal the table."""
    spec = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    selectors = _number_selectors(spec)
    assert set(selectors) == {"threshold", "interval", "f_port"}
    for name, number in selectors.items():
        setting = SETTINGS[name]
        assert (number["min"], number["max"]) == (setting.min, setting.max), name
        assert number.get("unit_of_measurement", "") == setting.unit, name


def test_readme_ranges_equal_the_table() -> None:
    """README states each range as the table has it."""
    readme = (ROOT / "README.md").read_text()
    for setting in (THRESHOLD, INTERVAL):
        text = f"{setting.min}\N{EN DASH}{setting.max} {setting.unit}"
        assert text in readme, text
    assert "`delay` (1 s \N{EN DASH} 18:12:15)" in readme
    assert SETTINGS["delay"].max == 18 * 3600 + 12 * 60 + 15


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entity_names_unique_and_counter_has_no_statistics(
    hass: HomeAssistant, broker: Broker, entity_registry: er.EntityRegistry
) -> None:
    """Point 10 and 16: no two entities share a name; the counter is no measurement."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=1))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    names = [
        hass.states.get(e.entity_id).name
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    ]
    assert len(names) == len(set(names)), sorted(names)
    counter = hass.states.get("sensor.kettle_socket_frame_counter")
    assert counter.state == "2"
    assert "state_class" not in counter.attributes
    number = hass.states.get("number.kettle_socket_reporting_interval")
    assert (number.attributes["min"], number.attributes["max"]) == (
        INTERVAL.min,
        INTERVAL.max,
    )


async def test_readme_protect_and_report_example(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 16: the "16 A and every 5 minutes" example sets both."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Protect a 16 A circuit and report every 5 minutes:")[1]
    example = yaml.safe_load(block.split("```yaml")[1].split("```")[0])
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    device = registry_device(hass, DEV_EUI)
    assert device is not None
    async with broker.capture("application/+/device/+/command/down") as captured:
        for step in example["actions"]:
            domain, service = step["action"].split(".")
            data = {**step["data"], "device_id": device.id}
            await hass.services.async_call(domain, service, data, blocking=True)
        await wait_for(hass, lambda: len(captured.messages) == 2, settle=False)
    assert downlink_payloads(captured) == ["ff300110", "ff032c01"]
