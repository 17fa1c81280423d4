"""The Things Stack v3 adapter."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_TENANT_ID,
    DeviceRef,
    DownlinkResult,
    DownlinkStatus,
    Ignored,
    Join,
    Subscription,
    TtsV3Adapter,
    Uplink,
)

EUI = "0004a30b001c0530"
TOPIC = "v3/app1@tenant1/devices/dev1/"
FRAME = bytes.fromhex("08700105812907c912000374f508068305000000048001000000")
DEVICE = DeviceRef(EUI, "app1", "dev1")
OUR_ID = "6a0f2a1e-3c4d-4b5e-8f70-1a2b3c4d5e6f"

Loader = Callable[[str], dict[str, Any]]


@pytest.fixture
def adapter() -> TtsV3Adapter:
    return TtsV3Adapter({CONF_APPLICATION_ID: "app1", CONF_TENANT_ID: "tenant1"})


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("name", "event", "expected"),
    [
        (
            "tts_v3_up",
            "up",
            Uplink(
                DEVICE,
                85,
                FRAME,
                f_cnt=1,
                rssi=-35,
                snr=5.2,
                gateway_count=1,
                received_at=datetime(2020, 2, 12, 15, 15, 46, 14773, tzinfo=UTC),
                decoded={"temperature": 1.0, "luminosity": 0.64},
                name="dev1",
            ),
        ),
        (
            "tts_v3_join",
            "join",
            Join(DEVICE, datetime(2020, 2, 17, 7, 49, 9, 935284, tzinfo=UTC)),
        ),
        (
            "tts_v3_down_ack",
            "down/ack",
            DownlinkResult(DownlinkStatus.ACKNOWLEDGED, EUI, "dev1", OUR_ID),
        ),
        (
            # down/failed has no dev_eui: the correlation id identifies it.
            "tts_v3_down_failed",
            "down/failed",
            DownlinkResult(
                DownlinkStatus.FAILED,
                None,
                "dev1",
                OUR_ID,
                "application downlink payload is too long",
            ),
        ),
    ],
)
def test_documented_events(
    adapter: TtsV3Adapter,
    fixture_bytes: Callable[[str], bytes],
    name: str,
    event: str,
    expected: object,
) -> None:
    assert adapter.parse(TOPIC + event, fixture_bytes(name)) == expected


@pytest.mark.parametrize(
    ("event", "key", "status"),
    [
        ("down/queued", "downlink_queued", DownlinkStatus.QUEUED),
        ("down/sent", "downlink_sent", DownlinkStatus.SENT),
        ("down/nack", "downlink_nack", DownlinkStatus.NOT_ACKNOWLEDGED),
    ],
)
def test_downlink_states(
    adapter: TtsV3Adapter,
    fixture_json: Loader,
    event: str,
    key: str,
    status: DownlinkStatus,
) -> None:
    message = fixture_json("tts_v3_down_ack")
    message[key] = message.pop("downlink_ack")
    del message["correlation_ids"]  # found in the inner list as well
    assert adapter.parse(TOPIC + event, encode(message)) == DownlinkResult(
        status, EUI, "dev1", OUR_ID
    )


def test_failure_reason_falls_back_to_name(
    adapter: TtsV3Adapter, fixture_json: Loader
) -> None:
    message = fixture_json("tts_v3_down_failed")
    del message["downlink_failed"]["error"]["message_format"]
    result = adapter.parse(TOPIC + "down/failed", encode(message))
    assert isinstance(result, DownlinkResult)
    assert result.reason == "application_downlink_too_long"


def test_downlinks_of_others_are_ignored(
    adapter: TtsV3Adapter, fixture_json: Loader
) -> None:
    message = fixture_json("tts_v3_down_ack")
    message["correlation_ids"] = ["as:downlink:01E19B99501X84X6CV471TVSZ1"]
    message["downlink_ack"]["correlation_ids"] = ["my-correlation-id"]
    assert adapter.parse(TOPIC + "down/ack", encode(message)) == Ignored(
        "downlink not sent by csocket", TOPIC + "down/ack", EUI
    )


def test_round_trip_correlation(adapter: TtsV3Adapter, fixture_json: Loader) -> None:
    downlink = adapter.build_downlink(DEVICE, b"\x08\x01\x00\xff", confirmed=True)
    pushed = json.loads(downlink.payload)["downlinks"][0]
    message = fixture_json("tts_v3_down_ack")
    message["correlation_ids"] = ["as:downlink:01E1", *pushed["correlation_ids"]]
    result = adapter.parse(TOPIC + "down/ack", encode(message))
    assert isinstance(result, DownlinkResult)
    assert result.correlation_id == downlink.correlation_id


def test_omitted_zero_and_empty_fields(
    adapter: TtsV3Adapter, fixture_json: Loader
) -> None:
    message = fixture_json("tts_v3_up")
    del message["uplink_message"]["f_cnt"], message["uplink_message"]["frm_payload"]
    result = adapter.parse(TOPIC + "up", encode(message))
    assert isinstance(result, Uplink)
    assert (result.f_cnt, result.payload) == (0, b"")


def test_simulated_uplink(adapter: TtsV3Adapter, fixture_json: Loader) -> None:
    message = fixture_json("tts_v3_up") | {"simulated": True}
    del message["uplink_message"]["rx_metadata"]
    result = adapter.parse(TOPIC + "up", encode(message))
    assert isinstance(result, Uplink)
    assert result.simulated is True
    assert (result.rssi, result.gateway_count) == (None, 0)


def test_antennas_and_channel_rssi(adapter: TtsV3Adapter, fixture_json: Loader) -> None:
    message = fixture_json("tts_v3_up")
    message["uplink_message"]["rx_metadata"] = [
        {"gateway_ids": {"gateway_id": "gtw1"}, "channel_rssi": -90.4, "snr": -2},
        {"gateway_ids": {"gateway_id": "gtw1"}, "channel_rssi": -80.6, "snr": 1.5},
        {"gateway_ids": {"gateway_id": "gtw2"}, "rssi": -99, "channel_rssi": -1},
    ]
    result = adapter.parse(TOPIC + "up", encode(message))
    assert isinstance(result, Uplink)
    assert (result.rssi, result.snr, result.gateway_count) == (-81, 1.5, 2)


def test_received_at_of_the_message(
    adapter: TtsV3Adapter, fixture_json: Loader
) -> None:
    message = fixture_json("tts_v3_up")
    del message["received_at"]
    result = adapter.parse(TOPIC + "up", encode(message))
    assert isinstance(result, Uplink)
    assert result.received_at == datetime(2020, 2, 12, 15, 15, 45, 789585, tzinfo=UTC)


def test_other_fport(adapter: TtsV3Adapter, fixture_json: Loader) -> None:
    message = fixture_json("tts_v3_up")
    message["uplink_message"]["f_port"] = 1
    assert adapter.parse(TOPIC + "up", encode(message)) == Ignored(
        "uplink on FPort 1, expected 85", TOPIC + "up", EUI
    )


def test_without_uplink_message(adapter: TtsV3Adapter, fixture_json: Loader) -> None:
    message = fixture_json("tts_v3_up")
    del message["uplink_message"]
    assert adapter.parse(TOPIC + "up", encode(message)) == Ignored(
        "uplink without uplink_message", TOPIC + "up", EUI
    )


def test_abp_device_without_dev_eui(
    adapter: TtsV3Adapter, fixture_json: Loader
) -> None:
    message = fixture_json("tts_v3_up")
    del message["end_device_ids"]["dev_eui"]
    assert adapter.parse(TOPIC + "up", encode(message)) == Ignored(
        "message without a valid DevEUI (None)", TOPIC + "up"
    )


def test_ids_from_topic(adapter: TtsV3Adapter, fixture_json: Loader) -> None:
    message = fixture_json("tts_v3_up")
    message["end_device_ids"] = {"dev_eui": EUI.upper()}
    result = adapter.parse(TOPIC + "up", encode(message))
    assert isinstance(result, Uplink)
    assert result.device == DEVICE


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (TOPIC + "service/data", "The Things Stack 'service/data' events are not used"),
        ("v3/app1/dev1/up", "topic is not a The Things Stack device topic"),
        ("v2/app1/devices/dev1/up", "topic is not a The Things Stack device topic"),
    ],
)
def test_other_topics(adapter: TtsV3Adapter, topic: str, reason: str) -> None:
    assert adapter.parse(topic, b"{}") == Ignored(reason, topic)


def test_subscriptions_qos0(adapter: TtsV3Adapter) -> None:
    prefix = "v3/app1@tenant1/devices/+/"
    assert adapter.subscriptions() == [
        Subscription(prefix + event, 0)
        for event in (
            "up",
            "join",
            "down/queued",
            "down/sent",
            "down/ack",
            "down/nack",
            "down/failed",
        )
    ]


@pytest.mark.parametrize(
    ("config", "first"),
    [
        ({CONF_APPLICATION_ID: "app1"}, "v3/app1@ttn/devices/+/up"),
        ({CONF_APPLICATION_ID: "app1", CONF_TENANT_ID: ""}, "v3/app1/devices/+/up"),
        ({}, "v3/+/devices/+/up"),
    ],
)
def test_tenants(config: dict[str, str], first: str) -> None:
    assert TtsV3Adapter(config).subscriptions()[0].topic == first


def test_downlink_matches_the_docs(adapter: TtsV3Adapter) -> None:
    downlink = adapter.build_downlink(
        DEVICE, b"\xbe\xef", f_port=15, confirmed=True, correlation_id="my-id"
    )
    assert downlink.topic == "v3/app1@tenant1/devices/dev1/down/push"
    assert downlink.payload == (
        b'{"downlinks":[{"f_port":15,"frm_payload":"vu8=","priority":"NORMAL",'
        b'"confirmed":true,"correlation_ids":["csocket:my-id"]}]}'
    )
    assert (downlink.correlation_id, downlink.qos) == ("my-id", 0)


def test_downlink_open_source_application_from_uplink() -> None:
    adapter = TtsV3Adapter({CONF_TENANT_ID: ""})
    downlink = adapter.build_downlink(DEVICE, b"\x01")
    assert downlink.topic == "v3/app1/devices/dev1/down/push"


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (DeviceRef(EUI, "app1"), "needs the device ID"),
        (DeviceRef(EUI, None, "dev1"), "needs the application ID"),
    ],
)
def test_downlink_needs_ids(device: DeviceRef, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TtsV3Adapter({}).build_downlink(device, b"\x01")
