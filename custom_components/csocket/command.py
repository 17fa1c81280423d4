"""One downlink to a socket and its outcome.

A command keeps an explicit state: queued (waiting for its turn on air or at
the network server), sent (the server reported the transmission), confirmed
by the socket's report, or failed. The queue that orders commands is in
commands.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from homeassistant.util import dt as dt_util

from .network_servers import DownlinkStatus

# Results that say the frame left the gateway (an acknowledgement implies it).
TRANSMITTED: Final = frozenset({DownlinkStatus.SENT, DownlinkStatus.ACKNOWLEDGED})


class DownlinkFailed(Exception):
    """The network server reported that a downlink failed."""


class CommandTimeout(Exception):
    """The device did not confirm a command in time."""

    def __init__(self, dev_eui: str, timeout: float) -> None:
        """Name the socket and the seconds it had."""
        super().__init__(dev_eui)
        self.timeout = timeout


class QueuedTimeout(CommandTimeout):
    """The command never left the gateway within the queued bound."""


class Superseded(Exception):
    """A newer command to the same socket replaced this one before it was sent."""


class CommandState(StrEnum):
    """Where a command is on its way to the socket."""

    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"


@dataclass(slots=True, eq=False)
class Command:
    """One downlink and its outcome."""

    payload: bytes
    accept: Callable[[Mapping[str, Any]], bool] | None = None
    # What it sets, e.g. ("socket_status", True): a newer command with the same
    # key replaces this one while it has not been published.
    key: str | None = None
    target: Any = None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: CommandState = CommandState.QUEUED
    published_at: datetime | None = None
    sent_at: datetime | None = None  # transmission (or publish, unreported)
    on_sent: Callable[[], None] | None = None
    future: asyncio.Future[Mapping[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def transmitted(self) -> None:
        """The frame left the gateway: the socket's time to confirm starts."""
        if self.state is CommandState.QUEUED and not self.future.done():
            self.state = CommandState.SENT
            self.sent_at = dt_util.utcnow()
            if self.on_sent is not None:
                self.on_sent()

    def confirm(self, decoded: Mapping[str, Any]) -> None:
        """The socket's report confirms the command."""
        if not self.future.done():
            self.state = CommandState.CONFIRMED
            self.future.set_result(decoded)

    def fail(self, err: Exception) -> None:
        """The command failed (network server, broker or unload)."""
        if not self.future.done():
            self.state = CommandState.FAILED
            self.future.set_exception(err)
