"""Downlinks only ever go to the topic of the device they are addressed to.

Addressing comes from the configuration, the topic an uplink arrived on and
the device's first identity; nothing in a later message body can redirect a
downlink or put "/", "+", "#", NUL or control characters into a topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_DOWNLINK_TOPIC,
    CONF_EVENT_TOPIC,
    CONF_MARSHALER,
    CONF_TENANT_ID,
    CONF_TOPIC_STYLE,
    DOWNLINK_INVALID_IDENTITY,
    DOWNLINK_NOT_ADDRESSABLE,
    DOWNLINK_TOPIC_MISMATCH,
    IGNORED_INVALID_DEV_EUI,
    IGNORED_INVALID_IDENTITY,
    MARSHALER_JSON,
    TOPIC_STYLE_LEGACY,
    ChirpStackV3Adapter,
    ChirpStackV4Adapter,
    DeviceRef,
    Downlink,
    DownlinkError,
    Ignored,
    Join,
    MilesightAdapter,
    TtsV3Adapter,
    Uplink,
)
from custom_components.csocket.network_servers._address import (
    MAX_LEVEL_LENGTH,
    check_topic,
    is_topic_level,
)
from custom_components.csocket.network_servers._common import JsonAdapter

Loader = Callable[[str], dict[str, Any]]

APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
OTHER_APP = "8d0e3f4a-1b2c-4d5e-9f60-718293a4b5c6"
EUI = "0101010101010101"
V3_EUI = "0202020202020202"
TTS_EUI = "0004a30b001c0530"
MS_EUI = "24e124136b502217"
REPORT = b"\x08\x01\x00\xff"

# What a hostile or broken uplink may put where a name or id belongs.
HOSTILE = [
    "a/b",
    "../../device/0202020202020202",
    "+",
    "sock+",
    "#",
    "x#",
    "nul\x00byte",
    "bell\x07",
    "tab\tname",
    "del\x7f",
    "c1\x85",
    "x" * (MAX_LEVEL_LENGTH + 1),
]
# Not even valid UTF-8 (JSON parsers refuse it; a DeviceRef may hold it).
SURROGATE = "surrogate\ud800"


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def ignored_code(event: object) -> str | None:
    """The code of an Ignored event; fails for any other event."""
    assert isinstance(event, Ignored)
    return event.code


def sent(downlink: Downlink) -> tuple[str, dict[str, Any]]:
    return downlink.topic, json.loads(downlink.payload)


# ChirpStack v4 -----------------------------------------------------------


def cs4_up(fixture_json: Loader, **device_info: object) -> bytes:
    event = fixture_json("chirpstack_v4_up_full")
    event["deviceInfo"] |= device_info
    return encode(event)


CS4_TOPIC = f"application/{APP}/device/{EUI}/event/up"
CS4_COMMAND = f"application/{APP}/device/{EUI}/command/down"


def test_cs4_legit_downlink_unchanged(fixture_json: Loader) -> None:
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    uplink = adapter.parse(CS4_TOPIC, cs4_up(fixture_json))
    assert isinstance(uplink, Uplink)
    downlink = adapter.build_downlink(
        uplink.device, REPORT, correlation_id="6a0f2a1e-3c4d-4b5e-8f70-1a2b3c4d5e6f"
    )
    assert sent(downlink) == (
        CS4_COMMAND,
        {
            "id": "6a0f2a1e-3c4d-4b5e-8f70-1a2b3c4d5e6f",
            "devEui": EUI,
            "confirmed": False,
            "fPort": 85,
            "data": "CAEA/w==",
        },
    )


@pytest.mark.parametrize(
    "application", [f"../../device/{V3_EUI}", OTHER_APP, "a/b", "+", "#", "x\x00"]
)
def test_cs4_body_application_never_addresses(
    fixture_json: Loader, application: str
) -> None:
    """deviceInfo.applicationId unlike the configured one: not trusted."""
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    result = adapter.parse(CS4_TOPIC, cs4_up(fixture_json, applicationId=application))
    assert isinstance(result, Ignored)
    assert result.code == IGNORED_INVALID_IDENTITY
    assert result.dev_eui == EUI
    assert result.reason.startswith(f"device {EUI}: the message's applicationId")
    # Even a DeviceRef carrying it (e.g. from an older version's storage)
    # cannot leave the configured application.
    downlink = adapter.build_downlink(DeviceRef(EUI, application), REPORT)
    assert downlink.topic == CS4_COMMAND


def test_cs4_all_applications_take_the_topic_application(
    fixture_json: Loader,
) -> None:
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: ""})
    topic = f"application/{OTHER_APP}/device/{EUI}/event/up"
    # The body's application must be the topic's.
    assert (
        ignored_code(adapter.parse(topic, cs4_up(fixture_json, applicationId=APP)))
        == IGNORED_INVALID_IDENTITY
    )
    uplink = adapter.parse(topic, cs4_up(fixture_json, applicationId=OTHER_APP))
    assert isinstance(uplink, Uplink)
    assert uplink.device.application_id == OTHER_APP
    downlink = adapter.build_downlink(uplink.device, REPORT)
    assert downlink.topic == f"application/{OTHER_APP}/device/{EUI}/command/down"


@pytest.mark.parametrize(
    ("adapter", "topic", "message"),
    [
        (
            ChirpStackV4Adapter({}),
            f"application/app\x07/device/{EUI}/event/up",
            "chirpstack_v4_up_full",
        ),
        (
            ChirpStackV3Adapter({}),
            f"application/1\x1b/device/{V3_EUI}/event/up",
            "chirpstack_v3_up_json_v3",
        ),
    ],
)
def test_topic_application_must_be_a_level(
    fixture_json: Loader, adapter: JsonAdapter, topic: str, message: str
) -> None:
    """For all applications, the topic's application is checked like a name."""
    event = fixture_json(message)
    event.get("deviceInfo", event).pop("applicationId", None)
    event.pop("applicationID", None)
    result = adapter.parse(topic, encode(event))
    assert isinstance(result, Ignored)
    assert result.code == IGNORED_INVALID_IDENTITY
    assert "application_id" in result.reason


def test_cs4_first_application_stays(fixture_json: Loader) -> None:
    """With all applications, a later topic of another application is ignored."""
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: ""})
    first = adapter.parse(CS4_TOPIC, cs4_up(fixture_json))
    moved = adapter.parse(
        f"application/{OTHER_APP}/device/{EUI}/event/up",
        cs4_up(fixture_json, applicationId=OTHER_APP),
    )
    assert isinstance(first, Uplink)
    assert isinstance(moved, Uplink)
    assert moved.device.application_id == APP
    assert adapter.build_downlink(moved.device, REPORT).topic == CS4_COMMAND


@pytest.mark.parametrize(
    "dev_eui", ["JOEkFItBAAE=", "24e124148b41000", "0x24e124148b41"]
)
def test_cs4_dev_eui_is_16_hex_digits(fixture_json: Loader, dev_eui: str) -> None:
    """A base64 devEui (JOEkFItBAAE= is 24e124148b410001) is not v4's format."""
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    topic = f"application/{APP}/device/{dev_eui}/event/up"
    assert adapter.parse(topic, cs4_up(fixture_json, devEui=dev_eui)) == Ignored(
        f"DevEUI {dev_eui!r} is not 16 hexadecimal digits",
        topic,
        code=IGNORED_INVALID_DEV_EUI,
    )


def test_cs4_body_dev_eui_must_be_the_topic_one(fixture_json: Loader) -> None:
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    assert (
        ignored_code(adapter.parse(CS4_TOPIC, cs4_up(fixture_json, devEui=V3_EUI)))
        == IGNORED_INVALID_IDENTITY
    )
    # The topic's EUI is not base64 either.
    topic = f"application/{APP}/device/AQEBAQEBAQE=/event/up"
    assert (
        ignored_code(adapter.parse(topic, cs4_up(fixture_json)))
        == IGNORED_INVALID_IDENTITY
    )


def test_cs4_all_applications_need_the_application_in_the_event_topic() -> None:
    with pytest.raises(ValueError, match="must contain"):
        ChirpStackV4Adapter({CONF_EVENT_TOPIC: "lns/{{dev_eui}}/{{event}}"})
    # With a configured application the topic need not carry it.
    adapter = ChirpStackV4Adapter(
        {CONF_APPLICATION_ID: APP, CONF_EVENT_TOPIC: "lns/{{dev_eui}}/{{event}}"}
    )
    assert adapter.build_downlink(DeviceRef(EUI), REPORT).topic == CS4_COMMAND


def test_cs4_display_name_may_be_anything(fixture_json: Loader) -> None:
    """The device name is shown, never used in v4 topics."""
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    uplink = adapter.parse(CS4_TOPIC, cs4_up(fixture_json, deviceName="Plug #2 / desk"))
    assert isinstance(uplink, Uplink)
    assert uplink.device.device_name == "Plug #2 / desk"
    assert adapter.build_downlink(uplink.device, REPORT).topic == CS4_COMMAND


def test_renamed_device_shows_its_new_name(fixture_json: Loader) -> None:
    """Where the name addresses nothing, a new name is just displayed."""
    cs4 = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    cs4.parse(CS4_TOPIC, cs4_up(fixture_json, deviceName="Kettle"))
    renamed = cs4.parse(CS4_TOPIC, cs4_up(fixture_json, deviceName="Tea kettle"))
    assert isinstance(renamed, Uplink)
    assert renamed.device == DeviceRef(EUI, APP, None, "Tea kettle")
    milesight = MilesightAdapter({})
    milesight.parse("csocket/uplink", ms_up(fixture_json, deviceName="Fan"))
    renamed = milesight.parse("csocket/uplink", ms_up(fixture_json, deviceName="Fan 2"))
    assert isinstance(renamed, Uplink)
    assert renamed.device.device_name == "Fan 2"


# ChirpStack v3 -----------------------------------------------------------


V3_COMMAND = {
    "event": f"application/123/device/{V3_EUI}/command/down",
    "legacy": f"application/123/device/{V3_EUI}/tx",
}
V3_UP = {"event": "event/up", "legacy": "rx"}


def cs3_up(fixture_json: Loader, **changes: object) -> bytes:
    return encode(fixture_json("chirpstack_v3_up_json_v3") | changes)


@pytest.mark.parametrize("style", ["event", "legacy"])
@pytest.mark.parametrize("configured", ["123", ""])
def test_cs3_legit_downlink_unchanged(
    fixture_json: Loader, style: str, configured: str
) -> None:
    adapter = ChirpStackV3Adapter(
        {CONF_APPLICATION_ID: configured, CONF_TOPIC_STYLE: style}
    )
    topic = f"application/123/device/{V3_EUI}/{V3_UP[style]}"
    uplink = adapter.parse(topic, cs3_up(fixture_json))
    assert isinstance(uplink, Uplink)
    assert sent(adapter.build_downlink(uplink.device, REPORT)) == (
        V3_COMMAND[style],
        {"confirmed": False, "fPort": 85, "data": "CAEA/w=="},
    )


@pytest.mark.parametrize("style", ["event", "legacy"])
@pytest.mark.parametrize("application", ["124", "1/device/x", "+", "#", "1\x00"])
def test_cs3_body_application_never_addresses(
    fixture_json: Loader, style: str, application: str
) -> None:
    adapter = ChirpStackV3Adapter({CONF_APPLICATION_ID: "", CONF_TOPIC_STYLE: style})
    topic = f"application/123/device/{V3_EUI}/{V3_UP[style]}"
    result = adapter.parse(topic, cs3_up(fixture_json, applicationID=application))
    assert isinstance(result, Ignored)
    assert result.code == IGNORED_INVALID_IDENTITY
    assert result.dev_eui == V3_EUI


@pytest.mark.parametrize("style", ["event", "legacy"])
def test_cs3_dev_eui(fixture_json: Loader, style: str) -> None:
    """Hex (json_v3) or base64 (json marshaler), and always the topic's."""
    adapter = ChirpStackV3Adapter(
        {CONF_MARSHALER: MARSHALER_JSON, CONF_TOPIC_STYLE: style}
    )
    topic = f"application/123/device/{V3_EUI}/{V3_UP[style]}"
    base64_eui = adapter.parse(topic, cs3_up(fixture_json, devEUI="AgICAgICAgI="))
    assert isinstance(base64_eui, Uplink)
    assert base64_eui.device.dev_eui == V3_EUI
    assert (
        ignored_code(adapter.parse(topic, cs3_up(fixture_json, devEUI="AQEBAQEBAQE=")))
        == IGNORED_INVALID_IDENTITY
    )
    # The topic's EUI is hex in every marshaler.
    b64_topic = f"application/123/device/AgICAgICAgI=/{V3_UP[style]}"
    assert (
        ignored_code(adapter.parse(b64_topic, cs3_up(fixture_json)))
        == IGNORED_INVALID_IDENTITY
    )


def test_cs3_protobuf_gets_the_v3_fix() -> None:
    v3 = ChirpStackV3Adapter({})
    result = v3.parse(f"application/1/device/{V3_EUI}/event/up", b"\x08{\x12\x02ab")
    assert isinstance(result, Ignored)
    assert 'marshaler="json_v3"' in result.reason
    assert "json=true" not in result.reason
    assert v3.protobuf_issue == "chirpstack_v3_protobuf"
    v4 = ChirpStackV4Adapter({})
    result = v4.parse(CS4_TOPIC, b"\n$3ac7e3c4")
    assert isinstance(result, Ignored)
    assert "json=true" in result.reason
    assert v4.protobuf_issue == "chirpstack_protobuf"


# The Things Stack --------------------------------------------------------


TTS_TOPIC = "v3/app1@tenant1/devices/dev1/up"
TTS_PUSH = "v3/app1@tenant1/devices/dev1/down/push"


def tts_up(fixture_json: Loader, **ids: object) -> bytes:
    message = fixture_json("tts_v3_up")
    message["end_device_ids"] |= ids
    return encode(message)


@pytest.fixture
def tts() -> TtsV3Adapter:
    return TtsV3Adapter({CONF_APPLICATION_ID: "app1", CONF_TENANT_ID: "tenant1"})


def test_tts_legit_downlink_unchanged(tts: TtsV3Adapter, fixture_json: Loader) -> None:
    uplink = tts.parse(TTS_TOPIC, tts_up(fixture_json))
    assert isinstance(uplink, Uplink)
    downlink = tts.build_downlink(uplink.device, REPORT, correlation_id="c1")
    assert sent(downlink) == (
        TTS_PUSH,
        {
            "downlinks": [
                {
                    "f_port": 85,
                    "frm_payload": "CAEA/w==",
                    "priority": "NORMAL",
                    "confirmed": False,
                    "correlation_ids": ["csocket:c1"],
                }
            ]
        },
    )


@pytest.mark.parametrize("device_id", ["victim", *HOSTILE])
def test_tts_body_device_id_never_addresses(
    tts: TtsV3Adapter, fixture_json: Loader, device_id: str
) -> None:
    result = tts.parse(TTS_TOPIC, tts_up(fixture_json, device_id=device_id))
    assert isinstance(result, Ignored)
    assert result.code == IGNORED_INVALID_IDENTITY
    assert result.reason.startswith(f"device {TTS_EUI}: the message's device_id")
    # The device is still addressed by the topic's id.
    uplink = tts.parse(TTS_TOPIC, tts_up(fixture_json))
    assert isinstance(uplink, Uplink)
    assert tts.build_downlink(uplink.device, REPORT).topic == TTS_PUSH


def test_tts_body_application_never_addresses(fixture_json: Loader) -> None:
    adapter = TtsV3Adapter({CONF_TENANT_ID: "tenant1"})  # all applications
    message = fixture_json("tts_v3_up")
    message["end_device_ids"]["application_ids"]["application_id"] = "other/x"
    assert (
        ignored_code(adapter.parse(TTS_TOPIC, encode(message)))
        == IGNORED_INVALID_IDENTITY
    )
    uplink = adapter.parse(TTS_TOPIC, tts_up(fixture_json))
    assert isinstance(uplink, Uplink)
    assert adapter.build_downlink(uplink.device, REPORT).topic == TTS_PUSH


@pytest.mark.parametrize("device_id", ["bell\x07", "x" * (MAX_LEVEL_LENGTH + 1)])
def test_tts_topic_device_id_must_be_a_level(
    tts: TtsV3Adapter, fixture_json: Loader, device_id: str
) -> None:
    topic = f"v3/app1@tenant1/devices/{device_id}/up"
    assert (
        ignored_code(tts.parse(topic, tts_up(fixture_json, device_id=device_id)))
        == IGNORED_INVALID_IDENTITY
    )


@pytest.mark.parametrize("dev_eui", ["AASjCwAcBTA=", "0004A30B001C053", ""])
def test_tts_dev_eui_is_16_hex_digits(
    tts: TtsV3Adapter, fixture_json: Loader, dev_eui: str
) -> None:
    result = tts.parse(TTS_TOPIC, tts_up(fixture_json, dev_eui=dev_eui))
    assert isinstance(result, Ignored)
    assert result.code == (IGNORED_INVALID_DEV_EUI if dev_eui else None)


def test_tts_first_device_id_stays(tts: TtsV3Adapter, fixture_json: Loader) -> None:
    """The same DevEUI under another device id keeps its first address."""
    first = tts.parse(TTS_TOPIC, tts_up(fixture_json))
    other = tts.parse(
        "v3/app1@tenant1/devices/victim/up", tts_up(fixture_json, device_id="victim")
    )
    assert isinstance(first, Uplink)
    assert isinstance(other, Uplink)
    assert other.device.device_id == "dev1"
    assert tts.build_downlink(other.device, REPORT).topic == TTS_PUSH


# Milesight ---------------------------------------------------------------


def ms_up(fixture_json: Loader, **changes: object) -> bytes:
    return encode(fixture_json("milesight_up_older") | changes)


@pytest.fixture
def by_name() -> MilesightAdapter:
    return MilesightAdapter({CONF_DOWNLINK_TOPIC: "csocket/downlink/$deviceName"})


def test_milesight_legit_downlink_unchanged(
    by_name: MilesightAdapter, fixture_json: Loader
) -> None:
    uplink = by_name.parse("csocket/uplink", ms_up(fixture_json, deviceName="sock-a"))
    assert isinstance(uplink, Uplink)
    assert sent(by_name.build_downlink(uplink.device, REPORT)) == (
        "csocket/downlink/sock-a",
        {
            "devEUI": MS_EUI,
            "confirmed": False,
            "fport": 85,
            "fPort": 85,
            "data": "CAEA/w==",
        },
    )


def test_milesight_uplink_cannot_rename_the_downlink_topic(
    by_name: MilesightAdapter, fixture_json: Loader
) -> None:
    """The reported attack: socket A's uplink naming itself sock-victim."""
    first = by_name.parse("csocket/uplink", ms_up(fixture_json, deviceName="sock-a"))
    renamed = by_name.parse(
        "csocket/uplink", ms_up(fixture_json, deviceName="sock-victim", fCnt=129)
    )
    assert isinstance(first, Uplink)
    assert isinstance(renamed, Uplink)
    assert renamed.device == first.device
    # Whatever DeviceRef the hub keeps, A's downlink goes to A's topic.
    for device in (renamed.device, DeviceRef(MS_EUI, "1", None, "sock-victim")):
        downlink = by_name.build_downlink(device, REPORT)
        assert downlink.topic == "csocket/downlink/sock-a"


def test_milesight_pinned_identity_wins(
    by_name: MilesightAdapter, fixture_json: Loader
) -> None:
    """The hub restores a device's first identity before any uplink."""
    by_name.pin(DeviceRef(MS_EUI, "1", None, "sock-a"))
    uplink = by_name.parse(
        "csocket/uplink", ms_up(fixture_json, deviceName="sock-victim")
    )
    assert isinstance(uplink, Uplink)
    assert uplink.device.device_name == "sock-a"
    assert by_name.build_downlink(uplink.device, REPORT).topic == (
        "csocket/downlink/sock-a"
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_milesight_hostile_device_name(
    by_name: MilesightAdapter, fixture_json: Loader, name: str
) -> None:
    result = by_name.parse("csocket/uplink", ms_up(fixture_json, deviceName=name))
    assert isinstance(result, Ignored)
    assert result.code == IGNORED_INVALID_IDENTITY
    assert result.dev_eui == MS_EUI
    assert result.reason.startswith(f"device {MS_EUI}: device_name ")
    # Nor does a stored DeviceRef with it reach a topic.
    with pytest.raises(DownlinkError) as raised:
        by_name.build_downlink(DeviceRef(MS_EUI, "1", None, name), REPORT)
    assert raised.value.code == DOWNLINK_INVALID_IDENTITY


@pytest.mark.parametrize(
    ("template", "changes"),
    [
        ("gw/$deviceID/down", {"deviceID": "22/../victim"}),
        ("gw/$deviceID/down", {"deviceID": "+"}),
        ("application/$applicationID/device/$deveui/tx", {"applicationID": "1/x"}),
        ("application/$applicationID/device/$deveui/tx", {"applicationID": "#"}),
        ("application/$applicationID/device/$deveui/tx", {"applicationID": "\x00"}),
    ],
)
def test_milesight_hostile_ids(
    fixture_json: Loader, template: str, changes: dict[str, str]
) -> None:
    adapter = MilesightAdapter({CONF_DOWNLINK_TOPIC: template})
    assert (
        ignored_code(adapter.parse("csocket/uplink", ms_up(fixture_json, **changes)))
        == IGNORED_INVALID_IDENTITY
    )


def test_milesight_name_outside_topics_is_only_shown(fixture_json: Loader) -> None:
    """Without $deviceName in the downlink topic, any name is a display name."""
    adapter = MilesightAdapter({})
    uplink = adapter.parse("csocket/uplink", ms_up(fixture_json, deviceName="Plug #2"))
    assert isinstance(uplink, Uplink)
    assert uplink.device.device_name == "Plug #2"
    downlink = adapter.build_downlink(uplink.device, REPORT)
    assert downlink.topic == f"application/1/device/{MS_EUI}/tx"


@pytest.mark.parametrize(
    "dev_eui", ["JOEhE2tQIhc=", "24e124136b50221", "24e1 24136b50221"]
)
def test_milesight_dev_eui_is_16_hex_digits(fixture_json: Loader, dev_eui: str) -> None:
    result = MilesightAdapter({}).parse(
        "csocket/uplink", ms_up(fixture_json, devEUI=dev_eui)
    )
    assert result == Ignored(
        f"DevEUI {dev_eui!r} is not 16 hexadecimal digits",
        "csocket/uplink",
        code=IGNORED_INVALID_DEV_EUI,
    )


# Every adapter -----------------------------------------------------------


ADAPTERS: list[tuple[Callable[[], JsonAdapter], DeviceRef]] = [
    (lambda: ChirpStackV4Adapter({}), DeviceRef(EUI, "{}")),
    (lambda: ChirpStackV3Adapter({}), DeviceRef(V3_EUI, "{}")),
    (
        lambda: ChirpStackV3Adapter({CONF_TOPIC_STYLE: TOPIC_STYLE_LEGACY}),
        DeviceRef(V3_EUI, "{}"),
    ),
    (lambda: TtsV3Adapter({}), DeviceRef(TTS_EUI, "app1", "{}")),
    (
        lambda: MilesightAdapter({CONF_DOWNLINK_TOPIC: "d/$deviceName/$deveui"}),
        DeviceRef(MS_EUI, None, None, "{}"),
    ),
]


@pytest.mark.parametrize(("make", "template"), ADAPTERS)
@pytest.mark.parametrize("value", [*HOSTILE, SURROGATE])
def test_no_hostile_value_reaches_a_topic(
    make: Callable[[], JsonAdapter], template: DeviceRef, value: str
) -> None:
    """A DeviceRef the hub kept from elsewhere (e.g. storage) is checked too."""
    fields = {
        name: value if getattr(template, name) == "{}" else getattr(template, name)
        for name in ("application_id", "device_id", "device_name")
    }
    device = DeviceRef(template.dev_eui, **fields)
    with pytest.raises(DownlinkError) as raised:
        make().build_downlink(device, REPORT)
    assert raised.value.code == DOWNLINK_INVALID_IDENTITY


@pytest.mark.parametrize(("make", "template"), ADAPTERS)
@pytest.mark.parametrize(
    "bug",
    [
        lambda topic, eui: topic.replace(eui, "ffffffffffffffff"),
        lambda topic, _: topic + "/extra",
        lambda topic, _: topic.replace("/ok", "/+"),
    ],
    ids=["other device", "extra level", "wildcard"],
)
def test_foreign_topic_is_refused(
    make: Callable[[], JsonAdapter],
    template: DeviceRef,
    bug: Callable[[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A topic outside the device's command filter never leaves the adapter."""
    adapter = make()
    fields = {
        name: "ok" if getattr(template, name) == "{}" else getattr(template, name)
        for name in ("application_id", "device_id", "device_name")
    }
    device = DeviceRef(template.dev_eui, **fields)
    topic = adapter.build_downlink(device, REPORT).topic
    if bug(topic, device.dev_eui) == topic:
        # TTS topics carry the device id, not the DevEUI.
        assert isinstance(adapter, TtsV3Adapter)
        return
    # Stand-in for a bug in a topic builder.
    original = adapter.downlink_message

    def buggy(*args: Any) -> tuple[str, dict[str, Any]]:
        topic, body = original(*args)
        return bug(topic, device.dev_eui), body

    monkeypatch.setattr(adapter, "downlink_message", buggy)
    with pytest.raises(DownlinkError) as raised:
        adapter.build_downlink(device, REPORT)
    assert raised.value.code == DOWNLINK_TOPIC_MISMATCH


def test_unknown_ids_are_not_addressable() -> None:
    with pytest.raises(DownlinkError) as raised:
        TtsV3Adapter({}).build_downlink(DeviceRef(TTS_EUI, "app1"), REPORT)
    assert raised.value.code == DOWNLINK_NOT_ADDRESSABLE
    # Backward compatible: still a ValueError with a message.
    assert isinstance(raised.value, ValueError)
    assert "needs the device ID" in str(raised.value)


def test_join_identity_is_checked(fixture_json: Loader) -> None:
    adapter = ChirpStackV4Adapter({CONF_APPLICATION_ID: APP})
    event = fixture_json("chirpstack_v4_join")
    event["deviceInfo"]["applicationId"] = "x/y"
    topic = f"application/{APP}/device/{EUI}/event/join"
    assert ignored_code(adapter.parse(topic, encode(event))) == (
        IGNORED_INVALID_IDENTITY
    )
    event["deviceInfo"]["applicationId"] = APP
    assert isinstance(adapter.parse(topic, encode(event)), Join)


# Helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sock-a", True),
        ("Kitchen plug", True),
        ("Küche", True),
        ("x" * MAX_LEVEL_LENGTH, True),
        ("", False),
        *[(value, False) for value in (*HOSTILE, SURROGATE)],
    ],
)
def test_is_topic_level(value: str, expected: bool) -> None:
    assert is_topic_level(value) is expected


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [
        (CS4_COMMAND, True),
        (f"application/{OTHER_APP}/device/{EUI}/command/down", False),
        (f"application/{APP}/device/{V3_EUI}/command/down", False),
        (f"application/{APP}/device/{EUI}/command/down/x", False),
        (f"application/{APP}/x/device/{EUI}/command/down", False),
        (f"application/+/device/{EUI}/command/down", False),
        (f"application/{APP}/device/{EUI}/command/#", False),
        (f"application/{APP}\x00/device/{EUI}/command/down", False),
    ],
)
def test_check_topic(topic: str, allowed: bool) -> None:
    command_filter = f"application/{APP}/device/{EUI}/command/down"
    if allowed:
        assert check_topic(topic, command_filter) == topic
        return
    with pytest.raises(DownlinkError) as raised:
        check_topic(topic, command_filter)
    assert raised.value.code == DOWNLINK_TOPIC_MISMATCH


def test_check_topic_wildcard_filter_levels() -> None:
    """A "+" in the filter takes one valid level, never a wildcard or "$"."""
    assert check_topic("v3/app@t/devices/dev1/down/push", "v3/+/devices/+/down/push")
    for topic in ("v3/+/devices/dev1/down/push", "v3/a/devices/a/b/down/push"):
        with pytest.raises(DownlinkError):
            check_topic(topic, "v3/+/devices/+/down/push")
    with pytest.raises(DownlinkError):
        check_topic("$SYS/x", "+/x")
