"""Numbers: overcurrent thresholds and the reporting interval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import EntityCategory, UnitOfElectricCurrent, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .device import SocketDevice
from .entity import CsocketControlEntity, async_setup_device_entities
from .settings import INTERVAL, THRESHOLD
from .util import async_configure

if TYPE_CHECKING:
    from . import CsocketConfigEntry

# The hub serialises downlinks per socket; sockets do not wait for each other.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CsocketNumberEntityDescription(NumberEntityDescription):
    """A numeric setting: how to read it and which command sets it."""

    value_fn: Callable[[SocketDevice], float | None]
    # The device fields value_fn reads (SocketDevice.notify).
    reads: frozenset[str]
    command_fn: Callable[[SocketDevice, float], dict[str, Any]]


def _threshold(key: str) -> Callable[[SocketDevice], float | None]:
    def value(device: SocketDevice) -> float | None:
        setting = device.threshold(key)
        # 0 is what the device reports for a threshold it does not have.
        return (setting.threshold or None) if setting else None

    return value


def _set_threshold(key: str) -> Callable[[SocketDevice, float], dict[str, Any]]:
    # Only the threshold: the queue keeps the feature's on/off state, and
    # refuses while that is unknown rather than switching it on.
    return lambda _device, value: {key: {"threshold": int(value)}}


def _reporting_interval(device: SocketDevice) -> float | None:
    """The interval the socket reported or csocket sent; unknown otherwise."""
    seconds: int | None = device.setting("report_interval")
    if not seconds:
        return None
    # Whole minutes as integers so the state reads "20", not "20.0".
    return seconds // 60 if seconds % 60 == 0 else seconds / 60


def _threshold_number(setting: str) -> CsocketNumberEntityDescription:
    """The threshold of the overcurrent alarm or protection (same range, unit)."""
    return CsocketNumberEntityDescription(
        key=f"{setting}_threshold",
        translation_key=f"{setting}_threshold",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_min_value=THRESHOLD.min,
        native_max_value=THRESHOLD.max,
        native_step=1,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
        reads=frozenset({setting}),
        value_fn=_threshold(setting),
        command_fn=_set_threshold(setting),
    )


NUMBERS: tuple[CsocketNumberEntityDescription, ...] = (
    _threshold_number("overcurrent_alarm"),
    _threshold_number("overcurrent_protection"),
    CsocketNumberEntityDescription(
        key="reporting_interval",
        translation_key="reporting_interval",
        device_class=NumberDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        native_min_value=INTERVAL.min,
        native_max_value=INTERVAL.max,
        native_step=1,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
        reads=frozenset({"report_interval"}),
        value_fn=_reporting_interval,
        command_fn=lambda _device, value: {
            "report_interval": INTERVAL.to_device(value)
        },
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the numeric settings of every socket."""
    async_setup_device_entities(
        hass,
        entry,
        async_add_entities,
        lambda hub, device: [CsocketNumber(hub, device, desc) for desc in NUMBERS],
    )


class CsocketNumber(CsocketControlEntity, NumberEntity):
    """A numeric device setting, as reported or as last sent."""

    entity_description: CsocketNumberEntityDescription

    @property
    def native_value(self) -> float | None:
        """The setting's value."""
        return self.entity_description.value_fn(self.device)

    async def async_set_native_value(self, value: float) -> None:
        """Send the new value to the socket."""
        await async_configure(
            self.hub,
            self.device,
            self.entity_description.command_fn(self.device, value),
        )
