"""Persistence: the writer thread gets a snapshot built on the event loop."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .broker import Broker
from .common import (
    BASIC_INFO,
    DEV_EUI,
    DEV_EUI_2,
    ECHO_20_MIN,
    REPORT,
    cs4_uplink,
    make_entry,
    send_uplink,
    setup_entry,
    wait_for,
)


async def test_writer_thread_gets_a_loop_built_snapshot(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Point 7: no data function runs on the writer thread; nothing is shared.

    Home Assistant's delayed save calls its data function on a worker thread
    while the loop adds sockets ("dictionary changed size during iteration").
    """
    written: list[dict[str, Any]] = []
    # What goes to the executor in production (the test storage mocks it).
    write = Store._async_write_data

    # (self, path, data) up to 2025.11; (self, data) since 2025.12.
    async def spy(self: Store[Any], *args: Any) -> None:
        data: dict[str, Any] = args[-1]
        if self.key.startswith("csocket."):
            written.append({**data, "function": "data_func" in data})
        await write(self, *args)

    with patch.object(Store, "_async_write_data", spy):
        entry = make_entry(broker)
        await setup_entry(hass, entry)
        await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
        freezer.tick(timedelta(seconds=11))
        async_fire_time_changed(hass)
        await wait_for(hass, lambda: written)
        saved = written[-1]
        assert saved["function"] is False
        frozen = copy.deepcopy(saved["data"])
        # The loop goes on changing sockets after the snapshot was taken.
        await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=2))
        await send_uplink(
            hass, broker, *cs4_uplink(REPORT, dev_eui=DEV_EUI_2, name="Second")
        )
        assert saved["data"] == frozen
        assert set(frozen["devices"]) == {DEV_EUI}


async def test_steady_uplinks_do_not_postpone_the_save(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """A throttle, not a debounce.

    The new socket is saved 10 s after its first uplink, the interval it
    learned 10 s after the report that taught it; then reports every 5
    minutes, restating values, are saved 15 minutes after the first of them,
    not postponed by the next ones.
    """
    saves: list[float] = []
    save = Store.async_save

    async def spy(self: Store[Any], data: Any) -> None:
        if self.key.startswith("csocket."):
            saves.append(data["devices"][DEV_EUI]["values"]["voltage"])
        await save(self, data)

    with patch.object(Store, "async_save", spy):
        await setup_entry(hass, make_entry(broker))
        for f_cnt in range(1, 8):
            report = _report(2200 + f_cnt)
            await send_uplink(hass, broker, *cs4_uplink(report, f_cnt=f_cnt))
            for _ in range(30):  # 5 minutes in 10 s steps
                freezer.tick(timedelta(seconds=10))
                async_fire_time_changed(hass)
                await hass.async_block_till_done()
    # 0:10, a new socket; 10:10, the third report taught csocket the interval
    # (two equal gaps); 30:00, 15 minutes after the fourth report (with the
    # sixth report's values).
    assert saves == [220.1, 220.3, 220.6]


async def test_restated_values_wait_what_only_csocket_knows_does_not(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """New values that the next report restates are saved within 15 minutes.

    A setting the socket reported (it may never report it again) is saved
    within 10 s, and takes the waiting values with it.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    key = f"csocket.{entry.entry_id}"

    def saved() -> dict[str, Any]:
        data: dict[str, Any] = hass_storage[key]["data"]["devices"][DEV_EUI]
        return data

    await send_uplink(hass, broker, *cs4_uplink(_report(2200), f_cnt=1))
    await _advance(hass, freezer, 11)  # a new socket: its identity
    assert saved()["values"]["voltage"] == 220.0
    await send_uplink(hass, broker, *cs4_uplink(_report(2300), f_cnt=2))
    await _advance(hass, freezer, 11)
    assert saved()["values"]["voltage"] == 220.0
    assert saved()["f_cnt"] == 1
    await _advance(hass, freezer, 15 * 60 - 11)
    assert saved()["values"]["voltage"] == 230.0
    assert saved()["f_cnt"] == 2

    await send_uplink(hass, broker, *cs4_uplink(_report(2400), f_cnt=3))
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN, f_cnt=4))
    await _advance(hass, freezer, 11)
    assert saved()["values"]["report_interval"] == 1200
    assert saved()["values"]["voltage"] == 240.0


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: int
) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _report(decivolts: int) -> str:
    """REPORT with another voltage (channel 03, type 74, uint16 LE in 0.1 V)."""
    return REPORT.replace("0374f508", "0374" + decivolts.to_bytes(2, "little").hex())


async def test_saves_rebuild_only_sockets_that_changed(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Many uplinks to one socket: every save holds each socket's last values.

    A quiet socket's saved part is the very object of the previous save (it is
    not serialised again), while the busy socket's part follows every uplink.
    """
    written: list[dict[str, Any]] = []
    save = Store.async_save

    async def spy(self: Store[Any], data: Any) -> None:
        if self.key.startswith("csocket."):
            written.append(data)
        await save(self, data)

    async def save_now() -> dict[str, Any]:
        count = len(written)
        freezer.tick(timedelta(minutes=15, seconds=1))
        async_fire_time_changed(hass)
        await wait_for(hass, lambda: len(written) > count)
        return written[-1]["devices"]

    def voltage(devices: dict[str, Any], dev_eui: str) -> float:
        return float(devices[dev_eui]["values"]["voltage"])

    with patch.object(Store, "async_save", spy):
        await setup_entry(hass, make_entry(broker))
        await send_uplink(hass, broker, *cs4_uplink(_report(2200), f_cnt=1))
        await send_uplink(
            hass, broker, *cs4_uplink(_report(2300), dev_eui=DEV_EUI_2, f_cnt=1)
        )
        first = await save_now()
        assert voltage(first, DEV_EUI) == 220.0
        assert voltage(first, DEV_EUI_2) == 230.0
        for f_cnt in range(2, 12):
            await send_uplink(
                hass, broker, *cs4_uplink(_report(2200 + f_cnt), f_cnt=f_cnt)
            )
            devices = await save_now()
            assert voltage(devices, DEV_EUI) == (2200 + f_cnt) / 10
            assert devices[DEV_EUI]["ref"]["dev_eui"] == DEV_EUI
            assert devices[DEV_EUI_2] is first[DEV_EUI_2]
        # The quiet socket changes: its part follows, the other stays.
        await send_uplink(
            hass, broker, *cs4_uplink(_report(2310), dev_eui=DEV_EUI_2, f_cnt=2)
        )
        last = await save_now()
        assert voltage(last, DEV_EUI_2) == 231.0
        assert last[DEV_EUI] is devices[DEV_EUI]
        assert voltage(last, DEV_EUI) == 221.1


async def test_a_waiting_save_is_written_when_home_assistant_stops(
    hass: HomeAssistant, broker: Broker, hass_storage: dict[str, Any]
) -> None:
    """Home Assistant does not unload entries when it stops.

    The last uplink's values, still waiting for the save throttle, are written
    at Home Assistant's final write, as its own delayed saves are, instead of
    being lost with the timer.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(_report(2345), f_cnt=1))
    key = f"csocket.{entry.entry_id}"

    def saved_voltage() -> float | None:
        devices = hass_storage.get(key, {}).get("data", {}).get("devices", {})
        values = devices.get(DEV_EUI, {}).get("values", {})
        return values.get("voltage")

    assert saved_voltage() is None  # the throttle waits 10 s (test clock)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert saved_voltage() == 234.5


async def test_the_final_write_marks_the_saved_frame_counters_current(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A throttled save may be older than the last uplinks (15 minutes for
    restated values): only what Home Assistant's stop writes is marked clean,
    even when no save was waiting any more.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    key = f"csocket.{entry.entry_id}"
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass_storage[key]["data"]["devices"][DEV_EUI]["f_cnt"] == 1
    assert "clean" not in hass_storage[key]["data"]
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert hass_storage[key]["data"]["clean"] is True


async def test_a_clean_file_is_rewritten_within_10_s_of_the_first_change(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """After a start from a clean file, the file must stop claiming that its
    frame counters are current soon, or a crash would leave it trusted.
    Later restated values wait 15 minutes again.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    key = f"csocket.{entry.entry_id}"
    await send_uplink(hass, broker, *cs4_uplink(_report(2200), f_cnt=1))
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass_storage[key]["data"]["clean"] is True
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    def saved() -> dict[str, Any]:
        data: dict[str, Any] = hass_storage[key]["data"]
        return data

    await send_uplink(hass, broker, *cs4_uplink(_report(2300), f_cnt=2))
    await _advance(hass, freezer, 11)
    assert "clean" not in saved()
    assert saved()["devices"][DEV_EUI]["f_cnt"] == 2
    await send_uplink(hass, broker, *cs4_uplink(_report(2400), f_cnt=3))
    await _advance(hass, freezer, 11)
    assert saved()["devices"][DEV_EUI]["f_cnt"] == 2
    await _advance(hass, freezer, 15 * 60)
    assert saved()["devices"][DEV_EUI]["f_cnt"] == 3
