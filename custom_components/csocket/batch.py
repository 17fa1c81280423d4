"""Settings of one event-loop turn, merged into as few frames as fit.

Pure functions the command queue uses: merging field by field, completing a
partial threshold update from what the socket is known to have, validating
in the caller's context, and packing records into frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from . import codec
from .settings import DEFAULT_THRESHOLD_A

if TYPE_CHECKING:
    from .device import SocketDevice

# Smallest application payload over all regions and data rates (US915 DR0).
MAX_FRAME: Final = 11
# Settings made of an on/off state and a threshold, set one field at a time.
THRESHOLD_SETTINGS: Final = frozenset({"overcurrent_alarm", "overcurrent_protection"})


class SettingUnknown(Exception):
    """A threshold was given while csocket does not know if its feature is on.

    Sending one needs the on/off state too; guessing "on" would switch a
    protection on as a side effect.
    """

    def __init__(self, key: str) -> None:
        """Name the setting whose state is unknown."""
        super().__init__(key)
        self.key = key


def merge(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge settings field by field; later values win per field."""
    merged: dict[str, Any] = {}
    for settings in parts:
        for key, value in settings.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def validate(settings: Mapping[str, Any]) -> None:
    """Raise CodecError now, in the caller's context, for what can be checked."""
    for key, value in settings.items():
        if key in THRESHOLD_SETTINGS and isinstance(value, Mapping):
            # A partial update: check the fields it has.
            codec.encode_downlink({key: {"enabled": True, "threshold": 1, **value}})
        else:
            codec.encode_downlink({key: value})


def frames(settings: Mapping[str, Any]) -> list[bytes]:
    """Encode settings into as few frames as fit the smallest LoRaWAN payload."""
    out: list[bytes] = []
    current = b""
    for key, value in settings.items():
        record = codec.encode_downlink({key: value})
        if current and len(current) + len(record) > MAX_FRAME:
            out.append(current)
            current = b""
        current += record
    if current:
        out.append(current)
    return out


def complete(device: SocketDevice, key: str, value: Any) -> Any:
    """Fill the fields a partial threshold update left out from known state."""
    if key not in THRESHOLD_SETTINGS:
        return value
    known = device.threshold(key)
    enabled = value.get("enabled", known.enabled if known else None)
    if enabled is None:
        raise SettingUnknown(key)
    threshold = value.get("threshold") or (known.threshold if known else 0)
    if not threshold:
        threshold = DEFAULT_THRESHOLD_A if enabled else 0
    return {"enabled": enabled, "threshold": threshold}
