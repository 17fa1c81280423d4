"""Availability: the learned reporting interval, window restarts, quiet sockets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.csocket import availability
from custom_components.csocket.availability import AvailabilityTracker, ReportClock
from custom_components.csocket.const import DOMAIN
from custom_components.csocket.device import SocketDevice
from custom_components.csocket.network_servers import DeviceRef

from .broker import Broker
from .common import (
    BASIC_INFO,
    DEV_EUI,
    ECHO_20_MIN,
    REPORT,
    cs4_uplink,
    make_entry,
    registry_device,
    send_uplink,
    setup_entry,
)

VOLTAGE = "sensor.kettle_socket_voltage"
SWITCH = "switch.kettle_socket"
CHANGED_OFF = REPORT.replace("087001", "087010")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, **kw: float
) -> None:
    freezer.tick(timedelta(**kw))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


# The clock on its own --------------------------------------------------------


def test_clock_learns_from_two_agreeing_gaps() -> None:
    """One gap is a floor; two gaps that agree are the interval."""
    clock = ReportClock()
    assert not clock.observe(T0)
    assert not clock.observe(T0 + timedelta(minutes=60))
    assert (clock.largest_gap, clock.learned) == (3600, None)
    assert clock.observe(T0 + timedelta(minutes=120, seconds=20))
    assert clock.learned == 3600
    # A lost report doubles one gap: the learned interval stays.
    assert not clock.observe(T0 + timedelta(minutes=240, seconds=20))
    assert clock.learned == 3600
    assert ReportClock.from_storage(clock.as_storage()) == clock


def test_clock_ignores_spacings_below_the_shortest_interval() -> None:
    """Reports seconds apart (answers, duplicates) say nothing about the interval."""
    clock = ReportClock()
    for seconds in (0, 10, 20, 30):
        clock.observe(T0 + timedelta(seconds=seconds))
    assert (clock.largest_gap, clock.learned) == (0, None)


async def test_tracker_moves_its_deadline_without_new_timers(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Uplinks push the deadline; the one timer re-arms itself when it fires."""
    freezer.move_to(T0)
    changed: list[bool] = []
    tracker = AvailabilityTracker(
        hass, lambda: 2.5, lambda d: changed.append(d.available)
    )
    device = SocketDevice(ref=DeviceRef(DEV_EUI))
    device.state.record_sent("report_interval", 600)  # window 10 x 2.5 + 1 min
    armed = []
    real = availability.async_track_point_in_utc_time

    def count(*args: Any) -> Any:
        armed.append(args[2])
        return real(*args)

    with patch.object(availability, "async_track_point_in_utc_time", count):
        for minute in range(10):
            device.last_seen = T0 + timedelta(minutes=minute)
            tracker.update(device)
        assert len(armed) == 1
        await _tick(hass, freezer, minutes=26, seconds=1)
        assert changed == []  # fired at the old deadline, re-armed for the new
        assert len(armed) == 2
        await _tick(hass, freezer, minutes=9)
        assert changed == [False]
    tracker.stop()


async def test_one_timer_ends_every_window_in_order(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Each socket's window ends at its own deadline, reported once.

    One timer serves them all: two windows ending together both end, a socket
    removed is never reported, and one whose interval was lowered after the
    others were armed ends first.
    """
    freezer.move_to(T0)
    changed: list[str] = []
    tracker = AvailabilityTracker(
        hass, lambda: 2.5, lambda d: changed.append(f"{d.dev_eui} {d.available}")
    )
    devices = {}
    # Windows: interval x 2.5 + 1 min.
    for eui, interval in (
        ("a", 600),
        ("b", 1200),
        ("c", 1200),
        ("d", 300),
        ("e", 2400),
    ):
        device = devices[eui] = SocketDevice(ref=DeviceRef(eui))
        device.state.record_sent("report_interval", interval)
        device.last_seen = T0
        tracker.update(device)
    tracker.remove("d")  # 13.5 min
    devices["e"].state.record_sent("report_interval", 120)
    tracker.restart_window(devices["e"])  # 101 -> 6 min

    await _tick(hass, freezer, minutes=6, seconds=1)
    assert changed == ["e False"]
    await _tick(hass, freezer, minutes=20)  # 26 min 1 s
    assert changed == ["e False", "a False"]
    await _tick(hass, freezer, minutes=25)  # 51 min 1 s
    assert changed == ["e False", "a False", "b False", "c False"]
    tracker.stop()


# End to end -----------------------------------------------------------------


async def test_unknown_interval_is_learned_not_assumed(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Point 3: a socket reporting hourly is not unavailable 51/55 min in."""
    freezer.move_to(T0)
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    await _tick(hass, freezer, minutes=55)
    assert hass.states.get(VOLTAGE).state == "229.3"
    # A change report between periodic reports does not count as a spacing.
    await send_uplink(hass, broker, *cs4_uplink(CHANGED_OFF, f_cnt=2))
    await _tick(hass, freezer, minutes=5)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=3))
    await _tick(hass, freezer, minutes=60)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=4))
    # Learned: 60 min; window 60 x 2.5 + 1 = 151 min.
    await _tick(hass, freezer, minutes=150, seconds=59)
    assert hass.states.get(VOLTAGE).state == "229.3"
    await _tick(hass, freezer, seconds=2)
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE


async def test_lowering_the_interval_restarts_the_window(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Point 4: 10 min after a report, setting 1 min does not mark it unavailable."""
    freezer.move_to(T0)
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT, f_cnt=1))
    await _tick(hass, freezer, minutes=10)
    device = registry_device(hass, DEV_EUI)
    assert device is not None
    await hass.services.async_call(
        DOMAIN,
        "set_reporting_interval",
        {"device_id": device.id, "interval": 1},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get(VOLTAGE).state == "229.3"
    # The new window (1 min x 2.5 + 1 min) counts from the change.
    await _tick(hass, freezer, minutes=3, seconds=29)
    assert hass.states.get(VOLTAGE).state == "229.3"
    await _tick(hass, freezer, seconds=2)
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_link_facts_stay_available_when_quiet(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Point 9: last seen, RSSI and SNR say when and how it was last heard."""
    freezer.move_to(T0)
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT, f_cnt=1))
    await _tick(hass, freezer, hours=2)
    assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.kettle_socket_last_seen").state == T0.isoformat()
    assert hass.states.get("sensor.kettle_socket_signal_strength").state == "-60"
    assert hass.states.get("sensor.kettle_socket_signal_to_noise_ratio").state == "9.5"


async def test_outlet_follows_the_device_window(
    hass: HomeAssistant, broker: Broker, freezer: FrozenDateTimeFactory
) -> None:
    """Point 12: an unplugged socket's outlet is unavailable, not stale "on"."""
    freezer.move_to(T0)
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(ECHO_20_MIN + REPORT, f_cnt=1))
    assert hass.states.get(SWITCH).state == "on"
    await _tick(hass, freezer, minutes=52)
    assert hass.states.get(SWITCH).state == STATE_UNAVAILABLE
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    assert hass.states.get(SWITCH).state == "on"


async def test_discovery_is_not_reporting_again(
    hass: HomeAssistant, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8: a new socket is discovered, not "reporting again"."""
    caplog.set_level(logging.INFO, logger="custom_components.csocket")
    await setup_entry(hass, make_entry(broker))
    await send_uplink(hass, broker, *cs4_uplink(BASIC_INFO, f_cnt=1))
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    assert "New socket 24e124148b123456 (Kettle socket) discovered" in caplog.text
    assert "reporting again" not in caplog.text
