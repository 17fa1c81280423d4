"""Telling the user about problems without flooding the log or Repairs.

A problem kind (undecodable frames, an invalid identity, the discovery cap...)
gets at most one warning per device per hour and one repair issue per entry,
updated in place as more devices show it, never deleted and recreated per
message. Hostile or broken streams repeat the same problem thousands of times
a minute; the repeats go to the debug log. A device leaves the issue a day
after its last such message, and the issue goes with the last device.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .const import DOMAIN

# A device's repeated problem of one kind is logged once per this interval.
WARNING_INTERVAL: Final = timedelta(hours=1)
# Distinct devices warned about per kind and interval: a flood of made-up
# DevEUIs must not turn "one per device" into thousands of lines.
MAX_WARNED: Final = 10
# Devices a repair issue remembers and names.
MAX_TRACKED: Final = 100
MAX_LISTED: Final = 5
# A device leaves a problem's repair issue this long after its last message
# with the problem (the messages stopped: renamed, or the publisher is gone).
PROBLEM_EXPIRY: Final = timedelta(days=1)


class QuietLog:
    """Log a problem once per device, kind and hour; repeats at debug level."""

    def __init__(self, logger: logging.Logger) -> None:
        """Log through logger (the module reporting the problem)."""
        self._logger = logger
        # kind -> subject -> when it was last logged above debug level
        self._logged: dict[str, dict[str, datetime]] = {}

    def log(
        self,
        level: int,
        kind: str,
        subject: str,
        msg: str,
        *args: object,
        exc_info: bool = False,
    ) -> bool:
        """Log msg at level unless subject's kind was logged this hour."""
        if not self._due(kind, subject):
            self._logger.debug(msg, *args, exc_info=exc_info)
            return False
        # Formatted here: this line is rare, at most one per subject and hour.
        self._logger.log(
            level,
            "%s (repeats within an hour are logged at debug level)",
            msg % args,
            exc_info=exc_info,
        )
        return True

    def _due(self, kind: str, subject: str) -> bool:
        """Whether subject's kind may be logged now; if so, remember it."""
        now = dt_util.utcnow()
        logged = self._logged.setdefault(kind, {})
        last = logged.get(subject)
        if last is not None and now - last < WARNING_INTERVAL:
            return False
        if last is None and len(logged) >= MAX_WARNED:
            for old, when in list(logged.items()):
                if now - when >= WARNING_INTERVAL:
                    del logged[old]
            if len(logged) >= MAX_WARNED:
                return False
        logged[subject] = now
        return True

    def warning(self, kind: str, subject: str, msg: str, *args: object) -> bool:
        """log() at WARNING level."""
        return self.log(logging.WARNING, kind, subject, msg, *args)


class RepairIssue:
    """One repair issue of an entry, created once and updated in place."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        name: str,
        translation_key: str,
        severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
    ) -> None:
        """The name makes the issue id unique per entry; the key picks the text."""
        self._hass = hass
        self._entry = entry
        self._name = name
        self.translation_key = translation_key
        self._severity = severity
        self._placeholders: dict[str, str] | None = None

    @property
    def issue_id(self) -> str:
        """The id in Home Assistant's issue registry."""
        return f"{self._name}_{self._entry.entry_id}"

    @property
    def active(self) -> bool:
        """Whether the issue is shown."""
        return self._placeholders is not None

    def show(self, **placeholders: str) -> None:
        """Create the issue, or update it when its text changes."""
        full = {"title": self._entry.title, **placeholders}
        if full == self._placeholders:
            return
        self._placeholders = full
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=self._severity,
            translation_key=self.translation_key,
            translation_placeholders=full,
        )

    def remove(self) -> None:
        """Delete the issue (the problem is gone, or the entry unloads)."""
        if self._placeholders is not None:
            self._placeholders = None
            ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)


class DeviceProblem:
    """One problem kind several devices can have: a warning each, one issue."""

    def __init__(self, hass: HomeAssistant, issue: RepairIssue, log: QuietLog) -> None:
        """Report through issue (placeholders count, devices) and log."""
        self._hass = hass
        self.issue = issue
        self._log = log
        self._details: dict[str, str] = {}
        self._last: dict[str, datetime] = {}  # subject -> its last report
        self._overflow = False
        self._expiry: CALLBACK_TYPE | None = None

    def report(self, subject: str, detail: str) -> None:
        """Report that subject (a DevEUI, or the bad value) has the problem."""
        self._log.warning(
            self.issue.translation_key, subject, "%s; its messages are ignored", detail
        )
        now = dt_util.utcnow()
        if subject in self._details:
            self._last[subject] = now
            return
        if len(self._details) >= MAX_TRACKED:
            self._overflow = True
        else:
            self._details[subject] = detail
            self._last[subject] = now
        self._show()
        if self._expiry is None:
            self._arm(now + PROBLEM_EXPIRY)

    def _show(self) -> None:
        listed = list(self._details.values())[:MAX_LISTED]
        more = len(self._details) - len(listed)
        # As inline code: the details quote what a message said, and Repairs
        # renders Markdown (a hostile name must not become a link).
        lines = [f"- `{_code(detail)}`" for detail in listed]
        if more or self._overflow:
            lines.append(f"- … {more}{'+' if self._overflow else ''} more")
        count = f"{len(self._details)}{'+' if self._overflow else ''}"
        self.issue.show(count=count, devices="\n".join(lines))

    def _arm(self, when: datetime) -> None:
        # One timer per problem while it is shown, not one per report: a
        # flood reports thousands of times a minute.
        self._expiry = async_track_point_in_utc_time(self._hass, self._expire, when)

    @callback
    def _expire(self, now: datetime) -> None:
        self._expiry = None
        for subject, last in list(self._last.items()):
            if now - last >= PROBLEM_EXPIRY:
                del self._last[subject], self._details[subject]
        # Devices beyond MAX_TRACKED are not timed: they come back if active.
        self._overflow = False
        if not self._details:
            self.issue.remove()
            return
        self._show()
        self._arm(min(self._last.values()) + PROBLEM_EXPIRY)

    def remove(self) -> None:
        """Forget the devices and delete the issue (the entry unloads)."""
        if self._expiry is not None:
            self._expiry()
            self._expiry = None
        self._details.clear()
        self._last.clear()
        self._overflow = False
        self.issue.remove()


def _code(text: str) -> str:
    """Text that stays inside one Markdown code span."""
    return text.replace("`", "'").replace("\n", " ")
