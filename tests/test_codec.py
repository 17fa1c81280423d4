"""Tests for the WS523 payload codec (contract: ws523-protocol.md, sections 1, 2, 4).

The codec is loaded from its file path rather than through the package, which
both keeps these tests independent of Home Assistant and proves that codec.py
has no package-relative imports.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from types import ModuleType

CODEC_PATH = (
    Path(__file__).resolve().parents[1] / "custom_components" / "csocket" / "codec.py"
)


def load_codec(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, CODEC_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


codec = load_codec("csocket_codec_under_test")
decode = codec.decode_uplink
encode = codec.encode_downlink
CodecError = codec.CodecError

# User-guide examples, verbatim.
BASIC_INFO = bytes.fromhex(
    "ff0101ff166148b13783621055ff090100ff0a0103ff24010aff30010aff250080ff2601"
)
REPORT = bytes.fromhex("087001 058129 07c91200 0374f508 068305000000 048001000000")

# Record lengths per the contract's uplink table (section 1), written out
# independently of the codec's own table.
CONTRACT_RECORDS: dict[str, int] = {
    "0374": 2,
    "0480": 4,
    "0581": 1,
    "0683": 4,
    "07c9": 2,
    "0870": 1,
    "ff01": 1,
    "ff09": 2,
    "ff0a": 2,
    "ff0b": 1,
    "ff0f": 1,
    "ff16": 8,
    "fffe": 1,
    "ffff": 2,
    "ff3f": 1,
    "fe02": 2,
    **{
        f"{channel}{type_}": length
        for channel in ("ff", "fe")
        for type_, length in {
            "03": 2,
            "10": 1,
            "22": 4,
            "23": 2,
            "24": 2,
            "25": 2,
            "26": 1,
            "27": 1,
            "28": 1,
            "2c": 1,
            "2f": 1,
            "30": 2,
        }.items()
    },
}


# --- Module shape ------------------------------------------------------------


def test_codec_imports_only_the_stdlib() -> None:
    tree = ast.parse(CODEC_PATH.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "package-relative import"
            assert node.module is not None
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", name


def test_codec_loads_without_site_packages() -> None:
    # -I -S: no site-packages on sys.path, so any non-stdlib import would fail.
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('codec', {str(CODEC_PATH)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert 'homeassistant' not in sys.modules\n"
        "print(module.decode_uplink(bytes.fromhex('ff3fff')))\n"
    )
    result = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stdout.strip() == "{'power_outage': True}"


def test_public_api() -> None:
    assert codec.FPORT == 85
    assert issubclass(CodecError, ValueError)
    assert set(codec.__all__) == {
        "FPORT",
        "RANGES",
        "UPLINK_FIELDS",
        "CodecError",
        "Range",
        "decode_uplink",
        "encode_downlink",
        "encode_socket",
    }


def test_record_table_matches_contract() -> None:
    assert {
        header.hex(): length for header, (length, _) in codec._RECORDS.items()
    } == CONTRACT_RECORDS


def test_uplink_fields_is_exactly_what_records_decode_to() -> None:
    fields: set[str] = set()
    for header, length in CONTRACT_RECORDS.items():
        fields.update(decode(bytes.fromhex(header) + bytes(length)))
    assert fields == codec.UPLINK_FIELDS
    assert "unparsed" not in codec.UPLINK_FIELDS


# --- Uplink: user-guide frames -----------------------------------------------


def test_basic_information_frame() -> None:
    decoded = decode(BASIC_INFO)
    assert decoded == {
        "protocol_version": 1,
        "sn": "6148b13783621055",
        "hardware_version": "v1.0",
        "firmware_version": "v1.3",
        "overcurrent_alarm": {"enabled": True, "threshold": 10},
        "overcurrent_protection": {"enabled": True, "threshold": 10},
        "button_lock": True,
        "button_lock_time": 0,
        "power_consumption_enabled": True,
    }
    assert list(decoded) == [  # record order
        "protocol_version",
        "sn",
        "hardware_version",
        "firmware_version",
        "overcurrent_alarm",
        "overcurrent_protection",
        "button_lock",
        "button_lock_time",
        "power_consumption_enabled",
    ]


def test_periodic_report() -> None:
    assert len(REPORT) == 26
    decoded = decode(REPORT)
    assert decoded == {
        "socket_status": True,
        "socket_changed": False,
        "power_factor": 41,
        "current": 18,
        "voltage": 229.3,
        "power_consumption": 5,
        "active_power": 1,
    }
    assert list(decoded) == [
        "socket_status",
        "socket_changed",
        "power_factor",
        "current",
        "voltage",
        "power_consumption",
        "active_power",
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("ff3fff", {"power_outage": True}),
        ("ff3f00", {"power_outage": False}),
        ("fe023c00", {"report_interval": 60}),
        ("ff0101", {"protocol_version": 1}),
        ("ff090140", {"hardware_version": "v1.4"}),
        ("ff090100", {"hardware_version": "v1.0"}),
        ("ff090120", {"hardware_version": "v1.2"}),
        ("ff0a0114", {"firmware_version": "v1.14"}),
        ("ff0a0103", {"firmware_version": "v1.3"}),
        ("ff0a0a1f", {"firmware_version": "va.1f"}),
        ("ff0bff", {"device_status": "on"}),
        ("ff0f00", {"lorawan_class": "Class A"}),
        ("ff0f01", {"lorawan_class": "Class B"}),
        ("ff0f02", {"lorawan_class": "Class C"}),
        ("ff0f03", {"lorawan_class": "Class CtoB"}),
        ("ff0f04", {"lorawan_class": "unknown"}),
        ("ff166148b13783621055", {"sn": "6148b13783621055"}),
        ("ff16ABCDEF0123456789", {"sn": "abcdef0123456789"}),
        ("fffeff", {"reset_event": True}),
        ("ffff0103", {"tsl_version": "v1.3"}),
        ("0374f508", {"voltage": 229.3}),
        ("03740000", {"voltage": 0.0}),
        ("0480ffffffff", {"active_power": 0xFFFFFFFF}),
        ("058164", {"power_factor": 100}),
        ("068378563412", {"power_consumption": 0x12345678}),
        ("07c9ffff", {"current": 65535}),
    ],
)
def test_single_records(payload: str, expected: dict[str, Any]) -> None:
    assert decode(bytes.fromhex(payload)) == expected


@pytest.mark.parametrize("prefix", ["ff", "fe"])
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("03b004", {"report_interval": 1200}),
        ("10ff", {"reboot": True}),
        ("22003c0011", {"delay_task": {"delay": 60, "socket_status": True}}),
        ("22003c0010", {"delay_task": {"delay": 60, "socket_status": False}}),
        ("2300ff", {"delay_task_deleted": True}),
        ("24010a", {"overcurrent_alarm": {"enabled": True, "threshold": 10}}),
        ("240000", {"overcurrent_alarm": {"enabled": False, "threshold": 0}}),
        ("250080", {"button_lock": True, "button_lock_time": 0}),
        ("250000", {"button_lock": False, "button_lock_time": 0}),
        ("251e80", {"button_lock": True, "button_lock_time": 30}),
        ("25ffff", {"button_lock": True, "button_lock_time": 0x7FFF}),
        ("2601", {"power_consumption_enabled": True}),
        ("2600", {"power_consumption_enabled": False}),
        ("27ff", {"power_consumption_reset": True}),
        ("28ff", {"report_status": True}),
        ("2cff", {"report_attribute": True}),
        ("2f01", {"led_enabled": True}),
        ("2f00", {"led_enabled": False}),
        ("30010a", {"overcurrent_protection": {"enabled": True, "threshold": 10}}),
        ("30001e", {"overcurrent_protection": {"enabled": False, "threshold": 30}}),
    ],
)
def test_setting_echoes(prefix: str, record: str, expected: dict[str, Any]) -> None:
    assert decode(bytes.fromhex(prefix + record)) == expected


@pytest.mark.parametrize(
    ("status", "on", "changed"),
    [
        (0x00, False, False),
        (0x01, True, False),
        (0x10, False, True),
        (0x11, True, True),
    ],
)
def test_socket_status_and_change_bit(status: int, on: bool, changed: bool) -> None:
    expected = {"socket_status": on, "socket_changed": changed}
    assert decode(bytes((0x08, 0x70, status))) == expected
    # Same bits inside a full periodic report.
    report = decode(bytes((0x08, 0x70, status)) + REPORT[3:])
    assert {k: report[k] for k in expected} == expected


def test_empty_payload() -> None:
    assert decode(b"") == {}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("ff", {"unparsed": "ff"}),
        ("0870", {"unparsed": "0870"}),
        ("0374f5", {"unparsed": "0374f5"}),
        ("ff166148b137836210", {"unparsed": "ff166148b137836210"}),
        (
            "0870010374f5",
            {"socket_status": True, "socket_changed": False, "unparsed": "0374f5"},
        ),
    ],
)
def test_truncated_record_stops_decoding(
    payload: str, expected: dict[str, Any]
) -> None:
    assert decode(bytes.fromhex(payload)) == expected


def test_truncated_periodic_report() -> None:
    assert decode(REPORT[:-1]) == {
        "socket_status": True,
        "socket_changed": False,
        "power_factor": 41,
        "current": 18,
        "voltage": 229.3,
        "power_consumption": 5,
        "unparsed": "0480010000",
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("aabb01", {"unparsed": "aabb01"}),
        ("aabb087001", {"unparsed": "aabb087001"}),  # nothing after it is trusted
        ("ff3e00", {"unparsed": "ff3e00"}),
        ("ff0203", {"unparsed": "ff0203"}),  # fe02 is known, ff02 is not
        (
            "087011ff9900058129",
            {"socket_status": True, "socket_changed": True, "unparsed": "ff9900058129"},
        ),
    ],
)
def test_unknown_record_stops_decoding(payload: str, expected: dict[str, Any]) -> None:
    assert decode(bytes.fromhex(payload)) == expected


@pytest.mark.parametrize("payload", [BASIC_INFO, REPORT, b"\xff\x3f\xff", b"\xaa"])
def test_accepts_bytes_like(payload: bytes) -> None:
    expected = decode(payload)
    assert decode(bytearray(payload)) == expected
    assert decode(memoryview(payload)) == expected


def test_accepts_memoryview_with_wide_items() -> None:
    # len() of this view is 13 items, but it holds the 26-byte report.
    assert decode(memoryview(REPORT).cast("H")) == decode(REPORT)


# --- Uplink: the periodic report ------------------------------------------


@pytest.mark.parametrize("header_offset", [0, 3, 6, 10, 14, 20])
@pytest.mark.parametrize("byte", [0, 1])
def test_a_report_with_an_unknown_header_stops_there(
    header_offset: int, byte: int
) -> None:
    frame = bytearray(REPORT)
    frame[header_offset + byte] ^= 0x40
    assert decode(bytes(frame)) == {
        **decode(REPORT[:header_offset]),
        "unparsed": bytes(frame[header_offset:]).hex(),
    }


def test_26_bytes_in_another_record_order() -> None:
    reordered = REPORT[10:14] + REPORT[:10] + REPORT[14:]  # voltage first
    decoded = decode(reordered)
    assert decoded == decode(REPORT)
    assert next(iter(decoded)) == "voltage"


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {
            "status": st.integers(0, 0xFF),
            "power_factor": st.integers(0, 0xFF),
            "current": st.integers(0, 0xFFFF),
            "voltage": st.integers(0, 0xFFFF),
            "energy": st.integers(0, 0xFFFFFFFF),
            "power": st.integers(0, 0xFFFFFFFF),
        }
    )
)
def test_periodic_report_decodes_every_value(values: dict[str, int]) -> None:
    frame = (
        bytes((0x08, 0x70, values["status"], 0x05, 0x81, values["power_factor"]))
        + b"\x07\xc9"
        + values["current"].to_bytes(2, "little")
        + b"\x03\x74"
        + values["voltage"].to_bytes(2, "little")
        + b"\x06\x83"
        + values["energy"].to_bytes(4, "little")
        + b"\x04\x80"
        + values["power"].to_bytes(4, "little")
    )
    assert decode(frame) == {
        "socket_status": bool(values["status"] & 0x01),
        "socket_changed": bool(values["status"] & 0x10),
        "power_factor": values["power_factor"],
        "current": values["current"],
        "voltage": values["voltage"] / 10,
        "power_consumption": values["energy"],
        "active_power": values["power"],
    }


# --- Uplink: properties ----------------------------------------------------

record_strategy = st.sampled_from(sorted(CONTRACT_RECORDS.items())).flatmap(
    lambda item: st.binary(min_size=item[1], max_size=item[1]).map(
        lambda data: bytes.fromhex(item[0]) + data
    )
)


@settings(max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=64),
        # Mostly-valid frames reach deeper: valid records, then junk.
        st.tuples(st.lists(record_strategy, max_size=6), st.binary(max_size=8)).map(
            lambda parts: b"".join(parts[0]) + parts[1]
        ),
    )
)
def test_decode_never_raises(data: bytes) -> None:
    decoded = decode(data)
    assert decoded.keys() <= codec.UPLINK_FIELDS | {"unparsed"}
    if "unparsed" in decoded:
        assert decoded["unparsed"]
        assert data.hex().endswith(decoded["unparsed"])


@settings(max_examples=300)
@given(st.lists(record_strategy, max_size=12))
def test_frame_decodes_to_union_of_its_records(records: list[bytes]) -> None:
    expected: dict[str, Any] = {}
    for record in records:
        expected.update(decode(record))  # a repeated field: the last one wins
    decoded = decode(b"".join(records))
    assert decoded == expected
    assert list(decoded) == list(expected)


# --- Downlink: examples ----------------------------------------------------


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        # User-guide examples, verbatim.
        ({"socket_status": True}, "080100ff"),
        ({"report_interval": 1200}, "ff03b004"),
        ({"delay_task": {"delay": 60, "socket_status": True}}, "ff22003c0011"),
        ({"delete_delay_task": True}, "ff2300ff"),
        (
            {
                "overcurrent_alarm": {"enabled": True, "threshold": 10},
                "overcurrent_protection": {"enabled": True, "threshold": 10},
            },
            "ff24010aff30010a",
        ),
        ({"reset_power_consumption": True}, "ff27ff"),
        ({"reboot": True}, "ff10ff"),
        # The rest of the command table.
        ({"socket_status": False}, "080000ff"),
        ({"report_interval": 60}, "ff033c00"),
        ({"report_interval": 64800}, "ff0320fd"),
        ({"delay_task": {"delay": 1, "socket_status": False}}, "ff2200010010"),
        ({"delay_task": {"socket_status": True, "delay": 65535}}, "ff2200ffff11"),
        ({"overcurrent_alarm": {"enabled": True, "threshold": 1}}, "ff240101"),
        ({"overcurrent_alarm": {"enabled": True, "threshold": 30}}, "ff24011e"),
        ({"overcurrent_alarm": {"enabled": False}}, "ff240000"),
        ({"overcurrent_alarm": {"enabled": False, "threshold": 10}}, "ff24000a"),
        ({"overcurrent_alarm": {"enabled": False, "threshold": 0}}, "ff240000"),
        ({"overcurrent_protection": {"enabled": False}}, "ff300000"),
        ({"button_lock": True}, "ff250080"),
        ({"button_lock": False}, "ff250000"),
        ({"power_consumption_enabled": True}, "ff2601"),
        ({"power_consumption_enabled": False}, "ff2600"),
        ({"report_status": True}, "ff28ff"),
        ({"report_attribute": True}, "ff2cff"),
        ({"led_enabled": True}, "ff2f01"),
        ({"led_enabled": False}, "ff2f00"),
        # Confirmation in the same frame (contract section 3), in mapping order.
        ({"socket_status": True, "report_status": True}, "080100ffff28ff"),
        ({"report_status": True, "socket_status": False}, "ff28ff080000ff"),
        ({}, ""),
    ],
)
def test_encode(commands: dict[str, Any], expected: str) -> None:
    assert encode(commands).hex() == expected


def test_encode_socket() -> None:
    assert codec.encode_socket(True).hex() == "080100ff"
    assert codec.encode_socket(False).hex() == "080000ff"


# --- Downlink: rejections --------------------------------------------------

INTERVAL = "report_interval must be an integer from 60 to 64800 seconds"
DELAY = "delay_task.delay must be an integer from 1 to 65535 seconds"
DELAY_KEYS = "delay_task must be a mapping with keys ['delay', 'socket_status']"


def threshold_cases(key: str) -> list[tuple[dict[str, Any], str]]:
    """Rejections shared by overcurrent_alarm and overcurrent_protection."""
    keys = f"{key} must be a mapping with keys ['enabled'] and optionally ['threshold']"
    enabled = f"{key}.threshold must be an integer from 1 to 30 A when enabled"
    disabled = f"{key}.threshold must be an integer from 0 to 30 A when disabled"
    return [
        ({key: True}, f"{keys}, got True"),
        ({key: [True, 10]}, keys),
        ({key: {"threshold": 10}}, keys),
        ({key: {"enabled": True, "threshold": 10, "extra": 1}}, keys),
        ({key: {"enabled": 1, "threshold": 10}}, f"{key}.enabled must be a bool"),
        ({key: {"enabled": "on", "threshold": 10}}, f"{key}.enabled must be a bool"),
        ({key: {"enabled": True}}, f"{enabled}, got None"),
        ({key: {"enabled": True, "threshold": 0}}, f"{enabled}, got 0"),
        ({key: {"enabled": True, "threshold": 31}}, f"{enabled}, got 31"),
        ({key: {"enabled": True, "threshold": 10.0}}, f"{enabled}, got 10.0"),
        ({key: {"enabled": True, "threshold": True}}, f"{enabled}, got True"),
        ({key: {"enabled": True, "threshold": "10"}}, f"{enabled}, got '10'"),
        ({key: {"enabled": False, "threshold": 31}}, f"{disabled}, got 31"),
        ({key: {"enabled": False, "threshold": -1}}, f"{disabled}, got -1"),
        ({key: {"enabled": False, "threshold": None}}, f"{disabled}, got None"),
    ]


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        ({"report_interval": 70000}, f"{INTERVAL}, got 70000"),
        ({"report_interval": 65536}, f"{INTERVAL}, got 65536"),
        ({"report_interval": 64801}, f"{INTERVAL}, got 64801"),
        ({"report_interval": 59}, f"{INTERVAL}, got 59"),
        ({"report_interval": 0}, f"{INTERVAL}, got 0"),
        ({"report_interval": -60}, f"{INTERVAL}, got -60"),
        ({"report_interval": 1200.0}, f"{INTERVAL}, got 1200.0"),
        ({"report_interval": "1200"}, f"{INTERVAL}, got '1200'"),
        ({"report_interval": True}, f"{INTERVAL}, got True"),
        ({"report_interval": None}, f"{INTERVAL}, got None"),
        ({"socket_status": 1}, "socket_status must be a bool (True or False), got 1"),
        ({"socket_status": 0}, "socket_status must be a bool (True or False), got 0"),
        ({"socket_status": "on"}, "socket_status must be a bool (True or False)"),
        ({"socket_status": None}, "socket_status must be a bool (True or False)"),
        ({"button_lock": 1}, "button_lock must be a bool"),
        ({"power_consumption_enabled": 0}, "power_consumption_enabled must be a bool"),
        ({"led_enabled": "on"}, "led_enabled must be a bool"),
        ({"reboot": False}, "reboot must be True, got False"),
        ({"reboot": 1}, "reboot must be True, got 1"),
        ({"delete_delay_task": False}, "delete_delay_task must be True"),
        ({"reset_power_consumption": 1}, "reset_power_consumption must be True"),
        ({"report_status": "yes"}, "report_status must be True"),
        ({"report_attribute": None}, "report_attribute must be True"),
        ({"delay_task": 60}, f"{DELAY_KEYS}, got 60"),
        ({"delay_task": {"delay": 60}}, DELAY_KEYS),
        ({"delay_task": {"socket_status": True}}, DELAY_KEYS),
        ({"delay_task": {"delay": 60, "socket_status": True, "id": 0}}, DELAY_KEYS),
        ({"delay_task": {"delay": 0, "socket_status": True}}, f"{DELAY}, got 0"),
        (
            {"delay_task": {"delay": 65536, "socket_status": True}},
            f"{DELAY}, got 65536",
        ),
        ({"delay_task": {"delay": 60.0, "socket_status": True}}, f"{DELAY}, got 60.0"),
        ({"delay_task": {"delay": True, "socket_status": True}}, f"{DELAY}, got True"),
        (
            {"delay_task": {"delay": 60, "socket_status": 1}},
            "delay_task.socket_status must be a bool (True or False), got 1",
        ),
        *threshold_cases("overcurrent_alarm"),
        *threshold_cases("overcurrent_protection"),
        ({"switch": True}, "unknown command 'switch', expected one of ["),
        ({"delay_task_deleted": True}, "unknown command 'delay_task_deleted'"),
        # A bad command anywhere rejects the whole frame.
        ({"report_status": True, "led_enabled": 1}, "led_enabled must be a bool"),
    ],
)
def test_encode_rejects(commands: dict[str, Any], message: str) -> None:
    with pytest.raises(CodecError) as excinfo:
        encode(commands)
    assert str(excinfo.value).startswith(message)


# --- Downlink echoed back as uplink ----------------------------------------

bools = st.booleans()
threshold_settings = st.one_of(
    st.fixed_dictionaries({"enabled": st.just(True), "threshold": st.integers(1, 30)}),
    st.fixed_dictionaries(
        {"enabled": st.just(False)}, optional={"threshold": st.integers(0, 30)}
    ),
)
# command key -> (strategy for its value, decoded field, expected decoded value)
SETTINGS: dict[str, tuple[st.SearchStrategy[Any], str, Any]] = {
    "report_interval": (st.integers(60, 64800), "report_interval", None),
    "reboot": (st.just(True), "reboot", True),
    "delay_task": (
        st.fixed_dictionaries({"delay": st.integers(1, 65535), "socket_status": bools}),
        "delay_task",
        None,
    ),
    "delete_delay_task": (st.just(True), "delay_task_deleted", True),
    "overcurrent_alarm": (threshold_settings, "overcurrent_alarm", None),
    "button_lock": (bools, "button_lock", None),
    "power_consumption_enabled": (bools, "power_consumption_enabled", None),
    "reset_power_consumption": (st.just(True), "power_consumption_reset", True),
    "report_status": (st.just(True), "report_status", True),
    "report_attribute": (st.just(True), "report_attribute", True),
    "led_enabled": (bools, "led_enabled", None),
    "overcurrent_protection": (threshold_settings, "overcurrent_protection", None),
}


def expected_echo(key: str, value: Any) -> dict[str, Any]:
    """What the echo of `{key: value}` decodes to."""
    _, field, constant = SETTINGS[key]
    if constant is not None:
        return {field: constant}
    if key.startswith("overcurrent_"):
        return {field: {"threshold": 0, **value}}
    if key == "button_lock":
        return {field: value, "button_lock_time": 0}
    return {field: value}


setting_commands = st.sampled_from(sorted(SETTINGS)).flatmap(
    lambda key: SETTINGS[key][0].map(lambda value: (key, value))
)


def test_every_ff_command_has_an_echo_case() -> None:
    assert set(SETTINGS) == set(codec._ENCODERS) - {"socket_status"}


@settings(max_examples=300)
@given(command=setting_commands, prefix=st.sampled_from([b"\xff", b"\xfe"]))
def test_setting_echo_decodes_to_the_value_sent(
    command: tuple[str, Any], prefix: bytes
) -> None:
    key, value = command
    frame = encode({key: value})
    assert frame[0] == 0xFF
    assert decode(prefix + frame[1:]) == expected_echo(key, value)


@settings(max_examples=200)
@given(
    st.lists(setting_commands, unique_by=lambda command: command[0], max_size=6),
    st.sampled_from([b"\xff", b"\xfe"]),
)
def test_multi_command_echo_decodes_to_all_values(
    commands: list[tuple[str, Any]], prefix: bytes
) -> None:
    frame = encode(dict(commands))
    echo = b"".join(prefix + encode({key: value})[1:] for key, value in commands)
    assert len(echo) == len(frame)
    expected: dict[str, Any] = {}
    for key, value in commands:
        expected.update(expected_echo(key, value))
    assert decode(echo) == expected
