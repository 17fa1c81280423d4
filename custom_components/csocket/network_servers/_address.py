"""Downlink addressing: which values may go into a topic, and whose they are.

A downlink topic is built from the configuration, the DevEUI and, depending
on the server, the device's application, id or name as first seen. Every
value that is not from the configuration is checked to be one MQTT topic
level, and every built topic is checked against the device's command filter,
so nothing an uplink says can send a downlink to another device's topic.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from typing import TYPE_CHECKING, ClassVar, Final

from .models import (
    DOWNLINK_INVALID_IDENTITY,
    DOWNLINK_TOPIC_MISMATCH,
    IGNORED_INVALID_DEV_EUI,
    IGNORED_INVALID_IDENTITY,
    DeviceRef,
    DownlinkError,
    Ignored,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

# Longest device name, device id or application id put into a topic. TTS ids
# are at most 36 characters, ChirpStack UUIDs 36; names are short labels.
MAX_LEVEL_LENGTH: Final = 128
# MQTT's topic rules: "/" separates levels, "+" and "#" are wildcards, NUL is
# forbidden; control characters and non-characters "should not" be used (and
# brokers drop the connection on some); lone surrogates are not UTF-8.
_NOT_IN_LEVEL: Final = re.compile(r"[/+#\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_IN_TOPIC: Final = re.compile(r"[+#\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# An MQTT string is at most 65535 bytes of UTF-8.
_MAX_TOPIC_BYTES: Final = 65535
# DeviceRef fields that can address a device, in checking order.
ADDRESS_FIELDS: Final = ("application_id", "device_id", "device_name")
# Devices whose first identity is remembered per adapter; beyond that a
# device is addressed as the hub names it (a flood of made-up DevEUIs must not
# grow memory without bound; the hub caps discovered devices far lower).
MAX_PINNED: Final = 4096


def filter_pattern(levels: Sequence[str]) -> re.Pattern[str]:
    """Regex that fullmatches the topics of an MQTT filter split on "/".

    "+" is any one level (also an empty one); "#" is any number of levels,
    none included ("a/#" matches "a").
    """
    parts: list[str] = []
    for level in levels:
        if level == "#":
            if not parts:
                return re.compile(".*", re.DOTALL)
            return re.compile("/".join(parts) + "(?:/.*)?", re.DOTALL)
        parts.append("[^/]*" if level == "+" else re.escape(level))
    return re.compile("/".join(parts))


def filter_matches(levels: Sequence[str], topic: str) -> bool:
    """MQTT topic-filter match; levels is the filter split on "/"."""
    if "+" not in levels and "#" not in levels:
        # One topic (a device's command topic in one application): no regex,
        # which would be compiled again per socket once re's cache is full.
        return "/".join(levels) == topic
    return filter_pattern(levels).fullmatch(topic) is not None


def is_topic_level(value: str) -> bool:
    """Whether value can be one MQTT topic level of a downlink topic."""
    return 0 < len(value) <= MAX_LEVEL_LENGTH and _NOT_IN_LEVEL.search(value) is None


def _is_publishable(topic: str) -> bool:
    """A topic a client may publish to: no wildcard, control or $ prefix."""
    return (
        bool(topic)
        and not topic.startswith("$")  # broker-reserved ($SYS, $share)
        and _NOT_IN_TOPIC.search(topic) is None
        and len(topic.encode()) <= _MAX_TOPIC_BYTES
    )


def check_topic(topic: str, command_filter: str) -> str:
    """The topic, if publishable and matching command_filter; else DownlinkError."""
    if _is_publishable(topic) and filter_matches(command_filter.split("/"), topic):
        return topic
    raise DownlinkError(
        f"Refused to publish on {topic!r:.200}: not the device's command topic "
        f"{command_filter!r}",
        DOWNLINK_TOPIC_MISMATCH,
    )


def invalid_field(device: DeviceRef, fields: Sequence[str]) -> str | None:
    """The first of fields whose value in device cannot be a topic level."""
    for name in fields:
        value = getattr(device, name)
        if value is not None and not is_topic_level(value):
            return name
    return None


def invalid_identity(topic: str, device: DeviceRef, reason: str) -> Ignored:
    """Ignored for a message whose identity cannot be trusted for addressing."""
    return Ignored(
        f"device {device.dev_eui}: {reason}",
        topic,
        device.dev_eui,
        IGNORED_INVALID_IDENTITY,
    )


def not_a_level(topic: str, device: DeviceRef, name: str) -> Ignored:
    """Ignored for a device whose name, id or application is not one level."""
    return invalid_identity(
        topic,
        device,
        f"{name} {getattr(device, name)!r:.60} cannot address downlinks "
        "(it must be one MQTT topic level: no /, +, #, NUL or control "
        f"characters, 1-{MAX_LEVEL_LENGTH} characters)",
    )


class AddressBook:
    """The addressing of each device, fixed by its first trusted identity."""

    __slots__ = ("_pins",)

    def __init__(self) -> None:
        """No device is addressed yet."""
        self._pins: dict[str, DeviceRef] = {}

    def pin(self, device: DeviceRef) -> None:
        """Make device's addressing the one of its DevEUI (replaces a pin)."""
        self._pins[device.dev_eui] = device

    def settle(self, seen: DeviceRef, fields: Sequence[str]) -> DeviceRef:
        """seen, with the addressing of the first identity of its DevEUI.

        fields are the DeviceRef fields that address the device. The first
        identity seen is pinned (while there is room); a later one keeps its
        display values but not its addressing.
        """
        pinned = self._pins.get(seen.dev_eui)
        if pinned is seen:  # the usual case: device_ref() reuses objects
            return seen
        if pinned is None:
            if len(self._pins) < MAX_PINNED:
                self._pins[seen.dev_eui] = seen
            return seen
        changes = {
            name: getattr(pinned, name)
            for name in fields
            if getattr(seen, name) != getattr(pinned, name)
        }
        return dataclasses.replace(seen, **changes) if changes else seen

    def pinned(self, dev_eui: str) -> DeviceRef | None:
        """The pinned identity of dev_eui, if any."""
        return self._pins.get(dev_eui)


class Addressing:
    """How an adapter names devices: checked identities, the first one pinned."""

    # How the format encodes DevEUIs, for the reason of a rejected one.
    eui_format: ClassVar[str] = "16 hexadecimal digits"
    address_book: AddressBook

    @abc.abstractmethod
    def address_fields(self) -> tuple[str, ...]:
        """The DeviceRef fields the downlink topic uses besides the DevEUI."""

    def pin(self, device: DeviceRef) -> None:
        """Fix the addressing of device.dev_eui to device's (e.g. from storage)."""
        self.address_book.pin(device)

    def identify(self, topic: str, device: DeviceRef) -> DeviceRef | Ignored:
        """The device as it is addressed, or Ignored when it cannot be.

        Values that will go into downlink topics must each be one topic level;
        the first valid identity of a DevEUI fixes its addressing.
        """
        if self.address_book.pinned(device.dev_eui) is device:
            return device
        fields = self.address_fields()
        if (name := invalid_field(device, fields)) is not None:
            return not_a_level(topic, device, name)
        return self.address_book.settle(device, fields)

    def addressed(self, device: DeviceRef, dev_eui: str) -> DeviceRef:
        """The identity a downlink to dev_eui uses: the pinned one, else device.

        DownlinkError when a value its topic needs is not one topic level.
        """
        device = self.address_book.pinned(dev_eui) or dataclasses.replace(
            device, dev_eui=dev_eui
        )
        if (name := invalid_field(device, self.address_fields())) is not None:
            raise DownlinkError(
                f"The {name} {getattr(device, name)!r:.60} of {dev_eui} cannot be "
                "part of an MQTT topic",
                DOWNLINK_INVALID_IDENTITY,
            )
        return device

    def no_device(self, topic: str, value: object) -> Ignored:
        """Ignored for a message without a usable DevEUI."""
        if value is None or value == "":
            return Ignored(f"message without a valid DevEUI ({value!r:.40})", topic)
        return Ignored(
            f"DevEUI {value!r:.40} is not {self.eui_format}",
            topic,
            code=IGNORED_INVALID_DEV_EUI,
        )

    @staticmethod
    def contradiction(
        topic: str, device: DeviceRef, *checks: tuple[str, object, object]
    ) -> Ignored | None:
        """Ignored when the body names the device unlike its topic or config.

        checks: (key, value in the body, trusted value); a missing value on
        either side is no contradiction.
        """
        for key, body, trusted in checks:
            if body not in (None, "") and trusted is not None and body != trusted:
                return invalid_identity(
                    topic,
                    device,
                    f"the message's {key} {body!r:.60} is not {trusted!r:.60} "
                    "of its topic or configuration",
                )
        return None
