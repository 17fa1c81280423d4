"""Raw values: read from a message's JSON or a configuration, and JSON out.

The readers of message values are total: bad input gives None, never an
exception, because parse() runs on whatever anyone publishes on the broker.
They are on the path of every uplink, so values are checked inline rather
than through intermediate objects.
"""

from __future__ import annotations

import binascii
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .models import DeviceRef

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def dig(obj: object, *path: str) -> object:
    """Return obj[path[0]][path[1]]..., or None when any level is missing."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_int(value: object) -> int | None:
    """Integer from a JSON number or a string of digits; None otherwise.

    Strings are accepted because Protobuf JSON mappings and some servers send
    integers as strings; booleans are rejected although they are ints.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def as_str(value: object) -> str | None:
    """Non-empty string from a string or an integer id; None otherwise."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def b64decode(text: str) -> bytes | None:
    """Decode strict base64 (what base64.b64decode(validate=True) does); or None."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None


def b64encode(data: bytes) -> str:
    """Base64 text of data."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def hex_eui(value: object) -> str | None:
    """16 lower-case hex digits from an EUI of 16 hex digits; None otherwise."""
    if not isinstance(value, str) or len(value) != 16:
        return None
    # fromhex skips whitespace, but 8 bytes need all 16 characters.
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 8 else None


def normalize_eui(value: object) -> str | None:
    """16 lower-case hex digits from a hex or base64 EUI; None when invalid.

    Only ChirpStack v3's "json" marshaler sends EUIs as base64 (12 characters
    for 8 bytes); every other format must use hex_eui().
    """
    if not isinstance(value, str):
        return None
    if len(value) == 16:
        return hex_eui(value)
    raw = b64decode(value)
    return raw.hex() if raw is not None and len(raw) == 8 else None


def parse_time(value: object) -> datetime | None:
    """Aware datetime from RFC 3339; naive times are taken as UTC.

    Python >= 3.11 accepts nanoseconds here (truncated to microseconds).
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def link_quality(
    rx_info: object,
    rssi_keys: Sequence[str],
    snr_key: str,
    gateway_path: Sequence[str],
) -> tuple[int | None, float | None, int]:
    """Best RSSI, best SNR and the number of gateways in an rxInfo list.

    Entries of the same gateway (one per antenna on TTS) count once. One pass;
    numbers are the exact JSON types int and float (bool is neither).
    """
    if not isinstance(rx_info, list):
        return None, None, 0
    best_rssi: float | None = None  # int or float as sent
    best_snr: float | None = None
    gateways: set[str] = set()
    anonymous = 0
    rssi_key, rssi_fallbacks = rssi_keys[0], rssi_keys[1:]
    gateway_key, gateway_rest = gateway_path[0], gateway_path[1:]
    for entry in rx_info:
        if not isinstance(entry, dict):
            continue
        rssi = entry.get(rssi_key)
        if rssi_fallbacks and rssi.__class__ not in _NUMBER:
            rssi = _first_number(entry, rssi_fallbacks)
        if rssi.__class__ in _NUMBER and (best_rssi is None or rssi > best_rssi):
            best_rssi = rssi
        snr = entry.get(snr_key)
        if snr.__class__ in _NUMBER and (best_snr is None or snr > best_snr):
            best_snr = snr
        gateway = entry.get(gateway_key)
        for key in gateway_rest:  # TTS: gateway_ids.gateway_id
            gateway = gateway.get(key) if isinstance(gateway, dict) else None
        if gateway.__class__ is str and gateway:
            gateways.add(gateway)
        else:
            anonymous += 1
    return (
        round(best_rssi) if isinstance(best_rssi, float) else best_rssi,
        None if best_snr is None else float(best_snr),
        len(gateways) + anonymous,
    )


def _first_number(entry: dict[str, Any], keys: Sequence[str]) -> object:
    """The first int or float under keys in entry; None when there is none."""
    for key in keys:
        value = entry.get(key)
        if value.__class__ in _NUMBER:
            return value
    return None


_NUMBER: Final = (int, float)


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in insertion order (the documented order)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def device_ref(
    dev_eui: object,
    application_id: object = None,
    device_id: object = None,
    device_name: object = None,
    *,
    base64: bool = False,
) -> DeviceRef | None:
    """DeviceRef from raw JSON values; None without a valid DevEUI.

    The DevEUI must be 16 hex digits, or also base64 with base64=True (only
    ChirpStack v3's json marshaler uses it). A device sends the same values
    in every message, so the DeviceRef of recent ones is reused (it is
    immutable). Only str, int and None values are keys: 1 == 1.0 == True
    would mix up values that as_str() tells apart.
    """
    cacheable = (
        dev_eui.__class__ is str
        and application_id.__class__ in _KEY_TYPES
        and device_id.__class__ in _KEY_TYPES
        and device_name.__class__ in _KEY_TYPES
    )
    if cacheable:
        key = (dev_eui, application_id, device_id, device_name, base64)
        if (device := _DEVICES.get(key)) is not None:
            return device
    eui = normalize_eui(dev_eui) if base64 else hex_eui(dev_eui)
    if eui is None:
        return None
    device = DeviceRef(
        eui, as_str(application_id), as_str(device_id), as_str(device_name)
    )
    return remember(_DEVICES, key, device) if cacheable else device


def remember[K, V](cache: dict[K, V], key: K, value: V) -> V:
    """cache[key] = value; a full cache is emptied first (junk topics, devices)."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


# Entries of each cache of parse(): more than the sockets of the largest site
# (10 000 benchmarked), or round-robin uplinks empty a cache before any hit.
# The caches save ~7 % of the hub's time per uplink (in-process, 1 000 sockets);
# full, each holds a few MB.
CACHE_SIZE: Final = 16384
_KEY_TYPES: Final = frozenset({str, int, type(None)})
_DEVICES: Final[dict[tuple[object, object, object, object, bool], DeviceRef]] = {}


def config_text(config: Mapping[str, Any], key: str, default: str) -> str:
    """A stripped text setting; the default when absent or blank."""
    value = config.get(key)
    text = str(value).strip() if value is not None else ""
    return text or default
