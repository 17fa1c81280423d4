"""Runtime checks that an entry receives what it should, as repair issues.

- At start, the loopback probe (probe.py): a broker ACL that grants csocket's
  subscription and then delivers nothing leaves the entry "loaded" and empty.
- After each connect, a backlog gap: frame counters of many sockets jumping
  at once mean the broker dropped what it queued for csocket (queue limit,
  or a restart without persistence) - logged once, with the fix.
- While running, silence: nothing received for longer than twice the longest
  reporting interval of the entry's sockets means every socket stopped at
  once, which is a server, topic or broker problem, not a socket's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .connection import DownlinkRefused, TransportError
from .const import DEFAULT_REPORT_INTERVAL, DOMAIN
from .network_servers import Subscription
from .probe import LoopbackProbe, is_probe
from .transport import Transport

_LOGGER = logging.getLogger(__name__)

SILENCE_FACTOR = 2
# Frame-counter jumps within this time after a connect are the backlog's; at
# least this many sockets, and half of those reporting, rule out radio loss.
BACKLOG_WINDOW = timedelta(minutes=15)
BACKLOG_MIN_SOCKETS = 3


class BacklogCheck:
    """Spot the uplinks a broker dropped from csocket's queue; warn once."""

    def __init__(self, description: str) -> None:
        """`description` names the entry in the warning."""
        self._description = description
        self._since: datetime | None = None
        self._reported: set[str] = set()
        self._jumped: set[str] = set()
        # Sockets whose frame counter may predate their last uplinks.
        self._unsure: set[str] = set()
        self._warned = False

    def unsure(self, dev_euis: Iterable[str]) -> None:
        """These sockets' next frame is not compared with their counter."""
        self._unsure.update(dev_euis)

    def connected(self) -> None:
        """A (re)connect: what the broker queued arrives now."""
        self._since = dt_util.utcnow()
        self._reported.clear()
        self._jumped.clear()

    def frame(self, dev_eui: str, before: int | None, after: int | None) -> None:
        """A socket's uplink moved its frame counter from `before` to `after`."""
        if (
            self._warned
            or self._since is None
            or before is None
            or after is None
            or dt_util.utcnow() - self._since > BACKLOG_WINDOW
        ):
            return
        if dev_eui in self._unsure:
            self._unsure.discard(dev_eui)
            return
        self._reported.add(dev_eui)
        if after > before + 1:
            self._jumped.add(dev_eui)
        jumped = len(self._jumped)
        if jumped >= BACKLOG_MIN_SOCKETS and 2 * jumped >= len(self._reported):
            self._warned = True
            _LOGGER.warning(
                "%s: %s sockets skipped frames right after csocket connected to "
                "the broker: the broker dropped uplinks it held for csocket (its "
                "queue limit, or a restart without persistence). Raise "
                "max_queued_messages (Mosquitto) to sockets x uplinks per socket "
                "during the longest outage and enable persistence; see README, "
                "Broker",
                self._description,
                jumped,
            )


class EntryWatch:
    """The start probe and the silence check of one entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        transport: Transport,
        longest_interval: Callable[[], int | None],
    ) -> None:
        """`longest_interval`: seconds, None while the entry has no sockets."""
        self._hass = hass
        self._entry = entry
        self._transport = transport
        self._longest_interval = longest_interval
        self._probe: LoopbackProbe | None = None
        self._last = dt_util.utcnow()
        self._silent = False
        self._unsub: CALLBACK_TYPE | None = None
        self.backlog = BacklogCheck(entry.title)

    def _issue_id(self, kind: str) -> str:
        return f"{kind}_{self._entry.entry_id}"

    def start(self, subscriptions: list[Subscription], *, probe: bool) -> None:
        """Probe in the background (the entry loads meanwhile); watch silence."""
        self._last = dt_util.utcnow()
        self._arm()
        if probe:
            self._probe = LoopbackProbe(subscriptions)
            self._entry.async_create_background_task(
                self._hass, self._async_probe(self._probe), "csocket probe"
            )

    @callback
    def stop(self) -> None:
        """Cancel the timer; the issues belong to this run of the entry."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        for kind in ("subscription_silent", "entry_silent"):
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id(kind))

    @callback
    def received(self, topic: str, payload: bytes) -> bool:
        """Note a message; True when it is a probe (nobody else handles it)."""
        self._last = dt_util.utcnow()
        if self._silent:
            self._silent = False
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id("entry_silent"))
        if self._probe is not None and self._probe.received(topic, payload):
            return True
        return is_probe(topic)

    async def _async_probe(self, probe: LoopbackProbe) -> None:
        async def publish(topic: str, payload: bytes) -> bool:
            try:
                await self._transport.async_publish(topic, payload, 1)
            except DownlinkRefused:
                return False
            return True

        try:
            came_back = await probe.async_run(publish)
        except TransportError as err:
            _LOGGER.debug("Subscription probe not sent: %s", err)
            return
        issue_id = self._issue_id("subscription_silent")
        if came_back is None:
            _LOGGER.debug("The broker refused the probe on %s", probe.topic)
        elif came_back:
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
        else:
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="subscription_silent",
                translation_placeholders={
                    "title": self._entry.title,
                    "topic": probe.topic,
                },
            )

    def _limit(self) -> timedelta | None:
        longest = self._longest_interval()
        return None if longest is None else timedelta(seconds=SILENCE_FACTOR * longest)

    @callback
    def _arm(self, when: datetime | None = None) -> None:
        if self._unsub is not None:
            self._unsub()
        if when is None:
            limit = self._limit() or timedelta(seconds=DEFAULT_REPORT_INTERVAL)
            when = dt_util.utcnow() + limit
        self._unsub = async_track_point_in_utc_time(self._hass, self._check, when)

    @callback
    def _check(self, now: datetime) -> None:
        self._unsub = None
        limit = self._limit()
        if limit is None:
            self._arm()
            return
        silent_for = now - self._last
        if silent_for < limit:
            self._arm(self._last + limit)
            return
        if not self._silent:
            self._silent = True
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                self._issue_id("entry_silent"),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="entry_silent",
                translation_placeholders={
                    "title": self._entry.title,
                    "minutes": str(int(silent_for.total_seconds() // 60)),
                },
            )
        self._arm(now + limit)
