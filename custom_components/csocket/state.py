"""Typed per-socket state: measurements, settings and identity.

Settings exist twice: as the socket reported them and as csocket last sent
them (the socket may never report some back); whichever happened last wins.
The decoded field names of the codec are the attribute names, so a decoded
frame maps onto this state without a translation table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Threshold:
    """An overcurrent alarm or protection: on/off and its threshold in A."""

    enabled: bool
    threshold: int  # 0: the socket has none

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any]) -> Threshold:
        """From the codec's {"enabled": bool, "threshold": int}."""
        return cls(bool(value["enabled"]), int(value.get("threshold") or 0))

    def as_dict(self) -> dict[str, Any]:
        """The codec's form."""
        return {"enabled": self.enabled, "threshold": self.threshold}


@dataclass(slots=True)
class Measurements:
    """The last electrical values the socket reported."""

    voltage: float | None = None
    active_power: int | None = None
    power_factor: int | None = None
    power_consumption: int | None = None
    current: int | None = None
    socket_status: bool | None = None
    power_outage: bool | None = None


@dataclass(slots=True)
class Settings:
    """The settings a socket keeps; None while unknown."""

    report_interval: int | None = None
    overcurrent_alarm: Threshold | None = None
    overcurrent_protection: Threshold | None = None
    button_lock: bool | None = None
    power_consumption_enabled: bool | None = None
    led_enabled: bool | None = None

    def set(self, key: str, value: Any) -> None:
        """Store a decoded or sent value (thresholds in the codec's form)."""
        if isinstance(value, Mapping):
            value = Threshold.from_mapping(value)
        setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        """Known settings in the codec's form (storage, diagnostics)."""
        out: dict[str, Any] = {}
        for name in SETTING_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.as_dict() if isinstance(value, Threshold) else value
        return out


@dataclass(slots=True)
class Info:
    """Identity the socket reports at join; `other` only for diagnostics."""

    sn: str | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None
    other: dict[str, Any] = field(default_factory=dict)


MEASUREMENT_FIELDS: Final = frozenset(f.name for f in fields(Measurements))
# The energy total (Wh): Home Assistant's total_increasing energy sensor.
ENERGY_FIELD: Final = "power_consumption"
SETTING_FIELDS: Final = tuple(f.name for f in fields(Settings))
INFO_FIELDS: Final = frozenset({"sn", "hardware_version", "firmware_version"})


@dataclass(slots=True)
class SocketState:
    """Everything a socket reported or was sent, typed."""

    measurements: Measurements = field(default_factory=Measurements)
    reported: Settings = field(default_factory=Settings)
    sent: Settings = field(default_factory=Settings)
    info: Info = field(default_factory=Info)

    def setting(self, key: str) -> Any:
        """A setting as last reported or sent, whichever came last."""
        value = getattr(self.reported, key)
        return getattr(self.sent, key) if value is None else value

    def apply(self, values: Mapping[str, Any]) -> set[str]:
        """Merge decoded state fields (echo-only fields already removed).

        Returns the fields whose value changed: a periodic report repeats
        most of them, and only a change needs an entity to look.
        """
        changed: set[str] = set()
        for key, value in values.items():
            if key in MEASUREMENT_FIELDS:
                if getattr(self.measurements, key) != value:
                    setattr(self.measurements, key, value)
                    changed.add(key)
            elif key in SETTING_FIELDS:
                before = self.setting(key)
                self.reported.set(key, value)
                # A reported setting supersedes what csocket sent.
                self.sent.set(key, None)
                if self.setting(key) != before:
                    changed.add(key)
            elif key in INFO_FIELDS:
                setattr(self.info, key, value)
            else:
                self.info.other[key] = value
        return changed

    def record_sent(self, key: str, value: Any) -> None:
        """A setting csocket sent; the device's next report of it replaces it."""
        self.sent.set(key, value)
        self.reported.set(key, None)

    def values(self) -> dict[str, Any]:
        """Reported state in the codec's field names (storage, diagnostics)."""
        out: dict[str, Any] = {
            name: value
            for name in sorted(MEASUREMENT_FIELDS)
            if (value := getattr(self.measurements, name)) is not None
        }
        out.update(self.reported.as_dict())
        out.update(
            {
                name: value
                for name in sorted(INFO_FIELDS)
                if (value := getattr(self.info, name)) is not None
            }
        )
        out.update(self.info.other)
        return out

    @classmethod
    def restore(cls, values: Mapping[str, Any], sent: Mapping[str, Any]) -> SocketState:
        """Rebuild from `values()` and the sent settings' `as_dict()`."""
        state = cls()
        state.apply(values)
        for key, value in sent.items():
            if key in SETTING_FIELDS:
                state.sent.set(key, value)
        return state
