"""A broker that refuses, restarts or crashes: csocket notices, says so, recovers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.csocket.connection import BrokerSettings, async_probe
from custom_components.csocket.const import DOMAIN
from custom_components.csocket.mqtt_client import LIBRARY_LOGGER
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    Subscription,
)

from .broker import Broker
from .common import (
    APP_ID,
    DEV_EUI_2,
    ECHO_20_MIN,
    PASSWORD,
    REPORT,
    USER,
    cs4_uplink,
    make_entry,
    registry_device,
    send_uplink,
    setup_entry,
    unload_all,
    wait_for,
)
from .test_config_flow import broker_input, check_translated, to_application

SWITCH = "switch.kettle_socket"
RESTARTS = 3
# The network server's account on the ACL broker: it may publish uplinks.
SERVER = {"username": "server", "password": "server-secret"}
UPLINKS = "application/+/device/+/event/#"
# ChirpStack v4's uplink filter with its wildcard levels replaced (README).
PROBE_TOPIC = f"application/{APP_ID}/device/csocket-probe/event/up"


def acl_broker_with(tmp_path: Path, acl: str) -> Broker:
    """Mosquitto with a password file (USER and `server`) and `acl` as acl_file."""
    passwords = tmp_path / "passwd"
    for index, (user, password) in enumerate(
        ((USER, PASSWORD), (SERVER["username"], SERVER["password"]))
    ):
        # mosquitto's own tool, found on PATH as in conftest's auth_broker.
        subprocess.run(  # noqa: S603
            [  # noqa: S607
                "mosquitto_passwd",
                "-b",
                *(("-c",) if index == 0 else ()),
                str(passwords),
                user,
                password,
            ],
            check=True,
            capture_output=True,
        )
    acl_file = tmp_path / "acl"
    acl_file.write_text(f"user server\ntopic readwrite #\n\n{acl}")
    return Broker(
        tmp_path / "mosquitto",
        extra_config=(
            f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl_file}\n"
        ),
    )


@contextlib.asynccontextmanager
async def running(hass: HomeAssistant, broker: Broker) -> AsyncIterator[Broker]:
    """Start `broker`; at the end unload csocket's entries, then stop it."""
    broker.start()
    try:
        yield broker
    finally:
        await unload_all(hass)
        broker.stop()


@pytest.fixture
async def no_downlink_broker(
    hass: HomeAssistant, tmp_path: Path, allow_loopback: None
) -> AsyncIterator[Broker]:
    """csocket may read uplinks but not publish downlinks."""
    async with running(
        hass, acl_broker_with(tmp_path, f"user {USER}\ntopic read {UPLINKS}\n")
    ) as broker:
        yield broker


async def test_refused_downlink_fails_at_once(
    hass: HomeAssistant, no_downlink_broker: Broker
) -> None:
    """MQTT 5: the broker's PUBACK says "not authorized"; the action says so.

    Under MQTT 3.1.1 the broker acknowledges the dropped downlink and the user
    waits for the whole command timeout, told the socket did not confirm.
    """
    broker = no_downlink_broker
    entry = make_entry(
        broker, username=USER, password=PASSWORD, options={"command_timeout": 10}
    )
    await setup_entry(hass, entry)
    topic, body = cs4_uplink(REPORT, f_cnt=1)
    before = entry.runtime_data.messages_handled
    await broker.publish(topic, body, **SERVER)
    await wait_for(hass, lambda: entry.runtime_data.messages_handled > before)

    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: SWITCH}, blocking=True
        )
    assert raised.value.translation_key == "downlink_refused"
    assert raised.value.translation_placeholders["reason"] == "Not authorized, 0x87"
    assert "refused the downlink" in str(raised.value)


async def remaining_length(reader: asyncio.StreamReader) -> int:
    """MQTT's variable-length "remaining length" field."""
    length, shift = 0, 0
    while True:
        digit = (await reader.readexactly(1))[0]
        length |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return length
        shift += 7


def encode_length(length: int) -> bytes:
    """MQTT's variable-length encoding of `length` (< 16 384 here)."""
    return (
        bytes((length,))
        if length < 0x80
        else bytes((length & 0x7F | 0x80, length >> 7))
    )


async def test_falls_back_to_mqtt_3_1_1(
    hass: HomeAssistant, allow_loopback: None
) -> None:
    """A broker that only speaks 3.1.1 refuses MQTT 5 at connect; csocket retries.

    Mosquitto speaks both, so a minimal 3.1.1-only peer on 127.0.0.1 answers:
    CONNACK "unacceptable protocol version" to MQTT 5, and accepts 3.1.1.
    """
    levels: list[int] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(1)
                body = await reader.readexactly(await remaining_length(reader))
                if header[0] == 0x10:  # CONNECT
                    levels.append(body[6])
                    refuse = body[6] == 5
                    writer.write(b"\x20\x02\x00" + (b"\x01" if refuse else b"\x00"))
                elif header[0] == 0x82:  # SUBSCRIBE: grant QoS 1
                    writer.write(b"\x90\x03" + body[:2] + b"\x01")
                elif header[0] == 0x32:  # PUBLISH QoS 1: PUBACK, deliver (QoS 0)
                    end = 2 + int.from_bytes(body[:2])
                    writer.write(b"\x40\x02" + body[end : end + 2])
                    delivered = body[:end] + body[end + 2 :]
                    writer.write(b"\x30" + encode_length(len(delivered)) + delivered)
                elif header[0] == 0xE0:  # DISCONNECT
                    break
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await async_probe(
            hass,
            BrokerSettings(host="127.0.0.1", port=port),
            [Subscription(f"application/{APP_ID}/device/+/event/+", 1)],
        )
    assert levels == [5, 4]


async def test_reconnects_as_promptly_as_a_tight_loop(
    hass: HomeAssistant, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Repeated kill -9 restarts of a broker without persistence.

    Every uplink the network server publishes before a subscriber is back is
    lost to it. csocket must lose no more than a plain client that reconnects
    in a tight loop, whatever the number of restarts (no growing backoff while
    the broker comes back each time). One warning per outage, no ERROR, and
    nothing of paho's under csocket's logger.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    hub = entry.runtime_data
    start = hub.messages_handled
    published: list[int] = []
    reference: set[tuple[str, int]] = set()
    done = asyncio.Event()

    async def network_server() -> None:
        f_cnt = 0
        while not done.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                async with broker.client() as client:
                    while not done.is_set():
                        f_cnt += 1
                        await client.publish(*cs4_uplink(REPORT, f_cnt=f_cnt), qos=1)
                        published.append(f_cnt)
                        await asyncio.sleep(0.02)
            await asyncio.sleep(0.01)

    async def subscriber() -> None:
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                async with broker.client() as client:
                    await client.subscribe(f"application/{APP_ID}/#", qos=1)
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        body = json.loads(message.payload)
                        reference.add((body["deviceInfo"]["devEui"], body["fCnt"]))
            await asyncio.sleep(0.01)

    caplog.set_level(logging.INFO)
    server = asyncio.create_task(network_server())
    listener = asyncio.create_task(subscriber())
    try:
        for restart in range(RESTARTS + 1):
            # Both are back and receiving before the broker dies again.
            seen, handled = len(reference), hub.messages_handled
            await wait_for(
                hass,
                lambda seen=seen, handled=handled: (
                    len(reference) > seen + 10 and hub.messages_handled > handled + 10
                ),
                timeout=15,
                settle=False,
            )
            if restart < RESTARTS:
                await hass.async_add_executor_job(broker.restart)
        done.set()
        await server
        # Sent after the last uplink: when both have it, they have all.
        await broker.publish(*cs4_uplink(REPORT, dev_eui=DEV_EUI_2, f_cnt=1))
        await wait_for(hass, lambda: (DEV_EUI_2, 1) in reference, settle=False)
        await wait_for(hass, lambda: registry_device(hass, DEV_EUI_2) is not None)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    csocket = hub.messages_handled - start - 1
    received = len(reference) - 1
    # Lost: what was published and not received. One uplink of slack per
    # restart for the scheduling of the two clients' first attempts.
    assert len(published) - csocket <= len(published) - received + RESTARTS, (
        f"published {len(published)}, csocket {csocket}, reference {received}"
    )
    assert_one_warning_per_outage(caplog, RESTARTS)


def assert_one_warning_per_outage(
    caplog: pytest.LogCaptureFixture, outages: int
) -> None:
    """One warning when the connection is lost, info when back; no ERROR.

    paho's own socket errors belong to its logger, not csocket's.
    """
    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    # "mqtt" is aiomqtt's default logger, the test's own plain clients'.
    assert [r for r in records if r[1] >= logging.ERROR and r[0] != "mqtt"] == []
    ours = [r for r in records if r[0].startswith("custom_components.csocket")]
    lost = [r for r in ours if "lost" in r[2]]
    assert len(lost) == outages
    assert all(level == logging.WARNING for _, level, _ in lost)
    assert sum("restored" in r[2] for r in ours) == outages
    assert not [r for r in ours if "socket" in r[2] and "failed" in r[2]]


@pytest.fixture
async def deaf_broker(
    hass: HomeAssistant, tmp_path: Path, allow_loopback: None
) -> AsyncIterator[Broker]:
    """csocket may subscribe (Mosquitto grants it) but is never delivered uplinks."""
    acl = f"user {USER}\ntopic write application/#\n"
    async with running(hass, acl_broker_with(tmp_path, acl)) as broker:
        yield broker


async def test_config_flow_notices_a_silently_denied_subscription(
    hass: HomeAssistant, deaf_broker: Broker
) -> None:
    """The SUBACK grants it; only the probe that never comes back tells."""
    result = await to_application(
        hass, broker_input(deaf_broker, username=USER, password=PASSWORD)
    )
    with patch("custom_components.csocket.probe.PROBE_TIMEOUT", 0.5):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_APPLICATION_ID: APP_ID, CONF_F_PORT: 85}
        )
    assert result["step_id"] == "application"
    assert result["errors"] == {"base": "subscription_silent"}
    assert result["description_placeholders"]["topic"] == PROBE_TOPIC
    check_translated(result)


async def test_entry_start_raises_a_repair_issue_for_a_deaf_subscription(
    hass: HomeAssistant, deaf_broker: Broker, issue_registry: ir.IssueRegistry
) -> None:
    """The entry still loads; a repair issue names the topic; gone at unload."""
    entry = make_entry(deaf_broker, username=USER, password=PASSWORD)
    with patch("custom_components.csocket.probe.PROBE_TIMEOUT", 0.5):
        await setup_entry(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        issue_id = f"subscription_silent_{entry.entry_id}"
        await wait_for(
            hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id), settle=False
        )
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "subscription_silent"
    assert issue.translation_placeholders == {
        "title": entry.title,
        "topic": PROBE_TOPIC,
    }
    await hass.config_entries.async_unload(entry.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_probe_is_not_an_uplink(
    hass: HomeAssistant, broker: Broker, issue_registry: ir.IssueRegistry
) -> None:
    """On a broker that delivers, the probe comes back and is nobody's uplink."""
    entry = make_entry(broker)
    async with broker.capture(PROBE_TOPIC) as captured:
        await setup_entry(hass, entry)
        await captured.wait_for(1)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    # The probe was published before the uplink on csocket's one connection.
    assert entry.runtime_data.messages_handled == 1
    assert (
        len(dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)) == 1
    )
    assert not [i for i in issue_registry.issues.values() if i.domain == DOMAIN]


async def test_silence_of_the_whole_entry_is_a_repair_issue(
    hass: HomeAssistant,
    broker: Broker,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing for twice the longest reporting interval: an issue, gone on the next."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT + ECHO_20_MIN, f_cnt=1))
    issue_id = f"entry_silent_{entry.entry_id}"

    freezer.tick(timedelta(minutes=39))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "entry_silent"
    assert issue.translation_placeholders == {"title": entry.title, "minutes": "40"}

    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=2))
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.fixture
async def small_queue_broker(
    hass: HomeAssistant, tmp_path: Path, allow_loopback: None
) -> AsyncIterator[Broker]:
    """Mosquitto that queues at most 5 messages for a disconnected session."""
    broker = Broker(tmp_path / "mosquitto", extra_config="max_queued_messages 5\n")
    async with running(hass, broker):
        yield broker


async def test_backlog_gap_is_one_warning_with_the_fix(
    hass: HomeAssistant, small_queue_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker dropped most of what it queued while csocket was away: say so once."""
    broker = small_queue_broker
    sockets = [f"24e124148b1234{index:02x}" for index in range(4)]
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    for dev_eui in sockets:
        await send_uplink(hass, broker, *cs4_uplink(REPORT, dev_eui=dev_eui, f_cnt=1))
    await hass.config_entries.async_unload(entry.entry_id)

    # 40 uplinks while away; the broker keeps the first 5.
    for f_cnt in range(2, 12):
        for dev_eui in sockets:
            await broker.publish(*cs4_uplink(REPORT, dev_eui=dev_eui, f_cnt=f_cnt))
    assert await hass.config_entries.async_setup(entry.entry_id)
    hub = entry.runtime_data
    await wait_for(hass, lambda: hub.messages_handled == 5)
    for round_ in (12, 13):  # the live uplinks after the gap; a second round
        for dev_eui in sockets:
            await send_uplink(
                hass, broker, *cs4_uplink(REPORT, dev_eui=dev_eui, f_cnt=round_)
            )

    warnings = _backlog_warnings(caplog)
    assert len(warnings) == 1
    assert "sockets skipped frames" in warnings[0]


def _backlog_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "max_queued_messages" in r.getMessage()
    ]


async def test_after_a_crash_stale_frame_counters_are_no_backlog_gap(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Restated values are saved every 15 minutes: after a crash the saved
    frame counters are older than the last uplinks. Their jump to the next
    uplink is no gap of the broker's; a jump after it still is.
    """
    sockets = [f"24e124148b1234{index:02x}" for index in range(4)]
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    for dev_eui in sockets:
        await send_uplink(hass, broker, *cs4_uplink(REPORT, dev_eui=dev_eui, f_cnt=1))
    freezer.tick(timedelta(seconds=11))  # new sockets: saved within 10 s
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    for f_cnt in range(2, 6):
        for dev_eui in sockets:
            await send_uplink(
                hass, broker, *cs4_uplink(REPORT, dev_eui=dev_eui, f_cnt=f_cnt)
            )
    key = f"{DOMAIN}.{entry.entry_id}"
    before_crash = copy.deepcopy(hass_storage[key])
    assert before_crash["data"]["devices"][sockets[0]]["f_cnt"] == 1
    assert not before_crash["data"].get("clean")
    # What a crash leaves: the throttled save, not the unload's.
    await hass.config_entries.async_unload(entry.entry_id)
    assert hass_storage[key]["data"]["clean"] is True
    hass_storage[key] = before_crash

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for f_cnt in (6, 9):  # the live uplinks; then a real gap of two frames
        for dev_eui in sockets:
            await send_uplink(
                hass, broker, *cs4_uplink(REPORT, dev_eui=dev_eui, f_cnt=f_cnt)
            )
        assert len(_backlog_warnings(caplog)) == (0 if f_cnt == 6 else 1)


async def test_paho_connection_loss_is_debug_under_its_own_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What paho logs as ERROR when a broker crashes ("Connection reset by peer").

    csocket reports the outage itself, once; paho's line is debug detail under
    the library's logger, other paho errors keep their level.
    """
    caplog.set_level(logging.DEBUG)
    library = logging.getLogger(LIBRARY_LOGGER.name)
    reset = ConnectionResetError(104, "Connection reset by peer")
    library.error("failed to receive on socket: %s", reset)
    library.error("Error: Unrecognised command %s", 0)
    (loss, other) = [r for r in caplog.records if r.name == "aiomqtt"]
    assert (loss.levelno, other.levelno) == (logging.DEBUG, logging.ERROR)
