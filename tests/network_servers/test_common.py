"""Shared helpers, the adapter registry and the never-raise contract."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

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
    Uplink,
    _common,
    create_adapter,
    values,
)
from custom_components.csocket.network_servers._address import filter_matches
from custom_components.csocket.network_servers._common import is_downlink_error
from custom_components.csocket.network_servers.topic_template import TopicTemplate
from custom_components.csocket.network_servers.values import (
    as_int,
    as_str,
    b64decode,
    config_text,
    device_ref,
    link_quality,
    normalize_eui,
    parse_time,
)

if TYPE_CHECKING:
    from collections.abc import Callable


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


# --- JSON decoder, caches and equivalence with the straightforward versions ---


def test_json_loads_is_orjson_when_installed() -> None:
    orjson = pytest.importorskip("orjson")
    assert _common.json_loads is orjson.loads


def test_json_loads_falls_back_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson fails
    assert _common._json_loads() is json.loads


APP_UUID = "17c82e96-be03-4f38-aef3-f83d48582d97"


@pytest.mark.parametrize(
    ("kind", "topic", "fixture"),
    [
        (
            ServerKind.CHIRPSTACK_V4,
            f"application/{APP_UUID}/device/0101010101010101/event/up",
            "chirpstack_v4_up_full",
        ),
        (
            ServerKind.CHIRPSTACK_V3,
            "application/123/device/0202020202020202/rx",
            "chirpstack_v3_up_json",
        ),
        (ServerKind.TTS_V3, "v3/app1@ttn/devices/dev1/up", "tts_v3_up"),
        (ServerKind.MILESIGHT, "csocket/uplink", "milesight_up_older"),
    ],
)
def test_parse_with_stdlib_json(
    monkeypatch: pytest.MonkeyPatch,
    fixture_bytes: Callable[[str], bytes],
    kind: ServerKind,
    topic: str,
    fixture: str,
) -> None:
    """Without orjson, parse() gives the same events."""
    adapter = create_adapter(kind, {})
    payload = fixture_bytes(fixture)
    expected = adapter.parse(topic, payload)
    assert isinstance(expected, Uplink)
    monkeypatch.setattr(_common, "json_loads", json.loads)
    assert adapter.parse(topic, payload) == expected
    assert adapter.parse(topic, b"{") == Ignored("payload is not valid JSON", topic)


def test_remember_empties_a_full_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "CACHE_SIZE", 2)
    cache: dict[str, int] = {}
    for value, key in enumerate("abc"):
        assert values.remember(cache, key, value) == value
    assert cache == {"c": 2}


def test_device_ref_cache_keeps_types_apart() -> None:
    eui = "0A0B0C0D0E0F1011"
    first = device_ref(eui, "app", None, "name")
    assert first == DeviceRef("0a0b0c0d0e0f1011", "app", None, "name")
    assert device_ref(eui, "app", None, "name") is first  # reused
    # 1 == 1.0 == True, but only the int is an id.
    assert device_ref(eui, 1, 2).application_id == "1"  # type: ignore[union-attr]
    assert device_ref(eui, True, 2).application_id is None  # type: ignore[union-attr]
    assert device_ref(eui, 1.0, 2.0) == DeviceRef("0a0b0c0d0e0f1011")
    assert device_ref(eui, ["app"], {"x": 1}) == DeviceRef("0a0b0c0d0e0f1011")
    assert device_ref("not an EUI", "app") is None
    assert device_ref(None) is None


def test_link_quality_rssi_fallback_keys() -> None:
    rx_info = [
        {"gateway_ids": {"gateway_id": "g1"}, "channel_rssi": -70, "snr": 2},
        {"gateway_ids": {"gateway_id": "g2"}, "rssi": None, "channel_rssi": "x"},
        {"gateway_ids": "g3", "rssi": -80.5},  # no id under gateway_ids
    ]
    quality = link_quality(
        rx_info, ("rssi", "channel_rssi"), "snr", ("gateway_ids", "gateway_id")
    )
    assert quality == (-70, 2.0, 3)
    assert isinstance(quality[1], float)
    assert link_quality([{"rssi": -80.5}], ("rssi",), "snr", ("g",)) == (-80, None, 1)


@given(st.text(alphabet="AQIDBw+/=ab!é \n", max_size=12))
def test_b64decode_is_strict_base64(text: str) -> None:
    try:
        expected: bytes | None = base64.b64decode(text, validate=True)
    except ValueError:
        expected = None
    assert b64decode(text) == expected


def _old_normalize_eui(value: object) -> str | None:
    """The straightforward version: hex digit set, or base64 of 8 bytes."""
    if not isinstance(value, str):
        return None
    if len(value) == 16:
        lower = value.lower()
        return lower if set(lower) <= set("0123456789abcdef") else None
    raw = b64decode(value)
    return raw.hex() if raw is not None and len(raw) == 8 else None


@given(
    st.text(alphabet="0123456789abcdefABCDEFgG \t=+/\u0660", min_size=15, max_size=17)
    | st.text(max_size=20)
)
def test_normalize_eui_like_the_straightforward_version(value: str) -> None:
    assert normalize_eui(value) == _old_normalize_eui(value)


def _old_match(template: str, topic: str) -> dict[str, str] | None:
    """TopicTemplate.match() as it was: split the topic, compare level by level."""
    found: dict[str, str] = {}
    levels = template.split("/")
    parts = topic.split("/")
    if len(parts) != len(levels):
        return None
    for part, level in zip(parts, levels, strict=True):
        prefix, brace, rest = level.partition("{{")
        if not brace:
            if part != level:
                return None
            continue
        name, _, suffix = rest.partition("}}")
        if not (
            len(part) > len(prefix) + len(suffix)
            and part.startswith(prefix)
            and part.endswith(suffix)
        ):
            return None
        found[name] = part[len(prefix) : len(part) - len(suffix)]
    return found


_LEVELS = st.sampled_from(["a", "b", "", "+", "#", "x.y", "pre-", "-post", "{{"])


@given(
    template=st.sampled_from(
        [
            "a/{{v}}/b",
            "{{v}}",
            "/x/{{a}}/pre-{{b}}-post/{{c}}",
            "a.+/{{v}}/{{w}}",
            "a/{{v}}/{{v}}",
        ]
    ),
    topic=st.lists(_LEVELS, min_size=1, max_size=5).map("/".join),
)
def test_topic_match_like_the_split_version(template: str, topic: str) -> None:
    variables = {"v", "w", "a", "b", "c"}
    compiled = TopicTemplate(template, variables, matchable=True)
    assert compiled.match(topic) == _old_match(template, topic)


def _old_filter_matches(levels: list[str], topic: str) -> bool:
    parts = topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or (level not in ("+", parts[index])):
            return False
    return len(parts) == len(levels)


@given(
    levels=st.lists(_LEVELS, min_size=1, max_size=4),
    topic=st.lists(_LEVELS, min_size=1, max_size=5).map("/".join),
)
def test_filter_matches_like_the_loop_version(levels: list[str], topic: str) -> None:
    assert filter_matches(levels, topic) is _old_filter_matches(levels, topic)


def test_topic_template_without_matching() -> None:
    template = TopicTemplate("a/{{v}}-{{w}}", ("v", "w"))
    assert template.match("a/1-2") is None
