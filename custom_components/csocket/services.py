"""Actions (services) of the csocket integration.

Every action takes `device_id`: one socket or a list of sockets, picked from the
device registry. They are registered once in `async_setup` (action-setup) and
resolve the socket's config entry at call time: the entry must be loaded.
Argument ranges are checked by the schemas; rules that involve several
arguments, and the device resolution, raise translated ServiceValidationError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from .compat import device_belongs_to, vol
from .connection import TransportError
from .const import DOMAIN
from .device import SocketDevice
from .network_servers import DownlinkError
from .service_schemas import (
    ACTION_ON,
    ATTR_ACTION,
    ATTR_CONFIRMED,
    ATTR_DELAY,
    ATTR_ENABLED,
    ATTR_F_PORT,
    ATTR_INTERVAL,
    ATTR_LOCKED,
    ATTR_PAYLOAD,
    ATTR_THRESHOLD,
    MAX_PAYLOAD_BYTES,
    SCHEMA_ADD_DELAY_TASK,
    SCHEMA_BUTTON_LOCK,
    SCHEMA_DEVICE_ONLY,
    SCHEMA_ENABLED,
    SCHEMA_OVERCURRENT,
    SCHEMA_REPORTING_INTERVAL,
    SCHEMA_SEND_RAW_DOWNLINK,
    SERVICE_ADD_DELAY_TASK,
    SERVICE_DELETE_DELAY_TASK,
    SERVICE_REBOOT,
    SERVICE_REFRESH,
    SERVICE_RESET_ENERGY,
    SERVICE_SEND_RAW_DOWNLINK,
    SERVICE_SET_BUTTON_LOCK,
    SERVICE_SET_ENERGY_RECORDING,
    SERVICE_SET_LED,
    SERVICE_SET_OVERCURRENT_ALARM,
    SERVICE_SET_OVERCURRENT_PROTECTION,
    SERVICE_SET_REPORTING_INTERVAL,
    check_ranges,
)
from .settings import SETTINGS
from .util import async_configure, downlink_error

if TYPE_CHECKING:
    from .hub import CsocketHub


@dataclass(frozen=True, slots=True)
class _Target:
    """One socket an action addresses."""

    device_id: str
    hub: CsocketHub
    device: SocketDevice


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


def _resolve(hass: HomeAssistant, device_id: str) -> _Target:
    """Device registry id -> loaded config entry -> hub -> socket."""
    device_entry = dr.async_get(hass).async_get(device_id)
    if device_entry is None:
        raise _invalid("device_not_found", device_id=device_id)
    name = device_entry.name_by_user or device_entry.name or device_id
    entry = next(
        (
            entry
            for entry in hass.config_entries.async_entries(DOMAIN)
            if device_belongs_to(device_entry, entry.entry_id)
        ),
        None,
    )
    dev_eui = next(
        (ident for domain, ident in device_entry.identifiers if domain == DOMAIN),
        None,
    )
    if entry is None or dev_eui is None:
        raise _invalid("device_not_csocket", name=name)
    if entry.state is not ConfigEntryState.LOADED:
        raise _invalid("entry_not_loaded", name=name, entry=entry.title)
    hub: CsocketHub = entry.runtime_data
    device = hub.devices.get(dev_eui)
    if device is None:
        raise _invalid("socket_unknown", name=name, entry=entry.title)
    return _Target(device_id, hub, device)


def _targets(call: ServiceCall) -> list[_Target]:
    """Every addressed socket, each once; raises before anything is sent."""
    device_ids: list[str] = call.data[ATTR_DEVICE_ID]
    return [_resolve(call.hass, device_id) for device_id in dict.fromkeys(device_ids)]


async def _for_each[I, T](
    items: Iterable[I], send: Callable[[I], Awaitable[T]]
) -> list[T]:
    """Send to every socket concurrently; re-raise the first failure at the end."""
    results = await asyncio.gather(
        *(send(item) for item in items), return_exceptions=True
    )
    values: list[T] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        values.append(result)
    return values


type _SettingsFn = Callable[[ServiceCall, SocketDevice], dict[str, Any]]


def _configure_handler(
    settings_fn: _SettingsFn,
) -> Callable[[ServiceCall], Coroutine[Any, Any, None]]:
    """An action that sends codec settings/commands to every addressed socket."""

    async def handle(call: ServiceCall) -> None:
        check_ranges(call)
        # Build every socket's settings first: a rule violation sends nothing.
        planned = [
            (target, settings_fn(call, target.device)) for target in _targets(call)
        ]

        async def send(item: tuple[_Target, dict[str, Any]]) -> None:
            target, settings = item
            await async_configure(target.hub, target.device, settings)

        await _for_each(planned, send)

    return handle


def _overcurrent(key: str) -> _SettingsFn:
    """Enable with a threshold, or disable keeping the device's threshold."""

    def settings(call: ServiceCall, device: SocketDevice) -> dict[str, Any]:
        enabled: bool = call.data[ATTR_ENABLED]
        threshold: int | None = call.data.get(ATTR_THRESHOLD)
        if threshold is None and enabled:
            raise _invalid(f"{key}_threshold_required", name=device.name)
        if threshold is None:
            # The queue keeps the device's threshold; 0 (as the device echoes)
            # if unknown.
            return {key: {"enabled": enabled}}
        return {key: {"enabled": enabled, "threshold": threshold}}

    return settings


def _constant(settings: dict[str, Any]) -> _SettingsFn:
    return lambda _call, _device: dict(settings)


def _flag(key: str, attr: str) -> _SettingsFn:
    return lambda call, _device: {key: call.data[attr]}


SETTINGS_ACTIONS: Final[dict[str, tuple[vol.Schema, _SettingsFn]]] = {
    SERVICE_ADD_DELAY_TASK: (
        SCHEMA_ADD_DELAY_TASK,
        lambda call, _device: {
            "delay_task": {
                "delay": call.data[ATTR_DELAY],
                "socket_status": call.data[ATTR_ACTION] == ACTION_ON,
            }
        },
    ),
    SERVICE_DELETE_DELAY_TASK: (
        SCHEMA_DEVICE_ONLY,
        _constant({"delete_delay_task": True}),
    ),
    SERVICE_SET_OVERCURRENT_ALARM: (
        SCHEMA_OVERCURRENT,
        _overcurrent("overcurrent_alarm"),
    ),
    SERVICE_SET_OVERCURRENT_PROTECTION: (
        SCHEMA_OVERCURRENT,
        _overcurrent("overcurrent_protection"),
    ),
    SERVICE_SET_REPORTING_INTERVAL: (
        SCHEMA_REPORTING_INTERVAL,
        lambda call, _device: {
            "report_interval": SETTINGS[ATTR_INTERVAL].to_device(
                call.data[ATTR_INTERVAL]
            )
        },
    ),
    SERVICE_SET_LED: (SCHEMA_ENABLED, _flag("led_enabled", ATTR_ENABLED)),
    SERVICE_SET_BUTTON_LOCK: (SCHEMA_BUTTON_LOCK, _flag("button_lock", ATTR_LOCKED)),
    SERVICE_SET_ENERGY_RECORDING: (
        SCHEMA_ENABLED,
        _flag("power_consumption_enabled", ATTR_ENABLED),
    ),
    SERVICE_RESET_ENERGY: (
        SCHEMA_DEVICE_ONLY,
        _constant({"reset_power_consumption": True}),
    ),
    SERVICE_REBOOT: (SCHEMA_DEVICE_ONLY, _constant({"reboot": True})),
    SERVICE_REFRESH: (SCHEMA_DEVICE_ONLY, _constant({"report_status": True})),
}


def _parse_payload(text: str) -> bytes:
    """Hex digits, optionally spaced or with a 0x prefix; 1..242 bytes."""
    compact = "".join(text.split()).lower().removeprefix("0x")
    try:
        payload = bytes.fromhex(compact)
    except ValueError:
        payload = b""
    if not payload or len(payload) > MAX_PAYLOAD_BYTES:
        raise _invalid("invalid_payload", payload=text, max=str(MAX_PAYLOAD_BYTES))
    return payload


async def _async_send_raw_downlink(call: ServiceCall) -> ServiceResponse:
    """Publish raw bytes to every addressed socket."""
    check_ranges(call)
    payload = _parse_payload(call.data[ATTR_PAYLOAD])
    f_port: int | None = call.data.get(ATTR_F_PORT)
    confirmed: bool = call.data[ATTR_CONFIRMED]
    targets = _targets(call)

    async def send(target: _Target) -> str:
        try:
            return await target.hub.queues[target.device.dev_eui].async_send(
                payload, f_port=f_port, confirmed=confirmed
            )
        except DownlinkError as err:
            raise downlink_error(err, target.device.name) from err
        except TransportError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="raw_downlink_failed",
                translation_placeholders={
                    "name": target.device.name,
                    "error": str(err),
                },
            ) from err

    correlation_ids = await _for_each(targets, send)
    if not call.return_response:
        return None
    return {
        "downlinks": [
            {
                "device_id": target.device_id,
                "dev_eui": target.device.dev_eui,
                "correlation_id": correlation_id,
            }
            for target, correlation_id in zip(targets, correlation_ids, strict=True)
        ]
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, from `async_setup`)."""
    for name, (schema, settings_fn) in SETTINGS_ACTIONS.items():
        hass.services.async_register(
            DOMAIN, name, _configure_handler(settings_fn), schema=schema
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEND_RAW_DOWNLINK,
        _async_send_raw_downlink,
        schema=SCHEMA_SEND_RAW_DOWNLINK,
        supports_response=SupportsResponse.OPTIONAL,
    )
