"""Action names, argument validators and schemas of the csocket actions.

Schemas check types; ranges come from the settings table and are checked in
`check_ranges` so that the error is a translated ServiceValidationError naming
the argument and its range.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .compat import vol
from .const import DOMAIN
from .settings import SETTINGS

SERVICE_ADD_DELAY_TASK: Final = "add_delay_task"
SERVICE_DELETE_DELAY_TASK: Final = "delete_delay_task"
SERVICE_SET_OVERCURRENT_ALARM: Final = "set_overcurrent_alarm"
SERVICE_SET_OVERCURRENT_PROTECTION: Final = "set_overcurrent_protection"
SERVICE_SET_REPORTING_INTERVAL: Final = "set_reporting_interval"
SERVICE_SET_LED: Final = "set_led"
SERVICE_SET_BUTTON_LOCK: Final = "set_button_lock"
SERVICE_SET_ENERGY_RECORDING: Final = "set_energy_recording"
SERVICE_RESET_ENERGY: Final = "reset_energy"
SERVICE_REBOOT: Final = "reboot"
SERVICE_REFRESH: Final = "refresh"
SERVICE_SEND_RAW_DOWNLINK: Final = "send_raw_downlink"

ATTR_DELAY: Final = "delay"
ATTR_ACTION: Final = "action"
ATTR_ENABLED: Final = "enabled"
ATTR_THRESHOLD: Final = "threshold"
ATTR_INTERVAL: Final = "interval"
ATTR_LOCKED: Final = "locked"
ATTR_PAYLOAD: Final = "payload"
ATTR_F_PORT: Final = "f_port"
ATTR_CONFIRMED: Final = "confirmed"

ACTION_ON: Final = "on"
ACTION_OFF: Final = "off"

# Largest LoRaWAN application payload (EU868/US915 at the fastest data rates).
MAX_PAYLOAD_BYTES: Final = 242


def whole_number(value: Any) -> int:
    """An integer, also from an integral float or a numeric string; no rounding."""
    if isinstance(value, bool):
        raise vol.Invalid(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise vol.Invalid(f"expected a whole number, got {value!r}") from err
    if not number.is_integer():
        raise vol.Invalid(f"expected a whole number, got {value!r}")
    return int(number)


def _whole_seconds(value: timedelta) -> int:
    """A duration in whole seconds (the device counts seconds)."""
    seconds = value.total_seconds()
    if not seconds.is_integer():
        raise vol.Invalid(f"delay must be whole seconds, got {seconds:g} s")
    return int(seconds)


DEVICE_IDS: Final = vol.All(cv.ensure_list, [cv.string], vol.Length(min=1))
DELAY: Final = vol.All(cv.time_period, _whole_seconds)
THRESHOLD: Final = whole_number
INTERVAL: Final = whole_number
F_PORT: Final = whole_number


def check_ranges(call: ServiceCall) -> None:
    """Refuse an argument outside the settings table's range."""
    for argument, setting in SETTINGS.items():
        value = call.data.get(argument)
        low, high, unit = setting.min, setting.max, setting.unit
        if value is not None and not low <= value <= high:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="out_of_range",
                translation_placeholders={
                    "argument": argument,
                    "min": str(low),
                    "max": str(high),
                    "unit": unit,
                    "value": str(value),
                },
            )


_BASE: Final[dict[Any, Any]] = {vol.Required(ATTR_DEVICE_ID): DEVICE_IDS}
SCHEMA_DEVICE_ONLY: Final = vol.Schema(_BASE)
SCHEMA_ADD_DELAY_TASK: Final = vol.Schema(
    {
        **_BASE,
        vol.Required(ATTR_DELAY): DELAY,
        vol.Required(ATTR_ACTION): vol.In((ACTION_ON, ACTION_OFF)),
    }
)
SCHEMA_OVERCURRENT: Final = vol.Schema(
    {
        **_BASE,
        vol.Required(ATTR_ENABLED): cv.boolean,
        vol.Optional(ATTR_THRESHOLD): THRESHOLD,
    }
)
SCHEMA_REPORTING_INTERVAL: Final = vol.Schema(
    {**_BASE, vol.Required(ATTR_INTERVAL): INTERVAL}
)
SCHEMA_ENABLED: Final = vol.Schema({**_BASE, vol.Required(ATTR_ENABLED): cv.boolean})
SCHEMA_BUTTON_LOCK: Final = vol.Schema({**_BASE, vol.Required(ATTR_LOCKED): cv.boolean})
SCHEMA_SEND_RAW_DOWNLINK: Final = vol.Schema(
    {
        **_BASE,
        vol.Required(ATTR_PAYLOAD): cv.string,
        # Absent: the FPort configured for the entry (85 unless changed).
        vol.Optional(ATTR_F_PORT): F_PORT,
        vol.Optional(ATTR_CONFIRMED, default=False): cv.boolean,
    }
)
