"""Many sockets at once: csocket against the simulated network server's airtime.

One simulated gateway, half duplex, computed airtime (1.32 s per on/off frame
at SF12) on a scaled radio clock so the tests stay fast.
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, EVENT_STATE_CHANGED, SERVICE_TURN_OFF
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er

from custom_components.csocket.const import CONF_COMMAND_TIMEOUT, DOMAIN

from .broker import Broker
from .common import make_entry, setup_entry, wait_for
from .simulator_support import FORMATS, Format, load_simulator, running

REPORTING = [f for f in FORMATS if f.reports]
MILESIGHT = next(f for f in FORMATS if not f.reports)
SOCKETS = 20


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    """The simulator package (through scripts/simulate.py)."""
    return load_simulator()


def _entry(broker: Broker, fmt: Format, **options: Any) -> Any:
    return make_entry(
        broker,
        fmt.kind,
        options=options,
        application_id=fmt.application_id,
        **dict(fmt.options),
    )


async def _turn_off(hass: HomeAssistant, entity_ids: list[str]) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: entity_ids}, blocking=True
    )


def _outlets(hass: HomeAssistant) -> list[str]:
    """The sockets' outlet switches (the only ones with a pending target)."""
    return [
        state.entity_id
        for state in hass.states.async_all(SWITCH_DOMAIN)
        if "pending_target" in state.attributes
    ]


async def _scene(
    hass: HomeAssistant, sim: ModuleType, broker: Broker, fmt: Format, **options: Any
) -> tuple[Any, dict[str, list[str | None]], float]:
    """Switch 20 simulated sockets off in one call; what each switch showed."""
    shown: dict[str, list[str | None]] = {}

    # A callback: Home Assistant runs a plain function listener in its
    # executor, where the last writes may not have been recorded yet when the
    # service call returns.
    @callback
    def record(event: Event[Any]) -> None:
        new = event.data["new_state"]
        if new is not None and "command_state" in new.attributes:
            seen = shown.setdefault(new.entity_id, [])
            if not seen or seen[-1] != new.attributes["command_state"]:
                seen.append(new.attributes["command_state"])

    # csocket listens before the sockets boot and report.
    await setup_entry(hass, _entry(broker, fmt, **options))
    async with running(
        sim,
        broker,
        format=fmt.name,
        application_id=fmt.application_id,
        sockets=SOCKETS,
        airtime=None,  # computed from the frame: 1.32 s at SF12
        time_scale=0.1,
        latency=0.3,
    ) as simulator:
        await wait_for(hass, lambda: len(_outlets(hass)) == SOCKETS, timeout=20)
        outlets = _outlets(hass)
        hass.bus.async_listen(EVENT_STATE_CHANGED, record)
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(120):
            await _turn_off(hass, outlets)
        elapsed = loop.time() - start
        assert [hass.states.get(e).state for e in outlets] == ["off"] * SOCKETS
        assert not any(s.settings.on for s in simulator.sockets.values())
        # One frame per socket, and every confirming report was heard.
        assert len(simulator.radio.gateways[0].history) == SOCKETS
        assert list(simulator.lost) == []
    return simulator, shown, elapsed


@pytest.mark.parametrize("fmt", REPORTING, ids=[f.name for f in REPORTING])
async def test_twenty_sockets_on_one_gateway(
    hass: HomeAssistant, broker: Broker, sim: ModuleType, fmt: Format
) -> None:
    """A 20-socket turn_off confirms every socket, default options, airtime on.

    Each switch shows its command queued, then sent (on air), then nothing.
    """
    _simulator, shown, _elapsed = await _scene(hass, sim, broker, fmt)
    assert len(shown) == SOCKETS
    for entity_id, states in shown.items():
        assert _progress(states) == ["queued", "sent", None], entity_id


async def test_milesight_timeout_grows_with_commands_in_flight(
    hass: HomeAssistant, broker: Broker, sim: ModuleType
) -> None:
    """No transmission report: the timeout grows with the commands ahead.

    With the shortest command timeout (5 s) the scene outlasts it, and still
    every socket confirms.
    """
    _simulator, shown, elapsed = await _scene(
        hass, sim, broker, MILESIGHT, **{CONF_COMMAND_TIMEOUT: 5}
    )
    assert elapsed > 5  # the last sockets needed their grown timeout
    for entity_id, states in shown.items():
        # Queued behind the others in csocket, sent when published.
        assert _progress(states) == ["queued", "sent", None], entity_id


@pytest.mark.parametrize("fmt", REPORTING, ids=[f.name for f in REPORTING])
async def test_server_failure_while_queued_fails_at_once(
    hass: HomeAssistant, broker: Broker, sim: ModuleType, fmt: Format
) -> None:
    """The network server fails the queued downlink: its reason, no timeout."""
    await setup_entry(hass, _entry(broker, fmt))
    async with running(
        sim,
        broker,
        format=fmt.name,
        application_id=fmt.application_id,
        sockets=3,
        airtime=None,
        time_scale=0.1,
        fail_downlinks=frozenset({2}),
        fail_reason="TOO_LATE",
    ) as simulator:
        await wait_for(hass, lambda: len(_outlets(hass)) == 3, timeout=10)
        failing = er.async_get(hass).async_get_entity_id(
            SWITCH_DOMAIN, DOMAIN, f"{_eui(simulator, 2)}_socket"
        )
        assert failing is not None
        # Far below the 30 s command timeout and the 300 s queued bound.
        with pytest.raises(HomeAssistantError) as err:
            async with asyncio.timeout(5):
                await _turn_off(hass, [failing])
    assert err.value.translation_key == "downlink_failed"
    assert "TOO_LATE" in str(err.value)
    assert hass.states.get(failing).attributes["command_state"] is None


def _progress(states: list[str | None]) -> list[str | None]:
    """What a switch showed from its command's start (writes before are None)."""
    start = states.index("queued")
    assert set(states[:start]) <= {None}
    return states[start:]


def _eui(simulator: Any, index: int) -> str:
    return next(s.dev_eui for s in simulator.sockets.values() if s.index == index)
