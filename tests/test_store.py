"""Persistence: the writer thread gets a snapshot built on the event loop."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .broker import Broker
from .common import (
    BASIC_INFO,
    DEV_EUI,
    DEV_EUI_2,
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
    """A throttle, not a debounce: an uplink every 5 s still saves every 10 s."""
    saves: list[int] = []
    save = Store.async_save

    async def spy(self: Store[Any], data: Any) -> None:
        if self.key.startswith("csocket."):
            saves.append(len(data["devices"]))
        await save(self, data)

    with patch.object(Store, "async_save", spy):
        await setup_entry(hass, make_entry(broker))
        for f_cnt in range(1, 6):
            await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=f_cnt))
            freezer.tick(timedelta(seconds=5))
            async_fire_time_changed(hass)
            await hass.async_block_till_done()
    assert len(saves) == 2
