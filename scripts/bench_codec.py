"""Benchmark the WS523 codec: decoded frames per second.

Run with ``.venv/bin/python scripts/bench_codec.py``. The codec is loaded from
its file path, so Home Assistant is not needed. Each figure is the best of
five timed runs of a fixed number of iterations.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

CODEC_PATH = (
    Path(__file__).resolve().parents[1] / "custom_components" / "csocket" / "codec.py"
)
REPEATS = 5

# User-guide examples (section 4).
REPORT = bytes.fromhex("087001 058129 07c91200 0374f508 068305000000 048001000000")
BASIC_INFO = bytes.fromhex(
    "ff0101ff166148b13783621055ff090100ff0a0103ff24010aff30010aff250080ff2601"
)


def load_codec() -> ModuleType:
    spec = importlib.util.spec_from_file_location("csocket_codec", CODEC_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chirpstack_uplink(data: bytes) -> bytes:
    """Build a ChirpStack v4 ``event/up`` message as published on MQTT.

    Field set of a current version (network-servers.md, 1.4), compact JSON as
    ChirpStack's serde_json writes it. No ``object``: it only exists when a
    codec is configured on the network server, and then we would not decode.
    """
    event = {
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": "2024-01-06T11:34:06.123456+00:00",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "ChirpStack",
            "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
            "applicationName": "Test application",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "WS523",
            "deviceName": "Socket living room",
            "devEui": "24e124468d123456",
            "deviceClassEnabled": "CLASS_C",
            "tags": {},
        },
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": 4,
        "fPort": 85,
        "confirmed": False,
        "data": base64.b64encode(data).decode("ascii"),
        "rxInfo": [
            {
                "gatewayId": "0016c001f153a14c",
                "uplinkId": 24261,
                "rssi": -30,
                "snr": 12.0,
                "context": "1UP+Hg==",
                "metadata": {"region_common_name": "EU868", "region_name": "eu868"},
                "crcStatus": "CRC_OK",
            }
        ],
        "txInfo": {
            "frequency": 867300000,
            "modulation": {
                "lora": {
                    "bandwidth": 125000,
                    "spreadingFactor": 9,
                    "codeRate": "CR_4_5",
                }
            },
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def rate(func: Callable[[Any], object], arg: object, iterations: int) -> float:
    """Return calls per second: best of REPEATS runs of `iterations` calls."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(iterations):
            func(arg)
        best = min(best, time.perf_counter() - start)
    return iterations / best


def envelope_pipeline(
    loads: Callable[[bytes], Any],
    b64decode: Callable[[str], bytes],
    decode: Callable[[bytes], dict[str, Any]],
    fport: int,
) -> Callable[[bytes], object]:
    """MQTT payload -> JSON -> base64 ``data`` -> decoded fields, as an adapter does."""

    def run(payload: bytes) -> object:
        message = loads(payload)
        if message["fPort"] != fport:
            return None
        return decode(b64decode(message["data"]))

    return run


def main() -> None:
    codec = load_codec()
    decode = codec.decode_uplink
    general = codec._decode_records  # noqa: SLF001 - forcing the general path
    payload = chirpstack_uplink(REPORT)

    rows: list[tuple[str, float]] = [
        ("periodic report, decode_uplink (fast path)", rate(decode, REPORT, 400_000)),
        ("periodic report, general record loop", rate(general, REPORT, 200_000)),
        ("basic-information frame, decode_uplink", rate(decode, BASIC_INFO, 200_000)),
    ]
    envelope = 50_000
    pipelines: list[tuple[str, Callable[[bytes], Any], Callable[[str], bytes]]] = [
        ("json.loads + base64.b64decode", json.loads, base64.b64decode),
        ("json.loads + binascii.a2b_base64", json.loads, binascii.a2b_base64),
    ]
    try:
        import orjson  # noqa: PLC0415 - optional; Home Assistant's json_loads is orjson
    except ImportError:
        print("(orjson not installed: its rows are skipped)")
    else:
        pipelines += [
            ("orjson.loads + base64.b64decode", orjson.loads, base64.b64decode),
            ("orjson.loads + binascii.a2b_base64", orjson.loads, binascii.a2b_base64),
        ]
    for name, loads, b64decode in pipelines:
        run = envelope_pipeline(loads, b64decode, decode, codec.FPORT)
        assert run(payload) == decode(REPORT)
        rows.append((f"ChirpStack v4 JSON: {name}", rate(run, payload, envelope)))
    rows.append(
        ("  (json.loads of the envelope alone)", rate(json.loads, payload, envelope))
    )

    print(
        f"Python {platform.python_version()} on {platform.machine()}; "
        f"best of {REPEATS}; envelope {len(payload)} bytes of JSON"
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'frames/s':>10}  {'us/frame':>8}")
    for name, per_second in rows:
        print(f"{name:<{width}}  {per_second:>10,.0f}  {1e6 / per_second:>8.3f}")

    for frame_name, frame in (("periodic report", REPORT), ("basic info", BASIC_INFO)):
        fast, slow = decode(frame), general(frame)
        same = fast == slow and list(fast) == list(slow)
        print(f"fast path output == general path output ({frame_name}): {same}")


if __name__ == "__main__":
    main()
