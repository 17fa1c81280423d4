"""The simulator speaks ChirpStack v4 and v3, The Things Stack v3 and Milesight.

Every message it publishes is read back with csocket's own adapter for that
server, and every downlink is built with the adapter, so the simulator and
the integration check each other's idea of each format.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

from custom_components.csocket.codec import decode_uplink, encode_downlink
from custom_components.csocket.network_servers import (
    Adapter,
    DownlinkResult,
    DownlinkStatus,
    Ignored,
    Join,
    ServerKind,
    Uplink,
)

from .broker import Broker
from .simulator_support import (
    FORMATS,
    Format,
    Recorder,
    events_of,
    load_simulator,
    recording,
    run_once,
    running,
    uplinks_of,
    wait_until,
)

EUIS = ["24e124148b000001", "24e124148b000002", "24e124148b000003"]
SWITCH_ON = encode_downlink({"socket_status": True, "report_status": True})


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    """The simulator package (through scripts/simulate.py)."""
    return load_simulator()


@pytest.fixture(params=FORMATS, ids=[f.name for f in FORMATS])
def fmt(request: pytest.FixtureRequest) -> Format:
    return request.param


@contextlib.asynccontextmanager
async def booted(
    sim: ModuleType, broker: Broker, fmt: Format, **options: Any
) -> AsyncIterator[Recorder]:
    """The simulator in fmt, recorded from before the sockets joined until
    the basic information and first report of each of them arrived."""
    adapter = fmt.adapter()
    async with (
        recording(broker, sim.Clock(), fmt.topics) as rec,
        running(
            sim, broker, format=fmt.name, application_id=fmt.application_id, **options
        ),
    ):
        await wait_until(rec, lambda: len(uplinks_of(adapter, rec.messages)) >= 6)
        yield rec


def results(adapter: Adapter, messages: list[tuple[str, bytes]]) -> list[Any]:
    return [e for e in events_of(adapter, messages) if isinstance(e, DownlinkResult)]


async def test_joins_and_uplinks(sim: ModuleType, broker: Broker, fmt: Format) -> None:
    """Join events and uplinks parse with csocket's adapter and codec."""
    adapter = fmt.adapter()
    async with booted(sim, broker, fmt) as rec:
        pass  # the joins, basic information and first reports are all we need

    events = events_of(adapter, rec.messages)
    assert not [e for e in events if isinstance(e, Ignored)]
    joins = [e for e in events if isinstance(e, Join)]
    assert [j.device.dev_eui for j in joins] == (EUIS if fmt.reports else [])
    for dev_eui in EUIS:
        info, report = uplinks_of(adapter, rec.messages, dev_eui)
        assert (info.f_cnt, report.f_cnt) == (0, 1)
        assert info.f_port == 85
        assert info.rssi is not None
        assert info.snr is not None
        assert info.gateway_count == 1
        assert info.device.application_id == fmt.application_id
        assert decode_uplink(info.payload)["firmware_version"] == "v1.3"
        assert "socket_status" in decode_uplink(report.payload)
    kettle = uplinks_of(adapter, rec.messages, EUIS[0])[0].device
    assert kettle.device_name == (
        None if fmt.kind is ServerKind.TTS_V3 else "Kettle socket"
    )
    if fmt.kind is ServerKind.TTS_V3:
        assert kettle.device_id == f"eui-{EUIS[0]}"


async def test_downlink_answered(sim: ModuleType, broker: Broker, fmt: Format) -> None:
    """csocket's downlink: queued (TTS), sent, the device's report, then the ack."""
    adapter = fmt.adapter()
    async with booted(sim, broker, fmt) as rec:
        kettle = uplinks_of(adapter, rec.messages)[0]
        since = len(rec.messages)
        item = str(uuid.uuid4())
        downlink = adapter.build_downlink(
            kettle.device, SWITCH_ON, confirmed=True, correlation_id=item
        )
        await broker.publish(downlink.topic, downlink.payload, qos=downlink.qos)
        await wait_until(
            rec,
            lambda: (
                any(
                    r.status is DownlinkStatus.ACKNOWLEDGED
                    for r in results(adapter, rec.messages[since:])
                )
                or (not fmt.reports and uplinks_of(adapter, rec.messages[since:]))
            ),
        )

    later = rec.messages[since:]
    events = [
        e for e in events_of(adapter, later) if isinstance(e, DownlinkResult | Uplink)
    ]
    expected: list[object] = [DownlinkStatus.QUEUED] if fmt.queued else []
    if fmt.reports:
        expected += [DownlinkStatus.SENT, "uplink", DownlinkStatus.ACKNOWLEDGED]
    else:
        expected += ["uplink"]
    assert [
        e.status if isinstance(e, DownlinkResult) else "uplink" for e in events
    ] == (expected)
    for result in results(adapter, later):
        assert result.correlation_id == (item if fmt.echoes_id else None)
        assert result.dev_eui == EUIS[0]
    report = decode_uplink(uplinks_of(adapter, later)[0].payload)
    assert report["socket_status"] is True
    assert report["socket_changed"] is True


async def test_network_server_failure(
    sim: ModuleType, broker: Broker, fmt: Format
) -> None:
    """A socket in fail_downlinks: the server fails its downlink with the reason."""
    adapter = fmt.adapter()
    async with booted(
        sim, broker, fmt, fail_downlinks=frozenset({2}), fail_reason="TOO_LATE"
    ) as rec:
        devices = {
            u.device.dev_eui: u.device for u in uplinks_of(adapter, rec.messages)
        }
        since = len(rec.messages)
        item = str(uuid.uuid4())
        failing = adapter.build_downlink(
            devices[EUIS[1]], SWITCH_ON, correlation_id=item
        )
        fine = adapter.build_downlink(devices[EUIS[0]], SWITCH_ON)
        async with broker.client() as client:
            await client.publish(failing.topic, failing.payload, qos=1)
            await client.publish(fine.topic, fine.payload, qos=1)
        # Socket 1's report is the sentinel: socket 2's downlink went nowhere.
        await wait_until(
            rec, lambda: uplinks_of(adapter, rec.messages[since:], EUIS[0])
        )

    later = rec.messages[since:]
    failed = [r for r in results(adapter, later) if r.status is DownlinkStatus.FAILED]
    assert not uplinks_of(adapter, later, EUIS[1])
    if not fmt.reports:  # the Milesight gateway only logs it
        assert failed == []
        return
    assert len(failed) == 1
    assert failed[0].reason == "TOO_LATE"
    if fmt.kind is ServerKind.TTS_V3:
        assert failed[0].correlation_id == item
        assert failed[0].device_id == f"eui-{EUIS[1]}"
    else:  # ChirpStack's DOWNLINK_GATEWAY log/error names no queue item
        assert failed[0].correlation_id is None
        assert failed[0].dev_eui == EUIS[1]
    sent_to = [
        r.dev_eui or r.device_id
        for r in results(adapter, later)
        if r.status is DownlinkStatus.SENT
    ]
    assert sent_to in ([EUIS[0]], [f"eui-{EUIS[0]}"])


async def test_rejects_invalid_commands(
    sim: ModuleType, broker: Broker, fmt: Format
) -> None:
    """Garbage and FPort 0 are dropped like the server drops them."""
    adapter = fmt.adapter()
    async with booted(sim, broker, fmt) as rec:
        device = uplinks_of(adapter, rec.messages, EUIS[0])[0].device
        since = len(rec.messages)
        good = adapter.build_downlink(device, SWITCH_ON)
        port_zero = good.payload
        for key in (b"fPort", b"f_port", b"fport"):
            port_zero = port_zero.replace(b'"%s":85' % key, b'"%s":0' % key)
        assert port_zero != good.payload
        async with broker.client() as client:
            await client.publish(good.topic, b"not json", qos=1)
            await client.publish(good.topic, port_zero, qos=1)
            await client.publish(good.topic, good.payload, qos=1)
        await wait_until(rec, lambda: uplinks_of(adapter, rec.messages[since:]))

    later = rec.messages[since:]
    sent = [r for r in results(adapter, later) if r.status is DownlinkStatus.SENT]
    assert len(sent) == (1 if fmt.reports else 0)
    # The good command's report is the sentinel: the others got no answer.
    assert len(uplinks_of(adapter, later, EUIS[0])) == 1


async def test_command_line_once(broker: Broker, fmt: Format) -> None:
    """`simulate.py --format … --once` boots every socket in that format and exits."""
    adapter = fmt.adapter()
    async with broker.capture(fmt.topics) as captured:
        await run_once(
            broker,
            "--format",
            fmt.name,
            "--application-id",
            fmt.application_id,
            "--gateways",
            "2",
            "--hears",
            "2=3",
        )
        await captured.wait_for(9 if fmt.reports else 6)

    uplinks = uplinks_of(adapter, captured.messages)
    assert [u.device.dev_eui for u in uplinks] == [e for e in EUIS for _ in (1, 2)]
    # Gateway 2 hears only socket 3.
    assert [u.gateway_count for u in uplinks] == [1, 1, 1, 1, 2, 2]
