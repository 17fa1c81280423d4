"""The settings table: each numeric argument's range, written once.

The codec validates with `codec.RANGES` (in the device's unit); this table
presents the same ranges in the unit users type (minutes for the reporting
interval), for the action schemas, the number entities, services.yaml (checked
by a test) and README. No Home Assistant import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from . import codec

# Overcurrent threshold the socket ships with (user guide 4.1 example): used
# when the user switches a feature on whose threshold csocket never saw.
DEFAULT_THRESHOLD_A: Final = 10


@dataclass(frozen=True, slots=True)
class Setting:
    """A numeric argument as users see it: range and unit, and its device scale."""

    key: str
    range: codec.Range
    unit: str
    # Device units per user unit (60: users give minutes, the device counts s).
    scale: int = 1

    @property
    def min(self) -> int:
        """Smallest value in the user's unit."""
        return self.range.low // self.scale

    @property
    def max(self) -> int:
        """Largest value in the user's unit."""
        return self.range.high // self.scale

    def to_device(self, value: float) -> int:
        """The user's value in the device's unit."""
        return int(value) * self.scale


THRESHOLD: Final = Setting("threshold", codec.RANGES["threshold"], "A")
INTERVAL: Final = Setting("interval", codec.RANGES["report_interval"], "min", 60)
DELAY: Final = Setting("delay", codec.RANGES["delay"], "s")
# LoRaWAN application ports (0 is MAC commands, 224+ reserved).
F_PORT: Final = Setting("f_port", codec.Range(1, 223, ""), "")

SETTINGS: Final[dict[str, Setting]] = {
    setting.key: setting for setting in (THRESHOLD, INTERVAL, DELAY, F_PORT)
}
