"""Copies of one frame (several gateways, broker redelivery) count once."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Final

# Frame keys remembered, most recent last.
DEDUP_SIZE: Final = 512
# Copies of one frame arrive within this window; the same bytes and counter
# later are a new frame, e.g. after a reboot.
DEDUP_WINDOW: Final = 120.0

type FrameKey = tuple[str, int | None, bytes]


class FrameDedup:
    """Remembers recent frames by (DevEUI, frame counter, payload)."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        # Frame key -> monotonic time first seen.
        self._seen: OrderedDict[FrameKey, float] = OrderedDict()

    def is_duplicate(self, key: FrameKey) -> bool:
        """True for a copy of a frame seen within the window; records new ones."""
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen < DEDUP_WINDOW:
            return True
        self._seen[key] = now
        self._seen.move_to_end(key)
        if len(self._seen) > DEDUP_SIZE:
            self._seen.popitem(last=False)
        return False

    def forget(self, dev_eui: str) -> None:
        """Frame counters restart at a join: forget the device's old frames."""
        for key in [k for k in self._seen if k[0] == dev_eui]:
            del self._seen[key]
