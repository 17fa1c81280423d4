"""Run commands for entities and actions, turning failures into translated errors."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .batch import SettingUnknown
from .codec import CodecError
from .command import CommandTimeout, DownlinkFailed, QueuedTimeout, Superseded
from .connection import DownlinkRefused, TransportError
from .const import DOMAIN
from .device import SocketDevice
from .hub import CsocketHub
from .network_servers import (
    DOWNLINK_INVALID_IDENTITY,
    DOWNLINK_INVALID_REQUEST,
    DOWNLINK_TOPIC_MISMATCH,
    DownlinkError,
)

_LOGGER = logging.getLogger(__name__)

# DownlinkError.code -> its translation key; any other code (not_addressable,
# one added later) reads "cannot address ... yet".
_DOWNLINK_ERROR_KEYS = {
    DOWNLINK_INVALID_REQUEST: "cannot_address_invalid_request",
    DOWNLINK_INVALID_IDENTITY: "cannot_address_invalid_identity",
    DOWNLINK_TOPIC_MISMATCH: "cannot_address_topic_mismatch",
}

# The command key of the outlet: a newer on/off replaces one still queued.
SOCKET_STATUS = "socket_status"


def _error(key: str, device: SocketDevice, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"name": device.name, **placeholders},
    )


def downlink_error(err: DownlinkError, name: str) -> HomeAssistantError:
    """The translated error saying why a downlink to name cannot be addressed."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=_DOWNLINK_ERROR_KEYS.get(err.code, "cannot_address"),
        translation_placeholders={"name": name, "error": str(err)},
    )


@contextlib.contextmanager
def translated_errors(hub: CsocketHub, device: SocketDevice) -> Iterator[None]:
    """Turn every way a downlink can fail into a translated, user-facing error."""
    try:
        yield
    except CodecError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_setting",
            translation_placeholders={"error": str(err)},
        ) from err
    except SettingUnknown as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=f"{err.key}_state_unknown",
            translation_placeholders={"name": device.name},
        ) from err
    except QueuedTimeout as err:
        raise _error("queue_timeout", device, timeout=f"{err.timeout:g}") from err
    except CommandTimeout as err:
        raise _error("command_timeout", device, timeout=f"{err.timeout:g}") from err
    except Superseded as err:
        raise _error("superseded", device) from err
    except DownlinkFailed as err:
        raise _error("downlink_failed", device, reason=str(err)) from err
    except DownlinkRefused as err:
        raise _error("downlink_refused", device, reason=err.reason) from err
    except TransportError as err:
        raise _error("not_connected", device, error=str(err)) from err
    except DownlinkError as err:
        raise downlink_error(err, device.name) from err


async def async_run_command(
    hub: CsocketHub, device: SocketDevice, *, socket_status: bool
) -> None:
    """Switch the socket and wait until its report confirms the new state.

    A report with the other state (e.g. a periodic report crossing the
    downlink) does not end the wait; only the timeout does.
    """
    state = "on" if socket_status else "off"
    try:
        with translated_errors(hub, device):
            await hub.queues[device.dev_eui].async_command(
                {SOCKET_STATUS: socket_status},
                accept=lambda decoded: decoded.get(SOCKET_STATUS) is socket_status,
                key=SOCKET_STATUS,
            )
    except HomeAssistantError as err:
        cause = err.__cause__
        if not isinstance(cause, CommandTimeout) or isinstance(cause, QueuedTimeout):
            raise
        current = device.measurements.socket_status
        _LOGGER.warning(
            "Socket %s did not confirm switching %s within %s s; it stays %s",
            device.name,
            state,
            f"{cause.timeout:g}",
            "unknown" if current is None else ("on" if current else "off"),
        )
        sent_at = device.command_sent_at
        if sent_at and device.last_seen and device.last_seen >= sent_at:
            # It did report after the command, with the old state.
            raise _error("command_refused", device, state=state) from err
        raise


async def async_configure(
    hub: CsocketHub, device: SocketDevice, settings: Mapping[str, Any]
) -> None:
    """Send settings (validated by the codec) to the socket."""
    with translated_errors(hub, device):
        await hub.queues[device.dev_eui].async_configure(settings)
