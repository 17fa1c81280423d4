"""Loopback probe: does the broker deliver what csocket subscribed to?

Mosquitto grants a SUBSCRIBE its ACL denies (the SUBACK says "granted", under
MQTT 3.1.1 and 5 alike) and then never delivers, so only a message that comes
back proves the subscription works. csocket publishes one non-retained
message on a topic its uplink subscription matches, with a device level no
network server uses (`csocket-probe`) and a payload of its own; the hub takes
it before the network-server adapter sees it. Other consumers of the broker
can ignore any topic with a `csocket-probe` level (README, Troubleshooting).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable

from .network_servers import Subscription

PROBE_LEVEL = "csocket-probe"
# Long enough for a broker across the internet, short enough for a form.
PROBE_TIMEOUT = 5.0


def is_probe(topic: str) -> bool:
    """Whether the topic is a probe's, this entry's or another csocket entry's.

    An entry subscribed to every application also gets the probes of the
    entries for single applications: not a device with a malformed DevEUI.
    """
    return PROBE_LEVEL in topic and PROBE_LEVEL in topic.split("/")


def probe_topic(subscriptions: list[Subscription]) -> str:
    """The uplink filter with every wildcard level replaced by `csocket-probe`."""
    return "/".join(
        PROBE_LEVEL if level in ("+", "#") else level
        for level in subscriptions[0].topic.split("/")
    )


class LoopbackProbe:
    """One probe message and the wait for it to come back."""

    def __init__(self, subscriptions: list[Subscription]) -> None:
        """Pick the topic and a payload no other probe shares."""
        self.topic = probe_topic(subscriptions)
        self.payload = json.dumps({PROBE_LEVEL: uuid.uuid4().hex}).encode()
        self._back = asyncio.Event()

    def received(self, topic: str, payload: bytes) -> bool:
        """Whether this message is the probe (then nobody else must handle it)."""
        if topic == self.topic and payload == self.payload:
            self._back.set()
            return True
        return False

    async def async_run(
        self, publish: Callable[[str, bytes], Awaitable[bool]]
    ) -> bool | None:
        """Publish and wait: True when it came back, False when it did not.

        `publish` returns False when the broker refused the probe itself (an
        ACL that lets csocket read uplinks but not write them): then nothing
        is known about the subscription (None).
        """
        if not await publish(self.topic, self.payload):
            return None
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self._back.wait()
        except TimeoutError:
            return False
        return True
