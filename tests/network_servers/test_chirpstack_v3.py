"""ChirpStack v3 adapter: json_v3 and json marshalers, event and legacy topics."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_MARSHALER,
    CONF_TOPIC_STYLE,
    IGNORED_INVALID_DEV_EUI,
    MARSHALER_JSON,
    TOPIC_STYLE_LEGACY,
    ChirpStackV3Adapter,
    DeviceRef,
    DownlinkResult,
    DownlinkStatus,
    Ignored,
    Join,
    Subscription,
    Uplink,
)

EUI = "0202020202020202"
TOPIC = f"application/123/device/{EUI}/event/"
LEGACY = f"application/123/device/{EUI}/"
FRAME = bytes.fromhex("08700105812907c912000374f508068305000000048001000000")
DEVICE = DeviceRef(EUI, "123", None, "garden-sensor")

Loader = Callable[[str], dict[str, Any]]


@pytest.fixture
def adapter() -> ChirpStackV3Adapter:
    return ChirpStackV3Adapter({CONF_APPLICATION_ID: "123"})


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("name", "topic", "expected"),
    [
        (
            "chirpstack_v3_up_json_v3",
            TOPIC + "up",
            Uplink(
                DEVICE,
                85,
                FRAME,
                f_cnt=10,
                rssi=-57,
                snr=10.0,
                gateway_count=1,
                # json_v3 has no event time: the gateway's receive time.
                received_at=datetime(2016, 11, 25, 16, 24, 37, 295915, tzinfo=UTC),
                decoded={"temperatureSensor": {"1": 25}, "humiditySensor": {"1": 32}},
                name="garden-sensor",
            ),
        ),
        (
            # base64 devEUI and the decoded object as a JSON string.
            "chirpstack_v3_up_json",
            TOPIC + "up",
            Uplink(
                DEVICE,
                85,
                FRAME,
                f_cnt=11,
                rssi=-48,
                snr=9.0,
                gateway_count=1,
                received_at=datetime(2019, 11, 8, 13, 59, 25, 50613, tzinfo=UTC),
                decoded={"socket_status": True},
                name="garden-sensor",
            ),
        ),
        ("chirpstack_v3_join", TOPIC + "join", Join(DEVICE)),
        (
            "chirpstack_v3_ack",
            TOPIC + "ack",
            DownlinkResult(DownlinkStatus.ACKNOWLEDGED, EUI),
        ),
        (
            "chirpstack_v3_txack",
            TOPIC + "txack",
            DownlinkResult(DownlinkStatus.SENT, EUI),
        ),
        (
            "chirpstack_v3_status",
            TOPIC + "status",
            Ignored("ChirpStack 'status' events are not used", TOPIC + "status"),
        ),
        (
            "chirpstack_v3_error",
            TOPIC + "error",
            Ignored("ChirpStack error DATA_UP_FCNT: ...", TOPIC + "error", EUI),
        ),
        (
            "chirpstack_v3_error_downlink",
            TOPIC + "error",
            DownlinkResult(
                DownlinkStatus.FAILED, EUI, reason="payload exceeds max payload size"
            ),
        ),
        # Before v3.11 the same messages arrive on .../rx, .../ack, ...
        (
            "chirpstack_v3_up_json_v3",
            LEGACY + "rx",
            Uplink(
                DEVICE,
                85,
                FRAME,
                f_cnt=10,
                rssi=-57,
                snr=10.0,
                gateway_count=1,
                received_at=datetime(2016, 11, 25, 16, 24, 37, 295915, tzinfo=UTC),
                decoded={"temperatureSensor": {"1": 25}, "humiditySensor": {"1": 32}},
                name="garden-sensor",
            ),
        ),
        (
            "chirpstack_v3_ack",
            LEGACY + "ack",
            DownlinkResult(DownlinkStatus.ACKNOWLEDGED, EUI),
        ),
    ],
)
def test_documented_events(
    adapter: ChirpStackV3Adapter,
    fixture_bytes: Callable[[str], bytes],
    name: str,
    topic: str,
    expected: object,
) -> None:
    assert adapter.parse(topic, fixture_bytes(name)) == expected


def test_ack_not_acknowledged(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v3_ack") | {"acknowledged": False}
    assert adapter.parse(TOPIC + "ack", encode(event)) == DownlinkResult(
        DownlinkStatus.NOT_ACKNOWLEDGED, EUI
    )


@pytest.mark.parametrize(
    "error_type", ["DOWNLINK_GATEWAY", "DATA_DOWN_GATEWAY", "DEVICE_QUEUE_ITEM_SIZE"]
)
def test_downlink_error_types(
    adapter: ChirpStackV3Adapter, fixture_json: Loader, error_type: str
) -> None:
    event = fixture_json("chirpstack_v3_error") | {"type": error_type, "error": ""}
    assert adapter.parse(TOPIC + "error", encode(event)) == DownlinkResult(
        DownlinkStatus.FAILED, EUI, reason=error_type
    )


def test_join_with_published_at(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v3_join") | {
        "publishedAt": "2020-11-18T10:00:00.123456789Z"
    }
    assert adapter.parse(TOPIC + "join", encode(event)) == Join(
        DEVICE, datetime(2020, 11, 18, 10, 0, 0, 123456, tzinfo=UTC)
    )


def test_numeric_application_id(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v3_up_json_v3") | {"applicationID": 123}
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert result.device.application_id == "123"


def test_identity_from_topic(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v3_up_json_v3")
    del event["devEUI"], event["applicationID"], event["deviceName"]
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert result.device == DeviceRef(EUI, "123")


def test_empty_payload_is_null(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    # Go marshals an empty []byte as null.
    event = fixture_json("chirpstack_v3_up_json_v3") | {"data": None}
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert result.payload == b""


@pytest.mark.parametrize(
    ("missing", "reason"),
    [("data", "uplink without data"), ("fPort", "uplink without a valid FPort (None)")],
)
def test_missing_fields(
    adapter: ChirpStackV3Adapter, fixture_json: Loader, missing: str, reason: str
) -> None:
    event = fixture_json("chirpstack_v3_up_json_v3")
    del event[missing]
    assert adapter.parse(TOPIC + "up", encode(event)) == Ignored(
        reason, TOPIC + "up", EUI
    )


def test_bad_object_json_is_dropped(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v3_up_json") | {"objectJSON": "{broken"}
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert result.decoded is None
    assert result.payload == FRAME


def test_without_rx_info(adapter: ChirpStackV3Adapter, fixture_json: Loader) -> None:
    event = fixture_json("chirpstack_v3_up_json_v3") | {"rxInfo": []}
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert (result.rssi, result.snr, result.gateway_count, result.received_at) == (
        None,
        None,
        0,
        None,
    )


def test_same_frame_from_two_gateways(
    adapter: ChirpStackV3Adapter, fixture_json: Loader
) -> None:
    first = fixture_json("chirpstack_v3_up_json_v3")
    second = fixture_json("chirpstack_v3_up_json_v3")
    second["rxInfo"] = [
        {"gatewayID": "0404040404040404", "rssi": -101, "loRaSNR": -3.5}
    ]
    one = adapter.parse(TOPIC + "up", encode(first))
    two = adapter.parse(TOPIC + "up", encode(second))
    assert isinstance(one, Uplink)
    assert isinstance(two, Uplink)
    assert one != two
    assert one.dedup_key == two.dedup_key == (EUI, 10, FRAME)


def test_bad_dev_eui(adapter: ChirpStackV3Adapter, fixture_json: Loader) -> None:
    event = fixture_json("chirpstack_v3_up_json_v3") | {"devEUI": "AgICAg=="}
    topic = "application/123/device/x/event/up"
    assert adapter.parse(topic, encode(event)) == Ignored(
        "DevEUI 'AgICAg==' is not 16 hexadecimal digits (json_v3) or base64 of "
        "8 bytes (json)",
        topic,
        code=IGNORED_INVALID_DEV_EUI,
    )


def test_protobuf_marshaler_hint(adapter: ChirpStackV3Adapter) -> None:
    result = adapter.parse(TOPIC + "up", b"\x08{\x12\x12temperature-sensor")
    assert isinstance(result, Ignored)
    assert 'marshaler="json_v3"' in result.reason


def test_foreign_topic(adapter: ChirpStackV3Adapter) -> None:
    assert adapter.parse("application/123/up", b"{}") == Ignored(
        "topic is not a ChirpStack v3 device topic", "application/123/up"
    )


def test_own_downlink_echo_is_ignored(adapter: ChirpStackV3Adapter) -> None:
    assert adapter.parse(LEGACY + "tx", b"{}") == Ignored(
        "ChirpStack 'tx' events are not used", LEGACY + "tx"
    )


def test_subscriptions_event_style(adapter: ChirpStackV3Adapter) -> None:
    assert adapter.subscriptions() == [
        Subscription(f"application/123/device/+/event/{event}", 1)
        for event in ("up", "join", "ack", "txack", "error")
    ]


def test_subscriptions_legacy_all_applications() -> None:
    adapter = ChirpStackV3Adapter({CONF_TOPIC_STYLE: TOPIC_STYLE_LEGACY})
    assert [s.topic for s in adapter.subscriptions()] == [
        f"application/+/device/+/{event}"
        for event in ("rx", "join", "ack", "txack", "error")
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({CONF_APPLICATION_ID: "17c82e96"}, "must be a number"),
        ({CONF_TOPIC_STYLE: "modern"}, "topic_style must be one of event, legacy"),
        ({CONF_MARSHALER: "protobuf"}, "marshaler must be one of json_v3, json"),
    ],
)
def test_invalid_config(config: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChirpStackV3Adapter(config)


def test_json_marshaler_is_accepted() -> None:
    adapter = ChirpStackV3Adapter({CONF_MARSHALER: MARSHALER_JSON})
    assert adapter.marshaler == MARSHALER_JSON


def test_downlink_matches_the_docs(adapter: ChirpStackV3Adapter) -> None:
    downlink = adapter.build_downlink(
        DeviceRef(EUI), b"\x01\x02\x03", f_port=10, confirmed=True
    )
    assert downlink.topic == f"application/123/device/{EUI}/command/down"
    assert downlink.payload == b'{"confirmed":true,"fPort":10,"data":"AQID"}'
    # No id on the wire, but the hub still gets one to track the request.
    assert len(downlink.correlation_id) == 36


def test_legacy_downlink_uses_the_device_application() -> None:
    adapter = ChirpStackV3Adapter({CONF_TOPIC_STYLE: TOPIC_STYLE_LEGACY})
    with pytest.raises(ValueError, match="application_id"):
        adapter.build_downlink(DeviceRef(EUI), b"\xff")
    downlink = adapter.build_downlink(DeviceRef(EUI, "7"), b"\xff")
    assert downlink.topic == f"application/7/device/{EUI}/tx"
    assert json.loads(downlink.payload) == {
        "confirmed": False,
        "fPort": 85,
        "data": "/w==",
    }
