"""Sensors: electrical measurements and link diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import StateType

from .availability import report_interval
from .device import LINK, SocketDevice
from .entity import CsocketEntity, async_setup_device_entities

if TYPE_CHECKING:
    from . import CsocketConfigEntry

# Entities only read the device model; nothing to serialise.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CsocketSensorEntityDescription(SensorEntityDescription):
    """A sensor and how to read it from the device model."""

    value_fn: Callable[[SocketDevice], StateType | datetime]
    attrs_fn: Callable[[SocketDevice], dict[str, Any] | None] = lambda _d: None
    # Link facts stay true while the socket is quiet, when they matter most.
    always_available: bool = False
    # The device fields value_fn and attrs_fn read (SocketDevice.notify).
    reads: frozenset[str]


SENSORS: tuple[CsocketSensorEntityDescription, ...] = (
    CsocketSensorEntityDescription(
        key="voltage",
        reads=frozenset({"voltage"}),
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda device: device.measurements.voltage,
    ),
    CsocketSensorEntityDescription(
        key="current",
        reads=frozenset({"current"}),
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.MILLIAMPERE,
        suggested_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda device: device.measurements.current,
    ),
    CsocketSensorEntityDescription(
        key="power",
        reads=frozenset({"active_power"}),
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda device: device.measurements.active_power,
    ),
    CsocketSensorEntityDescription(
        key="power_factor",
        reads=frozenset({"power_factor"}),
        device_class=SensorDeviceClass.POWER_FACTOR,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda device: device.measurements.power_factor,
    ),
    CsocketSensorEntityDescription(
        key="energy",
        reads=frozenset({"power_consumption"}),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        # The counter restarts at 0 after "reset energy": a meter reset.
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda device: device.measurements.power_consumption,
    ),
    CsocketSensorEntityDescription(
        key="rssi",
        reads=frozenset({LINK}),
        translation_key="rssi",
        always_available=True,
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Home Assistant's practice for signal strength: disabled by default.
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.rssi,
    ),
    CsocketSensorEntityDescription(
        key="snr",
        reads=frozenset({LINK}),
        translation_key="snr",
        always_available=True,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS,
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        suggested_display_precision=1,
        value_fn=lambda device: device.snr,
    ),
    CsocketSensorEntityDescription(
        key="last_seen",
        reads=frozenset({LINK}),
        translation_key="last_seen",
        always_available=True,
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Changes with every uplink, and the Logbook lists every change of a
        # sensor without unit: enabled, it buries the real events.
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.last_seen,
    ),
    CsocketSensorEntityDescription(
        key="frame_counter",
        reads=frozenset({LINK}),
        translation_key="frame_counter",
        # A counter, not a measurement: no statistics.
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.f_cnt,
    ),
    CsocketSensorEntityDescription(
        key="gateway_count",
        reads=frozenset({LINK}),
        translation_key="gateway_count",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.gateway_count,
    ),
    CsocketSensorEntityDescription(
        key="report_interval",
        reads=frozenset({"report_interval", LINK}),
        translation_key="report_interval",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=report_interval,
    ),
    CsocketSensorEntityDescription(
        key="delay_task",
        reads=frozenset({"delay_task"}),
        translation_key="delay_task",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda device: (
            device.delay_task.fires_at if device.delay_task else None
        ),
        attrs_fn=lambda device: (
            {"action": "on" if device.delay_task.socket_status else "off"}
            if device.delay_task
            else None
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CsocketConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the sensors of every socket."""
    async_setup_device_entities(
        hass,
        entry,
        async_add_entities,
        lambda hub, device: [CsocketSensor(hub, device, desc) for desc in SENSORS],
    )


class CsocketSensor(CsocketEntity, SensorEntity):
    """A value of the socket's last reports (restored across restarts by the hub)."""

    entity_description: CsocketSensorEntityDescription

    @property
    def available(self) -> bool:
        """With the socket's window; link facts whenever they are known."""
        if self.entity_description.always_available:
            return self.native_value is not None
        return super().available

    @property
    def native_value(self) -> StateType | datetime:
        """The value from the device model."""
        return self.entity_description.value_fn(self.device)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Extra context, e.g. what a pending delay task will do."""
        return self.entity_description.attrs_fn(self.device)
