"""Diagnostics: configuration and per-socket frames, without secrets.

Redaction policy (README "Diagnostics"): the broker's host, credentials, CA
certificate and client id are redacted, and so is every serial number: the
decoded value and the serial's digits inside the raw frame that carries it
(the basic-information frame). Kept, because debugging needs them: DevEUIs,
names and ids on the network server, and every other byte of the frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .availability import expires_at, report_interval
from .const import CONF_CA_CERT, CONF_CLIENT_ID, DOMAIN

if TYPE_CHECKING:
    from . import CsocketConfigEntry
    from .device import SocketDevice
    from .hub import CsocketHub

TO_REDACT = {CONF_HOST, CONF_PASSWORD, CONF_USERNAME, CONF_CA_CERT, CONF_CLIENT_ID}
# Decoded fields naming one physical device (the DevEUI is kept: it is how
# network server logs and csocket's name the same socket).
DEVICE_SECRETS = {"sn"}


def _scrub(text: str, secrets: set[str]) -> str:
    """The text with each secret's characters replaced (hex stays aligned)."""
    for secret in secrets:
        text = text.replace(secret, "x" * len(secret))
    return text


def _device(hub: CsocketHub, device: SocketDevice) -> dict[str, Any]:
    expires = expires_at(device, hub.availability_factor)
    queue = hub.queues.get(device.dev_eui)
    frames = [(frame, frame.decoded) for frame in device.frames]
    # A serial seen in any frame is scrubbed from every frame.
    serials = {
        str(value)
        for values in (device.state.values(), *(decoded for _f, decoded in frames))
        for key, value in values.items()
        if key in DEVICE_SECRETS and value
    }
    return {
        "commands_in_flight": [
            {
                "correlation_id": command.correlation_id,
                "state": command.state.value,
                "published_at": (
                    command.published_at.isoformat() if command.published_at else None
                ),
                "sent_at": command.sent_at.isoformat() if command.sent_at else None,
                "payload": command.payload.hex(),
            }
            for command in (queue.commands if queue else ())
        ],
        "name": device.name,
        "report_interval": report_interval(device),
        "report_interval_learned": device.clock.learned,
        "network_server": {
            "application_id": device.ref.application_id,
            "device_id": device.ref.device_id,
            "device_name": device.ref.device_name,
        },
        "available": device.available,
        "available_until": expires.isoformat() if expires else None,
        "last_seen": device.last_seen.isoformat() if device.last_seen else None,
        "link": {
            "rssi": device.rssi,
            "snr": device.snr,
            "frame_counter": device.f_cnt,
            "gateways": device.gateway_count,
        },
        "values": async_redact_data(device.state.values(), DEVICE_SECRETS),
        "settings_sent": device.state.sent.as_dict(),
        "delay_task": (
            {
                "fires_at": device.delay_task.fires_at.isoformat(),
                "socket_status": device.delay_task.socket_status,
            }
            if device.delay_task
            else None
        ),
        "frames": [
            {
                "received_at": frame.received_at.isoformat(),
                "frame_counter": frame.f_cnt,
                "payload": _scrub(frame.payload.hex(), serials),
                "decoded": async_redact_data(decoded, DEVICE_SECRETS),
            }
            for frame, decoded in frames
        ],
    }


def _entry(entry: CsocketConfigEntry) -> dict[str, Any]:
    hub = entry.runtime_data
    host = str(entry.data.get(CONF_HOST) or "")
    return {
        "entry": {
            # The default title names the broker's host.
            "title": entry.title.replace(host, REDACTED) if host else entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "connected": hub.transport.connected,
    }


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: CsocketConfigEntry, device: dr.DeviceEntry
) -> dict[str, Any]:
    """One socket: its frames, decoded values and link quality."""
    hub = entry.runtime_data
    sockets = {
        dev_eui: _device(hub, hub.devices[dev_eui])
        for domain, dev_eui in device.identifiers
        if domain == DOMAIN and dev_eui in hub.devices
    }
    return {**_entry(entry), "devices": sockets}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: CsocketConfigEntry
) -> dict[str, Any]:
    """Everything needed to debug an installation, without secrets."""
    hub = entry.runtime_data
    return {
        **_entry(entry),
        "messages_handled": hub.messages_handled,
        "messages_ignored": hub.ignored_count,
        "devices": {
            dev_eui: _device(hub, device) for dev_eui, device in hub.devices.items()
        },
    }
