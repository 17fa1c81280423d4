"""Hostile and broken streams: capped discovery, a quiet log, one issue per kind."""

from __future__ import annotations

import logging
from datetime import timedelta
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_platform
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.csocket.const import (
    CONF_MAX_SOCKETS,
    DOMAIN,
    ENABLED_ENTITIES_PER_SOCKET,
)

from .broker import Broker
from .common import (
    DEV_EUI,
    REPORT,
    cs4_uplink,
    make_entry,
    registry_device,
    send_uplink,
    setup_entry,
    wait_for,
    with_device_info,
)

OFF_REPORT = REPORT.replace("087001", "087000")
UNDECODABLE = REPORT + "abcd01"


def _made_up(index: int) -> str:
    return f"70b3d5{index:010x}"


def _csocket_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.csocket")
        and record.levelno == level
    ]


def _assert_refused_quietly(
    caplog: pytest.LogCaptureFixture, reason: str, count: int
) -> None:
    """One debug line per refused DevEUI, nothing above debug."""
    refused = [line for line in _csocket_lines(caplog, logging.DEBUG) if reason in line]
    assert len(refused) == count
    assert _csocket_lines(caplog, logging.WARNING) == []


def _issues(issue_registry: ir.IssueRegistry) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, _), issue in issue_registry.issues.items()
        if domain == DOMAIN and issue.active
    ]


async def _flood(
    hass: HomeAssistant,
    broker: Broker,
    messages: list[tuple[str, bytes]],
    f_cnt: int,
) -> None:
    """Publish messages on one connection, then a sentinel turning DEV_EUI off.

    MQTT keeps the order of one connection: once the socket shows off, csocket
    has handled everything published before.
    """
    async with broker.client() as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)
        await client.publish(*cs4_uplink(OFF_REPORT, f_cnt=f_cnt), qos=1)
    await wait_for(
        hass, lambda: hass.states.get("switch.kettle_socket").state == "off", 10
    )


async def test_dev_eui_flood_is_capped(
    hass: HomeAssistant,
    broker: Broker,
    issue_registry: ir.IssueRegistry,
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """50 made-up DevEUIs on a cap of 5: 5 devices, one issue; raising it helps."""
    entry = make_entry(broker, options={CONF_MAX_SOCKETS: 5})
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    caplog.set_level(logging.DEBUG, logger="custom_components.csocket")
    flood = [cs4_uplink(REPORT, dev_eui=_made_up(i), name=f"x{i}") for i in range(50)]
    await _flood(hass, broker, flood, f_cnt=2)

    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert len(devices) == 5
    assert set(entry.runtime_data.devices) == {DEV_EUI} | {
        _made_up(i) for i in range(4)
    }
    issues = _issues(issue_registry)
    assert [issue.issue_id for issue in issues] == [f"discovery_cap_{entry.entry_id}"]
    assert issues[0].translation_placeholders == {"title": entry.title, "count": "5"}
    _assert_refused_quietly(caplog, "reached its limit of 5 sockets", 46)

    # Raising the cap (options flow) lets the next new socket in.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**result["data_schema"]({}), CONF_MAX_SOCKETS: 10}
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_MAX_SOCKETS] == 10
    assert _issues(issue_registry) == []
    await send_uplink(hass, broker, *cs4_uplink(REPORT, dev_eui=_made_up(40)))
    assert _made_up(40) in entry.runtime_data.devices
    assert len(dr.async_entries_for_config_entry(device_registry, entry.entry_id)) == 6


def _enabled_per_device(
    entity_registry: er.EntityRegistry, entry_id: str
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entity in er.async_entries_for_config_entry(entity_registry, entry_id):
        if not entity.disabled and entity.device_id is not None:
            counts[entity.device_id] = counts.get(entity.device_id, 0) + 1
    return counts


async def test_entity_limit_adds_whole_sockets_only(
    hass: HomeAssistant,
    broker: Broker,
    issue_registry: ir.IssueRegistry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At Home Assistant's limit of enabled entities per entry: no half sockets.

    Home Assistant 2026.7+ adds at most 10 000 enabled entities to one entry
    (625 sockets); here a limit with room for 3 sockets and 5 entities more.
    Older releases have no limit: the same attribute makes csocket keep one.
    """
    limit = 3 * ENABLED_ENTITIES_PER_SOCKET + 5
    monkeypatch.setattr(
        entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", limit, raising=False
    )
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    # The constant is what a new socket really enables.
    assert list(_enabled_per_device(entity_registry, entry.entry_id).values()) == [
        ENABLED_ENTITIES_PER_SOCKET
    ]
    caplog.set_level(logging.DEBUG, logger="custom_components.csocket")
    # A burst: each socket's entities count before the next socket is judged.
    flood = [cs4_uplink(REPORT, dev_eui=_made_up(i), name=f"x{i}") for i in range(5)]
    await _flood(hass, broker, flood, f_cnt=2)

    assert set(entry.runtime_data.devices) == {DEV_EUI, _made_up(0), _made_up(1)}
    per_device = _enabled_per_device(entity_registry, entry.entry_id)
    assert sorted(per_device.values()) == [ENABLED_ENTITIES_PER_SOCKET] * 3
    assert len(dr.async_entries_for_config_entry(device_registry, entry.entry_id)) == 3
    issues = _issues(issue_registry)
    assert [issue.issue_id for issue in issues] == [f"entity_limit_{entry.entry_id}"]
    assert issues[0].translation_placeholders == {
        "title": entry.title,
        "limit": str(limit),
        "enabled": str(3 * ENABLED_ENTITIES_PER_SOCKET),
        "count": "3",
        "per_socket": str(ENABLED_ENTITIES_PER_SOCKET),
    }
    _assert_refused_quietly(caplog, "of Home Assistant's 53 enabled entities", 3)
    # Home Assistant 2026.7+ refused no entity (it would warn).
    assert "Reached the maximum" not in caplog.text

    # Disabling one socket's entities makes room: a waiting socket's next
    # report adds it, whole, and the issue goes.
    device = registry_device(hass, _made_up(0), entry.entry_id)
    assert device is not None
    for entity in er.async_entries_for_device(entity_registry, device.id):
        entity_registry.async_update_entity(
            entity.entity_id, disabled_by=er.RegistryEntryDisabler.USER
        )
    await send_uplink(
        hass, broker, *cs4_uplink(REPORT, dev_eui=_made_up(3), name="x3", f_cnt=9)
    )
    assert _made_up(3) in entry.runtime_data.devices
    assert _issues(issue_registry) == []
    assert (
        sorted(_enabled_per_device(entity_registry, entry.entry_id).values())
        == [ENABLED_ENTITIES_PER_SOCKET] * 3
    )


async def test_log_flood_is_quiet(
    hass: HomeAssistant,
    broker: Broker,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hundreds of bad messages of five kinds: counted lines, one issue per kind."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    topic, _ = cs4_uplink(REPORT)
    messages: list[tuple[str, bytes]] = []
    f_cnt = 1
    for i in range(100):
        f_cnt += 1
        # Undecodable bytes from the known socket, Protobuf after JSON.
        messages.append(cs4_uplink(UNDECODABLE, f_cnt=f_cnt))
        messages.append((topic, b"\x0a\x243ac7e3c4-4401-4b8d-9386-a5c9"))
        messages.append((topic, b"{not json"))
        # A body naming another application than the topic's.
        messages.append(
            with_device_info(
                cs4_uplink(REPORT, dev_eui=_made_up(i)), applicationId="../../x"
            )
        )
        # A base64 devEui (ChirpStack v4 uses hex).
        messages.append(cs4_uplink(REPORT, dev_eui=f"JOEkFItBA{i:03d}="))
    await _flood(hass, broker, messages, f_cnt=f_cnt + 1)

    warnings = _csocket_lines(caplog, logging.WARNING)
    errors = _csocket_lines(caplog, logging.ERROR)
    undecodable = [line for line in warnings if "could not decode" in line]
    identity = [line for line in warnings if "is not '17c82e96" in line]
    dev_eui = [line for line in warnings if "hexadecimal digits" in line]
    assert len(undecodable) == 1
    assert len(identity) == 10  # one per device, ten devices per hour at most
    assert len(dev_eui) == 10
    assert len(warnings) == 21
    assert len(errors) == 1
    assert "Protobuf" in errors[0] or "not JSON" in errors[0]
    issues = {issue.issue_id: issue for issue in _issues(issue_registry)}
    assert set(issues) == {
        f"chirpstack_protobuf_{entry.entry_id}",
        f"invalid_identity_{entry.entry_id}",
        f"invalid_dev_eui_{entry.entry_id}",
    }
    identity_issue = issues[f"invalid_identity_{entry.entry_id}"]
    assert identity_issue.translation_placeholders["count"] == "100"
    assert identity_issue.translation_placeholders["devices"].count("\n- ") == 5
    assert "95 more" in identity_issue.translation_placeholders["devices"]
    assert _made_up(0) in identity_issue.translation_placeholders["devices"]
    # Quoted as code: what a message says is never rendered as Markdown.
    assert identity_issue.translation_placeholders["devices"].startswith(
        f"- `device {_made_up(0)}: "
    )
    assert (
        issues[f"invalid_dev_eui_{entry.entry_id}"].translation_placeholders["count"]
        == "100"
    )
    # Updated in place, never recreated.
    created = identity_issue.created
    await send_uplink(
        hass,
        broker,
        *with_device_info(cs4_uplink(REPORT, dev_eui=_made_up(100)), applicationId="y"),
    )
    identity_issue = issue_registry.async_get_issue(
        DOMAIN, f"invalid_identity_{entry.entry_id}"
    )
    assert identity_issue.translation_placeholders["count"] == "100+"
    assert identity_issue.created == created


async def test_warning_again_after_an_hour(
    hass: HomeAssistant,
    broker: Broker,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A device's repeated problem is logged again once the hour has passed."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=1))
    await send_uplink(hass, broker, *cs4_uplink(UNDECODABLE, f_cnt=2))
    await send_uplink(hass, broker, *cs4_uplink(UNDECODABLE, f_cnt=3))
    freezer.tick(timedelta(minutes=59))
    await send_uplink(hass, broker, *cs4_uplink(UNDECODABLE, f_cnt=4))
    assert len(_csocket_lines(caplog, logging.WARNING)) == 1
    freezer.tick(timedelta(minutes=2))
    await send_uplink(hass, broker, *cs4_uplink(UNDECODABLE, f_cnt=5))
    assert len(_csocket_lines(caplog, logging.WARNING)) == 2
    assert entry.runtime_data.devices[DEV_EUI].f_cnt == 5


async def test_handler_errors_log_one_traceback(
    hass: HomeAssistant, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """A message that trips a bug logs its traceback once, not per message."""
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    with patch(
        "custom_components.csocket.hub.codec.decode_uplink",
        side_effect=RuntimeError("a bug"),
    ):
        for f_cnt in range(1, 4):
            await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=f_cnt))
    errors = [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.csocket")
        and record.levelno == logging.ERROR
    ]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    # The stream goes on.
    await send_uplink(hass, broker, *cs4_uplink(REPORT, f_cnt=4))
    assert DEV_EUI in entry.runtime_data.devices


async def test_existing_overlapping_entries_raise_one_issue(
    hass: HomeAssistant, broker: Broker, issue_registry: ir.IssueRegistry
) -> None:
    """Entries made before the flow refused overlaps: one issue for the pair."""
    everything = make_entry(broker, application_id="", client_id="csocket-all")
    specific = make_entry(broker, client_id="csocket-one")
    for entry, title in ((everything, "All"), (specific, "Kitchen")):
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(entry, title=title)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    # "All" also gets the kitchen's probe, published while the kitchen set
    # up: the uplink sent now follows it on All's connection.
    await send_uplink(hass, broker, *cs4_uplink(REPORT))
    [issue] = _issues(issue_registry)
    assert issue.translation_key == "overlapping_entries"
    assert sorted(issue.translation_placeholders.values()) == ["All", "Kitchen"]
    assert await hass.config_entries.async_unload(specific.entry_id)
    assert _issues(issue_registry) == []


async def test_a_device_leaves_the_issue_a_day_after_its_last_bad_message(
    hass: HomeAssistant,
    broker: Broker,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The repair issue follows the devices that still send such messages.

    A device drops off a day after its last one (renamed, or the publisher is
    gone); the issue is deleted with the last device and comes back with the
    next such message.
    """
    entry = make_entry(broker)
    await setup_entry(hass, entry)
    issue_id = f"invalid_identity_{entry.entry_id}"

    async def contradicting(index: int) -> None:
        """A message whose body names another application than its topic."""
        await send_uplink(
            hass,
            broker,
            *with_device_info(
                cs4_uplink(REPORT, dev_eui=_made_up(index)), applicationId="../../x"
            ),
        )

    def shown() -> dict[str, str] | None:
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        return None if issue is None else dict(issue.translation_placeholders or {})

    async def later(hours: int) -> None:
        freezer.tick(timedelta(hours=hours))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()

    await contradicting(0)
    await contradicting(1)
    assert (shown() or {}).get("count") == "2"
    await later(20)
    await contradicting(1)  # the second device goes on
    await later(5)  # a day after the first device's message, 5 h after the second's
    placeholders = shown()
    assert placeholders is not None
    assert placeholders["count"] == "1"
    assert _made_up(1) in placeholders["devices"]
    assert _made_up(0) not in placeholders["devices"]
    await later(18)  # 23 h after the second device's last message
    assert (shown() or {}).get("count") == "1"
    await later(2)
    assert shown() is None
    await contradicting(2)
    assert (shown() or {}).get("count") == "1"
