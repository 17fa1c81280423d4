"""The simulator's radio: LoRaWAN airtime, one downlink at a time per gateway.

Radio time runs on a scaled clock (time_scale: wall seconds per radio second),
so twenty 1.3 s frames take a fraction of a second; the assertions read radio
times, never wall-clock durations.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from types import ModuleType

import pytest

from custom_components.csocket.codec import decode_uplink, encode_downlink
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    DeviceRef,
    Downlink,
    DownlinkResult,
    DownlinkStatus,
    ServerKind,
    create_adapter,
)

from .broker import Broker
from .simulator_support import (
    events_of,
    load_simulator,
    recording,
    running,
    uplinks_of,
    wait_until,
)

APP_ID = "9e1b7c1e-2f55-4b0c-8d3a-0c4f2a6b7d10"
ADAPTER = create_adapter(ServerKind.CHIRPSTACK_V4, {CONF_APPLICATION_ID: APP_ID})
SWITCH_ON = encode_downlink({"socket_status": True, "report_status": True})


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    """The simulator package (through scripts/simulate.py)."""
    return load_simulator()


async def publish_in_order(broker: Broker, downlinks: list[Downlink]) -> None:
    """Publish on one connection, so the server gets them in this order.

    QoS 0 sends them back to back, without waiting for an acknowledgement
    between two: a burst, as a scene produces.
    """
    async with broker.client() as client:
        for downlink in downlinks:
            await client.publish(downlink.topic, downlink.payload, qos=0)


def eui(index: int) -> str:
    return f"24e124148b{index:06x}"


def test_time_on_air(sim: ModuleType) -> None:
    """The LoRa formula: csocket's 7-byte on/off frame is 1.319 s at SF12."""
    assert len(SWITCH_ON) == 7
    assert sim.time_on_air(7) == pytest.approx(1.318912, abs=1e-6)
    # 20 PHY bytes at SF7: 12.25 + 38 symbols of 1.024 ms (no LDRO).
    assert sim.time_on_air(7, 7) == pytest.approx(0.051456, abs=1e-6)
    # Uplinks carry a CRC: 16 more bits, one more block of 5 symbols here.
    assert sim.time_on_air(7, 7, crc=True) == pytest.approx(0.056576, abs=1e-6)
    # Longer frames take more symbols, in blocks.
    assert sim.time_on_air(4) < sim.time_on_air(7) < sim.time_on_air(26)
    with pytest.raises(ValueError, match="spreading factor"):
        sim.time_on_air(7, 13)


def test_radio_airtime_and_coverage(sim: ModuleType) -> None:
    """Computed or fixed airtime; gateways hear what --hears says."""
    assert sim.Radio().airtime(7) == sim.time_on_air(7)
    assert sim.Radio(spreading_factor=9).airtime(7) == sim.time_on_air(7, 9)
    assert sim.Radio(airtime=0).airtime(7) == 0
    radio = sim.Radio(3, {2: frozenset({1, 2}), 3: frozenset()})
    assert [g.number for g in radio.hearing(1)] == [1, 2]
    assert [g.number for g in radio.hearing(5)] == [1]
    assert radio.downlink_gateway(5).id == sim.gateway_id(1) == "0016c001f1500001"
    lonely = sim.Radio(1, {1: frozenset({1})})
    assert lonely.downlink_gateway(2) is None


async def test_gateway_sends_one_frame_at_a_time(sim: ModuleType) -> None:
    """20 frames queued at once go on air back to back: 20 x airtime."""
    clock = sim.Clock(scale=0.001)
    gateway = sim.Gateway(1, clock)
    airtime = sim.time_on_air(7)
    on_air: list[int] = []

    async def send(index: int, place: asyncio.Future[None]) -> None:
        async with gateway.turn(place) as slot:
            transmission = slot.begin(eui(index), airtime)
            on_air.append(index)
            # Deaf from the first to (not including) the last instant on air.
            assert gateway.transmitting(transmission.start)
            assert gateway.transmitting(transmission.end - 1e-6)
            assert not gateway.transmitting(transmission.end)
            await slot.finish()
            assert clock.now() >= transmission.end

    start = clock.now()
    places = [gateway.enqueue() for _ in range(20)]
    assert gateway.queued == 20
    await asyncio.gather(*(send(i, place) for i, place in enumerate(places, 1)))

    history = list(gateway.history)
    assert [t.dev_eui for t in history] == [eui(i) for i in range(1, 21)]
    assert on_air == list(range(1, 21))
    for earlier, later in itertools.pairwise(history):
        assert later.start == pytest.approx(earlier.end)
    assert history[0].start >= start
    assert history[-1].end - history[0].start == pytest.approx(20 * airtime)
    assert gateway.queued == 0
    assert not gateway.transmitting(clock.now())


async def test_failed_turn_uses_no_airtime(sim: ModuleType) -> None:
    """A frame that fails at its turn leaves the gateway to the next at once."""
    clock = sim.Clock(scale=0.001)
    gateway = sim.Gateway(1, clock)
    first, failing, last = (gateway.enqueue() for _ in range(3))

    async def send(place: asyncio.Future[None], index: int) -> None:
        async with gateway.turn(place) as slot:
            slot.begin(eui(index), 1.0)
            await slot.finish()

    async def fail(place: asyncio.Future[None]) -> None:
        async with gateway.turn(place):
            pass

    await asyncio.gather(send(first, 1), fail(failing), send(last, 3))
    one, three = gateway.history
    assert three.start == pytest.approx(one.end)


async def test_txack_when_the_frame_leaves_the_gateway(
    sim: ModuleType, broker: Broker
) -> None:
    """20 downlinks at once: one txack per airtime, each at its transmission."""
    async with running(
        sim,
        broker,
        application_id=APP_ID,
        sockets=20,
        airtime=None,  # computed: 1.319 s per on/off frame
        time_scale=0.1,
    ) as simulator:
        clock = simulator.radio.clock
        async with recording(
            broker, clock, "application/+/device/+/event/txack"
        ) as rec:
            items = {}
            downlinks = []
            for index in range(1, 21):
                item = str(uuid.uuid4())
                items[item] = eui(index)
                downlinks.append(
                    ADAPTER.build_downlink(
                        DeviceRef(eui(index), APP_ID), SWITCH_ON, correlation_id=item
                    )
                )
            queued_at = clock.now()
            await publish_in_order(broker, downlinks)
            await wait_until(rec, lambda: len(rec.messages) >= 20, seconds=10)

    airtime = sim.time_on_air(7)
    results = events_of(ADAPTER, rec.messages)
    assert all(isinstance(r, DownlinkResult) for r in results)
    assert all(r.status is DownlinkStatus.SENT for r in results)
    assert [items[r.correlation_id] for r in results] == [r.dev_eui for r in results]
    assert {r.correlation_id for r in results} == set(items)
    history = list(simulator.radio.gateways[0].history)
    assert [t.dev_eui for t in history] == [r.dev_eui for r in results]
    # Each txack is published when its frame starts, not when it was queued:
    # never before its transmission, and the k-th after k-1 airtimes.
    for transmission, seen in zip(history, rec.times, strict=True):
        assert seen >= transmission.start
    for earlier, later in itertools.pairwise(history):
        assert later.start >= earlier.end
    assert rec.times[-1] - queued_at >= 19 * airtime
    assert history[-1].end - history[0].start == pytest.approx(20 * airtime, rel=0.05)


@pytest.mark.parametrize("gateways", [1, 2])
async def test_uplinks_lost_while_the_only_gateway_transmits(
    sim: ModuleType, broker: Broker, gateways: int
) -> None:
    """A report sent while its gateway transmits is lost unless another hears it.

    Socket 1's change report comes 0.1 s (radio) after its frame, while the
    gateway sends socket 2's; socket 2's report, after the last frame, is the
    sentinel that socket 1's was not merely late.
    """
    async with (
        running(
            sim,
            broker,
            application_id=APP_ID,
            sockets=2,
            gateways=gateways,
            airtime=None,
            time_scale=0.2,
            latency=0.02,
        ) as simulator,
        recording(broker, simulator.radio.clock, "application/#") as rec,
    ):
        since = len(rec.messages)
        await publish_in_order(
            broker,
            [
                ADAPTER.build_downlink(DeviceRef(eui(index), APP_ID), SWITCH_ON)
                for index in (1, 2)
            ],
        )
        await wait_until(rec, lambda: uplinks_of(ADAPTER, rec.messages[since:], eui(2)))
        lost = list(simulator.lost)

    first, second = simulator.radio.gateways[0].history
    assert second.start == pytest.approx(first.end)
    reports = uplinks_of(ADAPTER, rec.messages[since:])
    if gateways == 1:
        assert [u.device.dev_eui for u in reports] == [eui(2)]
        assert lost == [(eui(1), lost[0][1])]
        assert lost[0][1].startswith("change report")
    else:
        assert [u.device.dev_eui for u in reports] == [eui(1), eui(2)]
        assert lost == []
        # Gateway 1 was on air: only gateway 2 heard socket 1.
        up = next(
            json.loads(payload)
            for topic, payload in rec.messages[since:]
            if topic.endswith(f"{eui(1)}/event/up")
        )
        assert [rx["gatewayId"] for rx in up["rxInfo"]] == [sim.gateway_id(2)]
        assert reports[0].gateway_count == 1
        # Socket 2 spoke after the last frame: both gateways heard it.
        assert reports[1].gateway_count == 2
    assert decode_uplink(reports[-1].payload)["socket_status"] is True


async def test_socket_out_of_range(sim: ModuleType, broker: Broker) -> None:
    """No gateway hears socket 2: nothing of it arrives, its downlinks fail."""
    async with (
        recording(broker, sim.Clock(), "application/#") as rec,
        running(
            sim,
            broker,
            application_id=APP_ID,
            sockets=2,
            coverage={1: frozenset({1})},
        ) as simulator,
    ):
        await wait_until(rec, lambda: len(uplinks_of(ADAPTER, rec.messages)) >= 2)
        since = len(rec.messages)
        await publish_in_order(
            broker,
            [
                ADAPTER.build_downlink(DeviceRef(eui(index), APP_ID), SWITCH_ON)
                for index in (2, 1)
            ],
        )
        # Socket 1's answer is the sentinel for socket 2's silence.
        await wait_until(rec, lambda: uplinks_of(ADAPTER, rec.messages[since:]))

    events = events_of(ADAPTER, rec.messages)
    assert {e.device.dev_eui for e in events if hasattr(e, "device")} == {eui(1)}
    lost = [what for dev_eui, what in simulator.lost if dev_eui == eui(2)]
    assert lost[:2] == ["join", "basic information"]
    assert len(lost) == 3
    assert lost[2].startswith("report")
    results = [
        e
        for e in events_of(ADAPTER, rec.messages[since:])
        if isinstance(e, DownlinkResult)
    ]
    assert [(r.status, r.dev_eui, r.reason) for r in results] == [
        (DownlinkStatus.FAILED, eui(2), "no gateway in range of the device"),
        (DownlinkStatus.SENT, eui(1), None),
    ]


def test_cli_flags(sim: ModuleType) -> None:
    """The radio and format flags end up in the configuration."""
    config, verbose = sim.parse_args(
        [
            "--format",
            "chirpstack_v3",
            "--application-id",
            "7",
            "--gateways",
            "2",
            "--hears",
            "2=1-3,5",
            "--airtime",
            "0",
            "--spreading-factor",
            "9",
            "--fail-downlinks",
            "4",
            "--fail-reason",
            "TOO_LATE",
        ]
    )
    assert not verbose
    assert config.format == "chirpstack_v3"
    assert config.application_id == "7"
    assert config.gateways == 2
    assert config.coverage == {2: frozenset({1, 2, 3, 5})}
    assert config.airtime == 0
    assert config.spreading_factor == 9
    assert config.fail_downlinks == frozenset({4})
    assert config.fail_reason == "TOO_LATE"
    default, _ = sim.parse_args([])
    assert default.format == "chirpstack_v4"
    assert default.airtime is None  # computed from each frame
    assert default.gateways == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "chirpstack_v3", "--application-id", "not-a-number"],
        ["--application-id", "123"],  # ChirpStack v4 wants a UUID
        ["--format", "tts_v3", "--application-id", "Bad_App"],
        ["--hears", "3=1", "--gateways", "2"],
        ["--hears", "1:2"],
        ["--airtime", "-1"],
        ["--fail-downlinks", "2-1"],
    ],
)
def test_cli_rejects(sim: ModuleType, argv: list[str]) -> None:
    """Bad flags stop the simulator with a usage error."""
    with pytest.raises(SystemExit) as raised:
        sim.parse_args(argv)
    assert raised.value.code == 2
