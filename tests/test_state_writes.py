"""State writes: only what changed is written; a restart restores every socket."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .broker import Broker
from .common import REPORT, cs4_uplink, make_entry, send_uplink, setup_entry

VOLTAGE = "sensor.kettle_socket_voltage"
# REPORT with 230.4 V instead of 229.3 V.
REPORT_230V = REPORT.replace("0374f508", "03740009")


def _count_writes(hass: HomeAssistant) -> Counter[str]:
    """State writes per entity from now on.

    Home Assistant fires `state_reported` for a write that changes nothing and
    `state_changed` for one that does: both count as writes here.
    """
    writes: Counter[str] = Counter()

    @callback
    def _count(event: Event) -> None:
        writes[event.data["entity_id"]] += 1

    @callback
    def _every(_data: object) -> bool:
        return True

    hass.bus.async_listen(EVENT_STATE_CHANGED, _count)
    hass.bus.async_listen(EVENT_STATE_REPORTED, _count, event_filter=_every)
    return writes


async def test_repeated_values_write_only_last_seen(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    entity_registry_enabled_by_default: None,
) -> None:
    """An uplink repeating the same values writes only its receive time."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"

    writes = _count_writes(hass)
    freezer.tick(timedelta(seconds=30))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    # Sentinel: the next frame (same connection, so in order) changes the voltage.
    freezer.tick(timedelta(seconds=30))
    await send_uplink(hass, broker, *cs4_uplink(REPORT_230V, f_cnt=3))
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "230.4"

    # Every entity enabled: only the link facts that change with each frame
    # (receive time, frame counter) are written, and the changed voltage once.
    assert writes == {
        "sensor.kettle_socket_last_seen": 2,
        "sensor.kettle_socket_frame_counter": 2,
        VOLTAGE: 1,
    }


async def test_restart_restores_every_known_socket(
    hass: HomeAssistant, broker: Broker, entity_registry: er.EntityRegistry
) -> None:
    """Every known socket comes back with its entities and last values."""
    euis = [f"24e124148b{n:06x}" for n in range(1, 6)]
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    for n, eui in enumerate(euis):
        # 229.3 V + n x 0.1 V, one name per socket.
        report = REPORT.replace(
            "0374f508", f"0374{(2293 + n).to_bytes(2, 'little').hex()}"
        )
        await send_uplink(
            hass, broker, *cs4_uplink(report, dev_eui=eui, name=f"Socket {n}")
        )
    await hass.async_block_till_done()
    entity_ids = {
        e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if not e.disabled
    }
    states = {entity_id: hass.states.get(entity_id).state for entity_id in entity_ids}
    # 16 enabled by default per socket (link details, Last seen and rarely
    # used controls are not).
    assert len(entity_ids) == 5 * 16

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    writes = _count_writes(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert {
        entity_id: hass.states.get(entity_id).state for entity_id in entity_ids
    } == states
    # Each written once: the controls, available while the broker connection
    # is up, do not start unavailable and get written again when it comes up.
    assert writes == dict.fromkeys(entity_ids, 1)
    for n in range(5):
        assert (
            hass.states.get(f"sensor.socket_{n}_voltage").state
            == f"{229.3 + n / 10:.1f}"
        )
        assert hass.states.get(f"switch.socket_{n}").state == "on"
