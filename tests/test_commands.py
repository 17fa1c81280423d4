"""The per-socket command queue: on its own, and end to end through the broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Mapping
from typing import Any

import pytest
from homeassistant.components.number import DOMAIN as NUMBER_DOMAIN
from homeassistant.components.number import SERVICE_SET_VALUE
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from custom_components.csocket.airtime import AirGate
from custom_components.csocket.batch import SettingUnknown, complete, frames, merge
from custom_components.csocket.command import CommandState
from custom_components.csocket.commands import CommandQueue
from custom_components.csocket.const import CONF_COMMAND_TIMEOUT
from custom_components.csocket.device import SocketDevice
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    DeviceRef,
    DownlinkResult,
    DownlinkStatus,
    ServerKind,
    create_adapter,
)

from .broker import Broker
from .common import (
    APP_ID,
    BASIC_INFO,
    DEV_EUI,
    REPORT,
    cs4_uplink,
    downlink_payloads,
    make_entry,
    payloads_before_sentinel,
    registry_device,
    send_uplink,
    setup_entry,
    wait_for,
)

DOWN_TOPIC = f"application/{APP_ID}/device/{DEV_EUI}/command/down"
# Basic information with the overcurrent alarm and protection off (0 A).
BASIC_INFO_OFF = BASIC_INFO.replace("ff24010a", "ff240000").replace(
    "ff30010a", "ff300000"
)


# The queue on its own ------------------------------------------------------


def test_merge_is_field_by_field() -> None:
    """Partial updates of one setting combine; later values win per field."""
    assert merge(
        [
            {"overcurrent_alarm": {"enabled": True}},
            {"overcurrent_alarm": {"threshold": 15}, "led_enabled": False},
            {"led_enabled": True},
        ]
    ) == {"overcurrent_alarm": {"enabled": True, "threshold": 15}, "led_enabled": True}


def test_complete_fills_from_known_state_and_packs_frames() -> None:
    """A partial update takes the rest from the socket; frames fit 11 bytes."""
    device = SocketDevice(ref=DeviceRef(DEV_EUI, APP_ID))
    device.state.apply({"overcurrent_alarm": {"enabled": False, "threshold": 12}})
    assert complete(device, "overcurrent_alarm", {"enabled": True}) == {
        "enabled": True,
        "threshold": 12,
    }
    # Enabling a feature whose threshold the socket never reported: 10 A.
    assert complete(device, "overcurrent_protection", {"enabled": True}) == {
        "enabled": True,
        "threshold": 10,
    }
    with pytest.raises(SettingUnknown):
        complete(device, "overcurrent_protection", {"threshold": 5})
    assert frames(
        {
            "overcurrent_alarm": {"enabled": True, "threshold": 12},
            "overcurrent_protection": {"enabled": True, "threshold": 12},
            "led_enabled": True,
            "report_interval": 300,
        }
    ) == [bytes.fromhex("ff24010cff30010cff2f01"), bytes.fromhex("ff032c01")]


class _Host:
    command_timeout = 5.0
    queue_timeout = 30.0

    def __init__(self) -> None:
        self.sent: list[Mapping[str, Any]] = []
        self.air_gate = AirGate()

    def spawn(self, coro: Coroutine[Any, Any, None], dev_eui: str) -> None:
        asyncio.get_running_loop().create_task(coro)

    def settings_sent(self, device: SocketDevice, settings: Mapping[str, Any]) -> None:
        self.sent.append(settings)


class _Transport:
    """Publishes into a list; `during_publish` runs before the publish returns."""

    connected = True

    def __init__(self) -> None:
        self.published: list[bytes] = []
        self.during_publish: Any = None
        self.event = asyncio.Event()

    async def async_publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.published.append(payload)
        self.event.set()
        if self.during_publish is not None:
            self.during_publish(json.loads(payload))


def _queue() -> tuple[CommandQueue, _Transport, _Host, dict[str, Any]]:
    adapter = create_adapter(
        ServerKind.CHIRPSTACK_V4, {CONF_APPLICATION_ID: APP_ID, "f_port": 85}
    )
    transport = _Transport()
    host = _Host()
    index: dict[str, Any] = {}
    device = SocketDevice(ref=DeviceRef(DEV_EUI, APP_ID))
    queue = CommandQueue(device, adapter, transport, index, host)  # type: ignore[arg-type]  # test doubles of Transport
    return queue, transport, host, index


async def test_result_before_publish_returns_is_matched() -> None:
    """The correlation id exists before publishing: an early failure is matched."""
    queue, transport, _host, index = _queue()

    def fail_now(body: dict[str, Any]) -> None:
        # The network server's error, handled while the publish is in progress.
        command = index[body["id"]]
        assert command.state is CommandState.QUEUED
        assert command.published_at is not None
        command.fail(RuntimeError("gateway offline"))

    transport.during_publish = fail_now
    with pytest.raises(RuntimeError, match="gateway offline"):
        async with asyncio.timeout(1):
            await queue.async_command({"socket_status": True}, lambda _d: True)
    assert index == {}


async def test_uplink_confirms_only_sent_commands() -> None:
    """A report confirms the sent command it answers; the state says so."""
    queue, transport, _host, index = _queue()
    task = asyncio.create_task(
        queue.async_command(
            {"socket_status": True}, lambda d: d.get("socket_status") is True
        )
    )
    await transport.event.wait()
    [command] = index.values()
    queue.handle_uplink({"socket_status": False})
    assert command.state is CommandState.QUEUED
    queue.handle_uplink({"socket_status": True})
    assert await task == {"socket_status": True}
    assert command.state is CommandState.CONFIRMED


async def test_result_by_dev_eui_fails_sent_command() -> None:
    """A failure that names only the device fails its sent command."""
    queue, transport, _host, _index = _queue()
    task = asyncio.create_task(queue.async_command({"reboot": True}, lambda _d: True))
    await transport.event.wait()
    queue.handle_result(
        DownlinkResult(DownlinkStatus.FAILED, DEV_EUI, reason="too long"), failed=True
    )
    with pytest.raises(Exception, match="too long"):
        await task


async def test_partial_threshold_with_unknown_state_is_refused() -> None:
    """Only the caller with the incomplete setting fails; the others go out."""
    queue, transport, host, _index = _queue()
    results = await asyncio.gather(
        queue.async_configure({"overcurrent_protection": {"threshold": 2}}),
        queue.async_configure({"led_enabled": False}),
        return_exceptions=True,
    )
    assert isinstance(results[0], SettingUnknown)
    assert results[0].key == "overcurrent_protection"
    assert results[1] is None
    assert [json.loads(p)["data"] for p in transport.published] == ["/y8A"]
    assert host.sent == [{"led_enabled": False}]


# End to end ----------------------------------------------------------------


async def _socket(hass: HomeAssistant, broker: Broker, *payloads: str) -> str:
    for f_cnt, payload in enumerate(payloads, start=1):
        await send_uplink(hass, broker, *cs4_uplink(payload, f_cnt=f_cnt))
    device = registry_device(hass, DEV_EUI)
    assert device is not None
    return device.id


async def test_alarm_on_and_threshold_in_one_turn_share_a_frame(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 1: "alarm on" + "threshold 15 A" together send ff24010f, not off."""
    await setup_entry(hass, make_entry(broker))
    device_id = await _socket(hass, broker, BASIC_INFO_OFF, REPORT)
    async with broker.capture(DOWN_TOPIC) as captured:
        await asyncio.gather(
            hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_ON,
                {ATTR_ENTITY_ID: "switch.kettle_socket_overcurrent_alarm"},
                blocking=True,
            ),
            hass.services.async_call(
                NUMBER_DOMAIN,
                SERVICE_SET_VALUE,
                {
                    ATTR_ENTITY_ID: "number.kettle_socket_overcurrent_alarm_threshold",
                    "value": 15,
                },
                blocking=True,
            ),
        )
        assert await payloads_before_sentinel(hass, captured, device_id) == ["ff24010f"]
    assert hass.states.get("switch.kettle_socket_overcurrent_alarm").state == "on"
    assert (
        hass.states.get("number.kettle_socket_overcurrent_alarm_threshold").state
        == "15"
    )


async def test_threshold_with_unknown_protection_state_is_refused(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 2: no join frame seen: setting 2 A does not switch protection on."""
    await setup_entry(hass, make_entry(broker))
    device_id = await _socket(hass, broker, REPORT)
    async with broker.capture(DOWN_TOPIC) as captured:
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                NUMBER_DOMAIN,
                SERVICE_SET_VALUE,
                {
                    ATTR_ENTITY_ID: (
                        "number.kettle_socket_overcurrent_protection_threshold"
                    ),
                    "value": 2,
                },
                blocking=True,
            )
        assert await payloads_before_sentinel(hass, captured, device_id) == []
    assert err.value.translation_key == "overcurrent_protection_state_unknown"
    assert "does not know yet whether the protection is on" in str(err.value)


async def test_threshold_keeps_known_disabled_state(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 2: with protection known off, a new threshold keeps it off."""
    await setup_entry(hass, make_entry(broker))
    device_id = await _socket(hass, broker, BASIC_INFO_OFF, REPORT)
    async with broker.capture(DOWN_TOPIC) as captured:
        await hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {
                ATTR_ENTITY_ID: "number.kettle_socket_overcurrent_protection_threshold",
                "value": 2,
            },
            blocking=True,
        )
        assert await payloads_before_sentinel(hass, captured, device_id) == ["ff300002"]
    assert hass.states.get("switch.kettle_socket_overcurrent_protection").state == "off"


async def test_server_error_during_publish_fails_at_once(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Point 8: an error event handled before the publish returns is matched."""
    entry = make_entry(broker, options={CONF_COMMAND_TIMEOUT: 30})
    await setup_entry(hass, entry)
    await _socket(hass, broker, REPORT.replace("087001", "087000"))
    hub = entry.runtime_data
    real_publish = hub.transport.async_publish
    release = asyncio.Event()

    async def slow_ack(topic: str, payload: bytes, qos: int) -> None:
        # The broker's acknowledgement arrives after the server's error.
        await real_publish(topic, payload, qos)
        await release.wait()

    hub.transport.async_publish = slow_ack
    async with broker.capture(DOWN_TOPIC) as captured:
        task = hass.async_create_task(
            hass.services.async_call(
                SWITCH_DOMAIN,
                SERVICE_TURN_ON,
                {ATTR_ENTITY_ID: "switch.kettle_socket"},
                blocking=True,
            )
        )
        await wait_for(hass, lambda: captured.messages, settle=False)
        assert downlink_payloads(captured) == ["080100ffff28ff"]
        log = {
            "deviceInfo": {"applicationId": APP_ID, "devEui": DEV_EUI},
            "level": "ERROR",
            "code": "DOWNLINK_GATEWAY",
            "description": "Gateway is offline",
            "context": {"queue_item_id": json.loads(captured.messages[0][1])["id"]},
        }
        handled = hub.messages_handled
        await broker.publish(
            f"application/{APP_ID}/device/{DEV_EUI}/event/log", json.dumps(log)
        )
        await wait_for(hass, lambda: hub.messages_handled > handled, settle=False)
        release.set()
        with pytest.raises(HomeAssistantError) as err:
            async with asyncio.timeout(5):
                await task
    assert err.value.translation_key == "downlink_failed"
    assert "Gateway is offline" in str(err.value)


async def test_queued_command_is_tracked_and_fails_at_unload() -> None:
    """A command behind another shows as queued; an unload fails it unsent."""
    queue, transport, _host, index = _queue()
    first = asyncio.create_task(queue.async_command({"reboot": True}, lambda _d: True))
    await transport.event.wait()
    second = asyncio.create_task(
        queue.async_command({"socket_status": False}, lambda _d: True)
    )
    await asyncio.sleep(0)  # let the second call register behind the lock
    assert [(c.state, c.published_at is None) for c in index.values()] == [
        (CommandState.QUEUED, False),
        (CommandState.QUEUED, True),
    ]
    queue.fail_all("csocket is unloading")
    for task in (first, second):
        with pytest.raises(Exception, match="unloading"):
            await task
    assert len(transport.published) == 1
    assert index == {}
