"""ChirpStack v4 adapter: documented events in, documented command out."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_COMMAND_TOPIC,
    CONF_EVENT_TOPIC,
    IGNORED_INVALID_DEV_EUI,
    ChirpStackV4Adapter,
    DeviceRef,
    DownlinkResult,
    DownlinkStatus,
    Ignored,
    Join,
    Subscription,
    Uplink,
)

APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
EUI = "0101010101010101"
TOPIC = f"application/{APP}/device/{EUI}/event/"
FRAME = bytes.fromhex("08700105812907c912000374f508068305000000048001000000")
DEVICE = DeviceRef(EUI, APP, None, "Test device")
QUEUE_ID = "6a0f2a1e-3c4d-4b5e-8f70-1a2b3c4d5e6f"

Loader = Callable[[str], dict[str, Any]]


@pytest.fixture
def adapter() -> ChirpStackV4Adapter:
    return ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("name", "event", "expected"),
    [
        (
            # The docs capture predates emit_fields: no fCnt means 0.
            "chirpstack_v4_up_docs",
            "up",
            Uplink(
                DEVICE,
                85,
                FRAME,
                f_cnt=0,
                rssi=-36,
                snr=10.5,
                gateway_count=1,
                received_at=datetime(2022, 7, 18, 9, 34, 15, 775023, tzinfo=UTC),
                name="Test device",
            ),
        ),
        (
            "chirpstack_v4_up_full",
            "up",
            Uplink(
                DEVICE,
                85,
                FRAME,
                f_cnt=4,
                rssi=-30,
                snr=12.0,
                gateway_count=1,
                received_at=datetime(2024, 1, 6, 11, 34, 6, 123456, tzinfo=UTC),
                decoded={"socket_status": True, "voltage": 233},
                name="Test device",
            ),
        ),
        (
            "chirpstack_v4_join",
            "join",
            Join(DEVICE, datetime(2022, 7, 18, 9, 33, 28, 823500, tzinfo=UTC)),
        ),
        (
            "chirpstack_v4_ack",
            "ack",
            DownlinkResult(
                DownlinkStatus.ACKNOWLEDGED,
                EUI,
                correlation_id="1bbcab1d-6ec6-4136-b3f5-d63be1dc08de",
            ),
        ),
        (
            "chirpstack_v4_txack",
            "txack",
            DownlinkResult(
                DownlinkStatus.SENT,
                EUI,
                correlation_id="42cb6459-a640-46ec-9623-bdff39dc4736",
            ),
        ),
        (
            "chirpstack_v4_status",
            "status",
            Ignored("ChirpStack 'status' events are not used", TOPIC + "status"),
        ),
        (
            "chirpstack_v4_log",
            "log",
            Ignored(
                "ChirpStack log ERROR UPLINK_MIC: MIC of join-request is invalid, "
                "make sure keys are correct",
                TOPIC + "log",
                EUI,
            ),
        ),
        (
            "chirpstack_v4_log_downlink",
            "log",
            DownlinkResult(
                DownlinkStatus.FAILED,
                EUI,
                correlation_id=QUEUE_ID,
                reason="Device queue-item discarded because it exceeds the max. "
                "payload size",
            ),
        ),
    ],
)
def test_documented_events(
    adapter: ChirpStackV4Adapter,
    fixture_bytes: Callable[[str], bytes],
    name: str,
    event: str,
    expected: object,
) -> None:
    assert adapter.parse(TOPIC + event, fixture_bytes(name)) == expected


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"acknowledged": False}, DownlinkStatus.NOT_ACKNOWLEDGED),
        ({"acknowledged": None}, DownlinkStatus.NOT_ACKNOWLEDGED),
    ],
)
def test_ack_timeout_is_not_acknowledged(
    adapter: ChirpStackV4Adapter,
    fixture_json: Loader,
    changes: dict[str, Any],
    status: DownlinkStatus,
) -> None:
    event = fixture_json("chirpstack_v4_ack") | changes
    result = adapter.parse(TOPIC + "ack", encode(event))
    assert isinstance(result, DownlinkResult)
    assert result.status is status


def test_ack_without_acknowledged_key(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    # Pre-2022 builds omit false values.
    event = fixture_json("chirpstack_v4_ack")
    del event["acknowledged"]
    result = adapter.parse(TOPIC + "ack", encode(event))
    assert isinstance(result, DownlinkResult)
    assert result.status is DownlinkStatus.NOT_ACKNOWLEDGED


def test_downlink_log_without_queue_item(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    # DOWNLINK_GATEWAY logs carry no context: the hub falls back on the DevEUI.
    event = fixture_json("chirpstack_v4_log") | {
        "code": "DOWNLINK_GATEWAY",
        "description": "",
    }
    del event["context"]
    assert adapter.parse(TOPIC + "log", encode(event)) == DownlinkResult(
        DownlinkStatus.FAILED, EUI, reason="DOWNLINK_GATEWAY"
    )


def test_downlink_log_below_error_is_ignored(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v4_log_downlink") | {"level": "WARNING"}
    result = adapter.parse(TOPIC + "log", encode(event))
    assert isinstance(result, Ignored)
    assert "DOWNLINK_PAYLOAD_SIZE" in result.reason


def test_round_trip_correlation(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    """The id of a built downlink is what txack/ack report back."""
    downlink = adapter.build_downlink(DEVICE, b"\x08\x01\x00\xff", confirmed=True)
    sent = json.loads(downlink.payload)
    txack = fixture_json("chirpstack_v4_txack") | {"queueItemId": sent["id"]}
    result = adapter.parse(TOPIC + "txack", encode(txack))
    assert isinstance(result, DownlinkResult)
    assert result.correlation_id == downlink.correlation_id == sent["id"]


def test_omitted_zero_fields(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v4_up_docs")
    del event["data"], event["dr"]
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert (result.payload, result.f_cnt) == (b"", 0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fPort": 10}, "uplink on FPort 10, expected 85"),
        ({"fPort": 0}, "uplink on FPort 0 (MAC commands only)"),
        ({"fPort": "x"}, "uplink without a valid FPort ('x')"),
        ({"fPort": True}, "uplink without a valid FPort (True)"),
        ({"data": "not base64!"}, "uplink data is not base64 ('not base64!')"),
        ({"data": 12}, "uplink data is not base64 (12)"),
    ],
)
def test_unusable_uplinks(
    adapter: ChirpStackV4Adapter,
    fixture_json: Loader,
    changes: dict[str, Any],
    reason: str,
) -> None:
    event = fixture_json("chirpstack_v4_up_full") | changes
    assert adapter.parse(TOPIC + "up", encode(event)) == Ignored(
        reason, TOPIC + "up", EUI
    )


def test_missing_fport_is_mac_only(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v4_up_full")
    del event["fPort"]
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Ignored)
    assert "FPort 0" in result.reason


def test_numeric_string_fport_and_fcnt(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v4_up_full") | {"fPort": "85", "fCnt": "7"}
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert (result.f_port, result.f_cnt) == (85, 7)


def test_dev_eui_from_topic_when_device_info_missing(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v4_up_full")
    del event["deviceInfo"]
    result = adapter.parse(TOPIC + "up", encode(event))
    assert isinstance(result, Uplink)
    assert result.device == DeviceRef(EUI, APP)


def test_no_dev_eui_anywhere(
    adapter: ChirpStackV4Adapter, fixture_json: Loader
) -> None:
    event = fixture_json("chirpstack_v4_up_full")
    event["deviceInfo"]["devEui"] = "nothex"
    topic = f"application/{APP}/device/nothex/event/up"
    assert adapter.parse(topic, encode(event)) == Ignored(
        "DevEUI 'nothex' is not 16 hexadecimal digits",
        topic,
        code=IGNORED_INVALID_DEV_EUI,
    )


def test_duplicate_deliveries_share_the_dedup_key(
    adapter: ChirpStackV4Adapter, fixture_bytes: Callable[[str], bytes]
) -> None:
    first = adapter.parse(TOPIC + "up", fixture_bytes("chirpstack_v4_up_full"))
    again = adapter.parse(TOPIC + "up", fixture_bytes("chirpstack_v4_up_full"))
    assert isinstance(first, Uplink)
    assert isinstance(again, Uplink)
    assert first.dedup_key == again.dedup_key == (EUI, 4, FRAME)


def test_protobuf_payload_asks_for_json(adapter: ChirpStackV4Adapter) -> None:
    protobuf = b"\n$3ac7e3c4-4401-4b8d-9386-a5c902f9202d\x12\x0c\x08\x97\xd5"
    result = adapter.parse(TOPIC + "up", protobuf)
    assert isinstance(result, Ignored)
    assert "set json=true in the [integration.mqtt] section" in result.reason.lower()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"deviceInfo": ', "payload is not valid JSON"),
        (b"[1, 2]", "payload is JSON but not an object"),
        (b'"text"', "payload is JSON but not an object"),
        (b"[" * 100_000, "payload is not valid JSON"),
    ],
)
def test_not_an_event(
    adapter: ChirpStackV4Adapter, payload: bytes, reason: str
) -> None:
    assert adapter.parse(TOPIC + "up", payload) == Ignored(reason, TOPIC + "up")


def test_foreign_topic(adapter: ChirpStackV4Adapter) -> None:
    assert adapter.parse("gateway/0016c001f153a14c/event/up", b"{}") == Ignored(
        "topic does not match the ChirpStack event topic",
        "gateway/0016c001f153a14c/event/up",
    )


def test_subscriptions_one_filter_per_event(adapter: ChirpStackV4Adapter) -> None:
    prefix = f"application/{APP}/device/+/event/"
    assert adapter.subscriptions() == [
        Subscription(prefix + event, 1)
        for event in ("up", "join", "ack", "txack", "log")
    ]


@pytest.mark.parametrize("application_id", ["", "+", None, "  "])
def test_all_applications(application_id: str | None) -> None:
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: application_id})
    assert adapter.subscriptions()[0].topic == "application/+/device/+/event/up"


def test_application_uuid_is_normalised() -> None:
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: f" {APP.upper()} "})
    assert adapter.application_id == APP


def test_application_must_be_a_uuid() -> None:
    with pytest.raises(ValueError, match="must be a UUID, got '123'"):
        ChirpStackV4Adapter({CONF_APPLICATION_ID: "123"})


def test_custom_templates() -> None:
    adapter = ChirpStackV4Adapter(
        {
            CONF_EVENT_TOPIC: "lns/{{ application_id }}/dev-{{dev_eui}}/{{event}}",
            CONF_COMMAND_TOPIC: "lns/cmd/{{dev_eui}}/{{command}}",
        }
    )
    assert adapter.subscriptions()[1].topic == "lns/+/+/join"
    topic = f"lns/{APP}/dev-{EUI}/join"
    assert isinstance(adapter.parse(topic, b'{"deviceInfo": {}}'), Join)
    assert adapter.parse(f"lns/{APP}/{EUI}/join", b"{}") == Ignored(
        "topic does not match the ChirpStack event topic", f"lns/{APP}/{EUI}/join"
    )
    downlink = adapter.build_downlink(DeviceRef(EUI), b"\x01")
    assert downlink.topic == f"lns/cmd/{EUI}/down"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # {{device_eui}} appears in third-party configs but does not exist.
        ({CONF_EVENT_TOPIC: "a/{{device_eui}}/{{event}}"}, "unsupported placeholder"),
        ({CONF_EVENT_TOPIC: "a/{{dev_eui}}/up"}, "lacks the placeholder"),
        ({CONF_EVENT_TOPIC: "a/{{dev_eui}}-{{event}}"}, "two placeholders"),
        ({CONF_COMMAND_TOPIC: "a/{{application_id}}/down"}, "lacks the placeholder"),
    ],
)
def test_invalid_templates(config: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChirpStackV4Adapter(config)


def test_downlink_matches_the_docs(adapter: ChirpStackV4Adapter) -> None:
    downlink = adapter.build_downlink(
        DeviceRef("0102030405060708", APP),
        b"\x01\x02\x03",
        f_port=10,
        correlation_id=QUEUE_ID,
    )
    assert downlink.topic == f"application/{APP}/device/0102030405060708/command/down"
    assert downlink.payload == (
        b'{"id":"6a0f2a1e-3c4d-4b5e-8f70-1a2b3c4d5e6f","devEui":"0102030405060708",'
        b'"confirmed":false,"fPort":10,"data":"AQID"}'
    )
    assert downlink.correlation_id == QUEUE_ID
    assert downlink.qos == 1


def test_downlink_defaults(adapter: ChirpStackV4Adapter) -> None:
    # Upper-case EUI from elsewhere: topic and devEui must be the same string.
    downlink = adapter.build_downlink(
        DeviceRef("24E124136B502217"), b"", confirmed=True
    )
    body = json.loads(downlink.payload)
    assert downlink.topic == f"application/{APP}/device/24e124136b502217/command/down"
    assert body["devEui"] == "24e124136b502217"
    assert (body["fPort"], body["confirmed"], body["data"]) == (85, True, "")
    assert body["id"] == downlink.correlation_id
    assert downlink.correlation_id != adapter.build_downlink(DEVICE, b"").correlation_id


def test_downlink_needs_an_application() -> None:
    adapter = ChirpStackV4Adapter({})
    with pytest.raises(ValueError, match="needs the device's application_id"):
        adapter.build_downlink(DeviceRef(EUI), b"\x01")
    downlink = adapter.build_downlink(DEVICE, b"\x01")
    assert downlink.topic.startswith(f"application/{APP}/")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"correlation_id": "my-id"}, "UUID"),
        ({"correlation_id": QUEUE_ID.upper()}, "UUID"),
        ({"f_port": 0}, "FPort must be 1-223, got 0"),
        ({"f_port": 224}, "FPort must be 1-223, got 224"),
    ],
)
def test_downlink_rejects(
    adapter: ChirpStackV4Adapter, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        adapter.build_downlink(DEVICE, b"\x01", **kwargs)


def test_downlink_rejects_a_bad_eui(adapter: ChirpStackV4Adapter) -> None:
    with pytest.raises(ValueError, match="Invalid DevEUI '0101'"):
        adapter.build_downlink(DeviceRef("0101"), b"\x01")
