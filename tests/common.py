"""Helpers for end-to-end tests: config entries, uplink JSON, waiting."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, cast

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MockHAClientWebSocket

from custom_components.csocket.const import (
    CONF_CLIENT_ID,
    CONF_SERVER,
    CONF_TRANSPORT,
    DOMAIN,
    TRANSPORT_BROKER,
)
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    ServerKind,
)

from .broker import Broker

APP_ID = "17c82e96-be03-4f38-aef3-f83d48582d97"
# The only credentials the `auth_broker` fixture's Mosquitto accepts.
USER = "csocket"
PASSWORD = "s3cret"  # noqa: S105 - test broker credential
DEV_EUI = "24e124148b123456"
DEV_EUI_2 = "24e124148b654321"
DEV_EUI_3 = "24e124148b0a0b0c"
# User guide 4.2: on, PF 41 %, 18 mA, 229.3 V, 5 Wh, 1 W.
REPORT = "08700105812907c912000374f508068305000000048001000000"
# Echo of "set reporting interval 20 min" (ff03 b004): the interval is known.
ECHO_20_MIN = "ff03b004"
# User guide 4.1: basic information at join.
BASIC_INFO = "ff0101ff166148b13783621055ff090100ff0a0103ff24010aff30010aff250080ff2601"


def make_entry(
    broker: Broker,
    kind: ServerKind = ServerKind.CHIRPSTACK_V4,
    *,
    options: dict[str, Any] | None = None,
    **data: Any,
) -> MockConfigEntry:
    """A config entry for the suite's broker."""
    base: dict[str, Any] = {
        CONF_SERVER: kind.value,
        CONF_TRANSPORT: TRANSPORT_BROKER,
        CONF_HOST: broker.host,
        CONF_PORT: broker.port,
        CONF_CLIENT_ID: "csocket-test",
        CONF_APPLICATION_ID: APP_ID,
        CONF_F_PORT: 85,
    }
    base.update(data)
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{kind.value} test",
        unique_id=f"{broker.host}:{broker.port}/{kind.value}/{base[CONF_APPLICATION_ID]}",
        data=base,
        options=options or {},
    )


async def unload_all(hass: HomeAssistant) -> None:
    """Unload csocket's loaded entries, as Home Assistant would before the broker."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add and load the entry; fails the test when it does not load."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def cs4_uplink(
    payload_hex: str,
    *,
    dev_eui: str = DEV_EUI,
    f_cnt: int = 1,
    f_port: int = 85,
    name: str = "Kettle socket",
    rssi: int = -60,
    snr: float = 9.5,
    application_id: str = APP_ID,
) -> tuple[str, bytes]:
    """Topic and JSON of a ChirpStack v4 `up` event carrying `payload_hex`."""
    body = {
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": "2024-01-06T11:34:06.123456+00:00",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "ChirpStack",
            "applicationId": application_id,
            "applicationName": "Sockets",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "WS523",
            "deviceName": name,
            "devEui": dev_eui,
            "tags": {},
        },
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(bytes.fromhex(payload_hex)).decode(),
        "rxInfo": [
            {"gatewayId": "0016c001f153a14c", "rssi": rssi, "snr": snr},
            {"gatewayId": "0016c001f153a14d", "rssi": rssi - 20, "snr": snr - 5},
        ],
        "txInfo": {"frequency": 867300000},
    }
    del body["time"]  # the hub stamps the receive time
    topic = f"application/{application_id}/device/{dev_eui}/event/up"
    return topic, json.dumps(body).encode()


def with_device_info(
    message: tuple[str, bytes], **changes: object
) -> tuple[str, bytes]:
    """A ChirpStack v4 uplink with deviceInfo fields changed (e.g. hostile)."""
    topic, payload = message
    body = json.loads(payload)
    body["deviceInfo"] |= changes
    return topic, json.dumps(body).encode()


async def wait_for(
    hass: HomeAssistant,
    predicate: Callable[[], Any],
    timeout: float = 5,
    *,
    settle: bool = True,
) -> None:
    """Let the broker round trip happen until `predicate()` is truthy.

    Sleeps in a worker thread rather than with asyncio timers, so it also works
    while a test has frozen the clock. With `settle=False` it does not wait for
    Home Assistant's tasks, e.g. while an action is waiting for the device.
    """
    for _ in range(int(timeout / 0.01)):
        if settle:
            await hass.async_block_till_done()
        if predicate():
            return
        await hass.async_add_executor_job(time.sleep, 0.01)
    raise TimeoutError("condition not met in time")


async def send_uplink(
    hass: HomeAssistant, broker: Broker, topic: str, payload: bytes
) -> None:
    """Publish an uplink and wait until the hub has processed it."""
    entries = hass.config_entries.async_entries(DOMAIN)
    hubs = [e.runtime_data for e in entries if hasattr(e, "runtime_data")]
    before = [_counter(hub) for hub in hubs]
    await broker.publish(topic, payload)
    await wait_for(hass, lambda: [_counter(hub) for hub in hubs] != before, timeout=5)


def _counter(hub: Any) -> int:
    return int(hub.messages_handled)


def _b64(payload_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(payload_hex)).decode()


def cs3_uplink(
    payload_hex: str,
    *,
    dev_eui: str = DEV_EUI,
    f_cnt: int = 1,
    app: str = "12",
    event: str = "event/up",
) -> tuple[str, bytes]:
    """ChirpStack v3 `json_v3` uplink (>= 3.11 topic; `event="rx"` before)."""
    body = {
        "applicationID": app,
        "applicationName": "sockets",
        "deviceName": "Heater socket",
        "devEUI": dev_eui,
        "rxInfo": [{"gatewayID": "0303030303030303", "rssi": -71, "loRaSNR": 7.5}],
        "txInfo": {"frequency": 868100000, "dr": 5},
        "adr": True,
        "fCnt": f_cnt,
        "fPort": 85,
        "data": _b64(payload_hex),
    }
    return f"application/{app}/device/{dev_eui}/{event}", json.dumps(body).encode()


def tts_uplink(
    payload_hex: str,
    *,
    dev_eui: str = DEV_EUI,
    f_cnt: int = 1,
    app: str = "sockets",
    device_id: str = "desk-lamp",
) -> tuple[str, bytes]:
    """The Things Stack v3 uplink (TTN cloud tenant)."""
    body = {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": app},
            "dev_eui": dev_eui.upper(),
        },
        "uplink_message": {
            "f_port": 85,
            "f_cnt": f_cnt,
            "frm_payload": _b64(payload_hex),
            "rx_metadata": [
                {"gateway_ids": {"gateway_id": "gtw1"}, "rssi": -88, "snr": 3.2}
            ],
        },
    }
    return f"v3/{app}@ttn/devices/{device_id}/up", json.dumps(body).encode()


def milesight_uplink(
    payload_hex: str, *, dev_eui: str = DEV_EUI, f_cnt: int = 1
) -> tuple[str, bytes]:
    """Milesight/Linovision gateway uplink (older firmware: string applicationID)."""
    body = {
        "applicationID": "1",
        "applicationName": "cloud",
        "data": _b64(payload_hex),
        "devEUI": dev_eui,
        "deviceName": "Fan socket",
        "fCnt": f_cnt,
        "fPort": 85,
        "rxInfo": [{"loRaSNR": 13.8, "mac": "24e124fffef54092", "rssi": -51}],
    }
    return "csocket/uplink/gw1", json.dumps(body).encode()


# HA 2026.8: a device belongs to one config entry; lookups and removal changed.
DEVICES_OWNED_BY_ONE_ENTRY = hasattr(
    dr.DeviceRegistry, "async_get_device_by_identifier"
)


async def remove_device(
    client: MockHAClientWebSocket, device_id: str, entry_id: str
) -> dict[str, Any]:
    """Delete a device as the frontend does; the websocket response.

    HA 2026.8 deprecated `config/device_registry/remove_config_entry` for
    `config/device_registry/remove` (no entry: the device has only one).
    """
    if DEVICES_OWNED_BY_ONE_ENTRY:
        command = {"type": "config/device_registry/remove", "device_id": device_id}
    else:
        command = {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": entry_id,
            "device_id": device_id,
        }
    await client.send_json_auto_id(command)
    return cast("dict[str, Any]", await client.receive_json())


def registry_device(
    hass: HomeAssistant, dev_eui: str, entry_id: str | None = None
) -> dr.DeviceEntry | None:
    """The registry device of a socket, on every tested Home Assistant version.

    HA 2026.8 deprecated `async_get_device(identifiers=...)` (it raises in tests)
    for `async_get_device_by_identifier(identifier, config_entry_id)`, which
    2025.4 does not have.
    """
    registry = dr.async_get(hass)
    identifier = (DOMAIN, dev_eui)
    if not DEVICES_OWNED_BY_ONE_ENTRY:
        return registry.async_get_device(identifiers={identifier})
    # Not on 2025.4, which mypy may type this against; used on HA >= 2026.8 only.
    by_identifier = registry.async_get_device_by_identifier  # type: ignore[attr-defined,unused-ignore]
    entry_ids = (
        [entry_id]
        if entry_id
        else [entry.entry_id for entry in hass.config_entries.async_entries(DOMAIN)]
    )
    for candidate in entry_ids:
        if (device := by_identifier(identifier, candidate)) is not None:
            return cast("dr.DeviceEntry", device)
    return None


# Bytes no test expects from csocket, sent after an action as a sentinel.
SENTINEL = "5e7e"


def downlink_payloads(captured: Any) -> list[str]:
    """Hex payloads of the ChirpStack v4 downlinks captured so far."""
    return [
        base64.b64decode(json.loads(payload)["data"]).hex()
        for _topic, payload in captured.messages
    ]


async def messages_before_sentinel(
    hass: HomeAssistant,
    captured: Any,
    device_id: str | list[str],
    *,
    rounds: int = 1,
) -> list[tuple[str, bytes]]:
    """Every message csocket published before a sentinel sent after it.

    The sentinel goes out through csocket's own connection, so the broker
    delivers it after anything csocket published earlier: no fixed sleep.
    With several devices, one sentinel each; returns what preceded the first.
    With `rounds` > 1 each round's sentinels are sent once the previous
    round's arrived, so a task that was about to publish when the first was
    sent has had a broker round trip to do so; returns what preceded the last
    round, sentinels left out.
    """
    ids = [device_id] if isinstance(device_id, str) else device_id
    for done in range(1, rounds + 1):
        await hass.services.async_call(
            DOMAIN,
            "send_raw_downlink",
            {"device_id": ids, "payload": SENTINEL},
            blocking=True,
        )
        await wait_for(
            hass,
            lambda done=done: (
                downlink_payloads(captured).count(SENTINEL) == len(ids) * done
            ),
            settle=False,
        )
    payloads = downlink_payloads(captured)
    last = [i for i, payload in enumerate(payloads) if payload == SENTINEL][
        len(ids) * (rounds - 1)
    ]
    return [
        message
        for message, payload in zip(captured.messages[:last], payloads, strict=False)
        if payload != SENTINEL
    ]


async def payloads_before_sentinel(
    hass: HomeAssistant, captured: Any, device_id: str | list[str]
) -> list[str]:
    """Hex payloads csocket published before a sentinel sent after them."""
    before = await messages_before_sentinel(hass, captured, device_id)
    return [base64.b64decode(json.loads(body)["data"]).hex() for _t, body in before]
