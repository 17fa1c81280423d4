"""Shared helpers, the adapter registry and the never-raise contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.csocket.network_servers import (
    ADAPTERS,
    CONF_F_PORT,
    DEFAULTS,
    OPTIONS_FOR_KIND,
    ChirpStackV4Adapter,
    DeviceRef,
    Ignored,
    ServerKind,
    TtsV3Adapter,
    create_adapter,
)
from custom_components.csocket.network_servers._common import (
    TopicTemplate,
    as_int,
    as_str,
    b64decode,
    config_text,
    filter_matches,
    is_downlink_error,
    link_quality,
    normalize_eui,
    parse_time,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (85, 85),
        ("85", 85),
        (85.0, 85),
        (85.5, None),
        (True, None),
        ("-1", None),
        ("8 5", None),
        ("٨٥", None),  # non-ASCII digits
        (None, None),
        ([85], None),
    ],
)
def test_as_int(value: object, expected: int | None) -> None:
    assert as_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", "1"), (1, "1"), ("", None), (True, None), (None, None), (1.5, None)],
)
def test_as_str(value: object, expected: str | None) -> None:
    assert as_str(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("AQID", b"\x01\x02\x03"), ("", b""), ("AQI", None), ("A!ID", None), ("é", None)],
)
def test_b64decode(text: str, expected: bytes | None) -> None:
    assert b64decode(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0004A30B001C0530", "0004a30b001c0530"),
        ("24e124136b502217", "24e124136b502217"),
        ("AgICAgICAgI=", "0202020202020202"),  # v3 "json" marshaler
        ("AgICAg==", None),  # 4 bytes
        ("0004A30B001C053", None),
        ("0004A30B001C053G", None),
        (b"0004a30b001c0530", None),
        (None, None),
    ],
)
def test_normalize_eui(value: object, expected: str | None) -> None:
    assert normalize_eui(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Nanoseconds are cut to microseconds, not rounded.
        (
            "2022-07-18T09:34:15.775023242+00:00",
            datetime(2022, 7, 18, 9, 34, 15, 775023, tzinfo=UTC),
        ),
        (
            "2020-02-12T15:15:46.014773143Z",
            datetime(2020, 2, 12, 15, 15, 46, 14773, tzinfo=UTC),
        ),
        ("2022-12-27T07:21:27", datetime(2022, 12, 27, 7, 21, 27, tzinfo=UTC)),
        (
            "2026-03-23T15:45:04+08:00",
            datetime(2026, 3, 23, 15, 45, 4, tzinfo=timezone(timedelta(hours=8))),
        ),
        ("yesterday", None),
        (1700000000, None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_link_quality_best_of_gateways() -> None:
    rx_info = [
        {"gatewayId": "a", "rssi": -110, "snr": -7.5},
        {"gatewayId": "b", "rssi": -60, "snr": 3},
        {"gatewayId": "b", "rssi": -65, "snr": 4.25},  # second antenna of b
        {"rssi": "strong", "snr": None},  # no id, no numbers: counted, not used
        "garbage",
    ]
    assert link_quality(rx_info, ("rssi",), "snr", ("gatewayId",)) == (-60, 4.25, 3)


def test_link_quality_without_list() -> None:
    assert link_quality({"rssi": -1}, ("rssi",), "snr", ("gatewayId",)) == (
        None,
        None,
        0,
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DOWNLINK_PAYLOAD_SIZE", True),
        ("DOWNLINK_CODEC", True),
        ("F_CNT_DOWN", True),
        ("EXPIRED", True),
        ("DATA_DOWN_GATEWAY", True),
        ("DEVICE_QUEUE_ITEM_FCNT", True),
        ("UPLINK_MIC", False),
        ("DATA_UP_FCNT", False),
        (None, False),
    ],
)
def test_is_downlink_error(code: object, expected: bool) -> None:
    assert is_downlink_error(code) is expected


@pytest.mark.parametrize(
    ("levels", "topic", "expected"),
    [
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/+", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("#", "anything/at/all", True),
    ],
)
def test_filter_matches(levels: str, topic: str, *, expected: bool) -> None:
    assert filter_matches(levels.split("/"), topic) is expected


def test_topic_template() -> None:
    template = TopicTemplate(
        "/x/{{a}}/pre-{{b}}-post/{{c}}", ("a", "b", "c"), matchable=True
    )
    assert template.variables == {"a", "b", "c"}
    assert template.render({"a": "1", "b": "2", "c": "3"}) == "/x/1/pre-2-post/3"
    assert template.filter({"c": "up"}) == "/x/+/+/up"
    assert template.filter({"a": "+", "b": "2"}) == "/x/+/pre-2-post/+"
    assert template.match("/x/1/pre-2-post/3") == {"a": "1", "b": "2", "c": "3"}
    assert template.match("/x/1/pre--post/3") is None  # empty value
    assert template.match("/x/1/pre-2/3") is None
    assert template.match("/y/1/pre-2-post/3") is None
    assert template.match("/x/1/pre-2-post") is None
    with pytest.raises(ValueError, match="needs the device's b"):
        template.render({"a": "1", "b": None, "c": "3"})


def test_config_text() -> None:
    config: dict[str, Any] = {"a": "  x ", "b": "   ", "c": None, "d": 12}
    assert [config_text(config, key, "dflt") for key in "abcde"] == [
        "x",
        "dflt",
        "dflt",
        "12",
        "dflt",
    ]


def test_registry_and_defaults() -> None:
    assert set(ADAPTERS) == set(ServerKind) == set(DEFAULTS) == set(OPTIONS_FOR_KIND)
    for kind, options in OPTIONS_FOR_KIND.items():
        assert tuple(DEFAULTS[kind]) == options
        assert options[-1] == CONF_F_PORT
        adapter = create_adapter(kind.value, DEFAULTS[kind])
        assert isinstance(adapter, ADAPTERS[kind])
        assert adapter.kind is kind
        assert adapter.f_port == 85
        assert adapter.subscriptions()
        # An empty configuration works too (all defaults).
        assert create_adapter(kind, {}).subscriptions() == adapter.subscriptions()


def test_defaults_are_copies() -> None:
    DEFAULTS[ServerKind.TTS_V3]["tenant_id"] = "changed"
    try:
        assert TtsV3Adapter.defaults["tenant_id"] == "ttn"
    finally:
        DEFAULTS[ServerKind.TTS_V3]["tenant_id"] = "ttn"


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="'helium' is not a valid ServerKind"):
        create_adapter("helium", {})


def test_configured_fport() -> None:
    adapter = create_adapter(ServerKind.CHIRPSTACK_V4, {CONF_F_PORT: 10})
    downlink = adapter.build_downlink(DeviceRef("0101010101010101", "x"), b"")
    assert json.loads(downlink.payload)["fPort"] == 10


def test_last_resort_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a parser becomes an Ignored event instead of an exception."""
    adapter = ChirpStackV4Adapter({})

    def broken(*_: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr(adapter, "parse_object", broken)
    assert adapter.parse("a/b", b"{}") == Ignored(
        "could not parse message: KeyError('x')", "a/b"
    )


# Keys every adapter reads, to steer the fuzzer into the parsers.
_KEYS = st.sampled_from(
    [
        "deviceInfo",
        "devEui",
        "devEUI",
        "applicationId",
        "applicationID",
        "deviceName",
        "deviceID",
        "fPort",
        "fCnt",
        "data",
        "object",
        "objectJSON",
        "rxInfo",
        "rssi",
        "snr",
        "loRaSNR",
        "time",
        "publishedAt",
        "acknowledged",
        "queueItemId",
        "level",
        "code",
        "context",
        "type",
        "error",
        "end_device_ids",
        "dev_eui",
        "device_id",
        "uplink_message",
        "f_port",
        "f_cnt",
        "frm_payload",
        "rx_metadata",
        "correlation_ids",
        "downlink_failed",
        "received_at",
        "simulated",
    ]
)
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.sampled_from(["85", "0101010101010101", "AgICAgICAgI=", "csocket:1", "ERROR"])
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5)
    ),
    max_leaves=12,
)
_TOPICS = st.sampled_from(
    [
        "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up",
        "application/1/device/0101010101010101/event/log",
        "application/1/device/0101010101010101/event/error",
        "application/1/device/AgICAgICAgI=/rx",
        "v3/app@ttn/devices/dev1/up",
        "v3/app@ttn/devices/dev1/down/failed",
        "v3/app@ttn/devices/dev1/down/ack",
        "csocket/uplink",
        "",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=_TOPICS, message=st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_parse_never_raises_on_json(topic: str, message: dict[str, Any]) -> None:
    payload = json.dumps(message).encode()
    for adapter_class in ADAPTERS.values():
        event = adapter_class({}).parse(topic, payload)
        if isinstance(event, Ignored):
            assert not event.reason.startswith("could not parse"), event


@settings(max_examples=100, deadline=None)
@given(topic=_TOPICS, payload=st.binary(max_size=64))
def test_parse_never_raises_on_bytes(topic: str, payload: bytes) -> None:
    for adapter_class in ADAPTERS.values():
        event = adapter_class({}).parse(topic, payload)
        if isinstance(event, Ignored):
            assert not event.reason.startswith("could not parse"), event
