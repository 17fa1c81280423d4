"""Milesight / Linovision gateway adapter."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.csocket.network_servers import (
    CONF_DOWNLINK_TOPIC,
    CONF_UPLINK_TOPIC,
    DeviceRef,
    Ignored,
    MilesightAdapter,
    Subscription,
    Uplink,
)

TOPIC = "csocket/uplink"
FRAME = bytes.fromhex("08700105812907c912000374f508068305000000048001000000")
OLDER = DeviceRef("24e124136b502217", "1", None, "WS523")

Loader = Callable[[str], dict[str, Any]]


@pytest.fixture
def adapter() -> MilesightAdapter:
    return MilesightAdapter({})


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "milesight_up_older",
            Uplink(
                OLDER,
                85,
                FRAME,
                f_cnt=128,
                rssi=-51,
                snr=13.8,
                gateway_count=1,
                received_at=datetime(2022, 12, 27, 7, 21, 27, 78763, tzinfo=UTC),
                name="WS523",
            ),
        ),
        (
            # Numeric applicationID and deviceID in newer firmware.
            "milesight_up_newer",
            Uplink(
                DeviceRef("24e124527f418093", "1", "22", "WS523"),
                85,
                FRAME,
                f_cnt=84,
                rssi=-57,
                snr=12.2,
                gateway_count=1,
                received_at=datetime(2026, 3, 23, 7, 45, 4, 526398, tzinfo=UTC),
                name="WS523",
            ),
        ),
    ],
)
def test_documented_uplinks(
    adapter: MilesightAdapter,
    fixture_bytes: Callable[[str], bytes],
    name: str,
    expected: Uplink,
) -> None:
    assert adapter.parse(TOPIC, fixture_bytes(name)) == expected


@pytest.mark.parametrize(
    "topic", ["csocket/uplink", "csocket/uplink/24e124136b502217", "csocket/uplink/a/b"]
)
def test_default_topic_accepts_per_device_topics(
    adapter: MilesightAdapter, fixture_bytes: Callable[[str], bytes], topic: str
) -> None:
    assert isinstance(adapter.parse(topic, fixture_bytes("milesight_up_older")), Uplink)


@pytest.mark.parametrize("topic", ["csocket", "csocket/downlink", "other/uplink"])
def test_other_topics(adapter: MilesightAdapter, topic: str) -> None:
    assert adapter.parse(topic, b"{}") == Ignored(
        "topic does not match 'csocket/uplink/#'", topic
    )


def test_subscription(adapter: MilesightAdapter) -> None:
    assert adapter.subscriptions() == [Subscription("csocket/uplink/#", 1)]


def test_gateway_placeholders_become_wildcards(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    # Users may paste the gateway's own topic setting.
    adapter = MilesightAdapter({CONF_UPLINK_TOPIC: "/milesight/$deveui/up-$deviceName"})
    assert adapter.subscriptions() == [Subscription("/milesight/+/+", 1)]
    message = fixture_bytes("milesight_up_older")
    assert isinstance(
        adapter.parse("/milesight/24e124136b502217/up-WS", message), Uplink
    )
    assert isinstance(adapter.parse("milesight/24e124136b502217/up", message), Ignored)


def test_empty_and_missing_data(
    adapter: MilesightAdapter, fixture_json: Loader
) -> None:
    message = fixture_json("milesight_up_older") | {"data": None}
    result = adapter.parse(TOPIC, encode(message))
    assert isinstance(result, Uplink)
    assert result.payload == b""
    del message["data"]
    assert adapter.parse(TOPIC, encode(message)) == Ignored(
        "uplink without data", TOPIC, OLDER.dev_eui
    )


def test_payload_codec_output(adapter: MilesightAdapter) -> None:
    decoded_only = encode({"socket_status": "on", "voltage": 229.3})
    result = adapter.parse(TOPIC, decoded_only)
    assert isinstance(result, Ignored)
    assert "payload codec" in result.reason


def test_other_fport(adapter: MilesightAdapter, fixture_json: Loader) -> None:
    message = fixture_json("milesight_up_older") | {"fPort": 10}
    assert adapter.parse(TOPIC, encode(message)) == Ignored(
        "uplink on FPort 10, expected 85", TOPIC, OLDER.dev_eui
    )


def test_same_frame_from_two_gateways(
    adapter: MilesightAdapter, fixture_json: Loader
) -> None:
    first = fixture_json("milesight_up_older")
    second = fixture_json("milesight_up_older")
    second["rxInfo"][0] |= {"mac": "24e124fffef00001", "rssi": -97, "loRaSNR": -4}
    second["time"] = "2022-12-27T07:21:27.091000Z"
    one = adapter.parse(TOPIC, encode(first))
    two = adapter.parse(TOPIC, encode(second))
    assert isinstance(one, Uplink)
    assert isinstance(two, Uplink)
    assert (one.rssi, two.rssi) == (-51, -97)
    assert one.dedup_key == two.dedup_key == (OLDER.dev_eui, 128, FRAME)


def test_default_downlink(adapter: MilesightAdapter) -> None:
    downlink = adapter.build_downlink(OLDER, b"\x08\x01\x00\xff", confirmed=True)
    assert downlink.topic == "application/1/device/24e124136b502217/tx"
    # Both spellings of the port: older docs "fport", newer docs "fPort".
    assert downlink.payload == (
        b'{"confirmed":true,"fport":85,"fPort":85,"data":"CAEA/w=="}'
    )
    assert downlink.qos == 1


def test_downlink_topic_without_eui_names_the_device() -> None:
    adapter = MilesightAdapter({CONF_DOWNLINK_TOPIC: "/eg/downlink"})
    downlink = adapter.build_downlink(DeviceRef("24E124406F079198"), b"\xff\x10\xff")
    assert downlink.topic == "/eg/downlink"
    assert downlink.payload == (
        b'{"devEUI":"24e124406f079198","confirmed":false,"fport":85,"fPort":85,'
        b'"data":"/xD/"}'
    )


def test_downlink_topic_placeholders() -> None:
    adapter = MilesightAdapter(
        {CONF_DOWNLINK_TOPIC: "gw/$deviceName/$deviceID/$devEUI/down"}
    )
    downlink = adapter.build_downlink(
        DeviceRef("24e124527f418093", "1", "22", "plug"), b"\x01"
    )
    assert downlink.topic == "gw/plug/22/24e124527f418093/down"
    assert "devEUI" not in json.loads(downlink.payload)


def test_downlink_needs_the_application_id(adapter: MilesightAdapter) -> None:
    with pytest.raises(ValueError, match="needs the device's applicationID"):
        adapter.build_downlink(DeviceRef("24e124136b502217"), b"\x01")


def test_downlink_topic_with_gateway_only_placeholder() -> None:
    with pytest.raises(ValueError, match=r"unsupported placeholder\(s\) gatewaySN"):
        MilesightAdapter({CONF_DOWNLINK_TOPIC: "$gatewaySN/$deveui/down"})
