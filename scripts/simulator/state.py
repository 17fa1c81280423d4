"""The state file: what each socket remembers across simulator restarts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Final

from .protocol import Settings

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from .device import SimulatedSocket

_LOGGER: Final = logging.getLogger("csocket.simulate")
STATE_VERSION: Final = 1


def load_state(path: Path | None, sockets: Mapping[str, SimulatedSocket]) -> None:
    """Restore the sockets' settings; an unreadable file is ignored."""
    if path is None or not path.exists():
        return
    try:
        saved = json.loads(path.read_text())["sockets"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        _LOGGER.warning("Ignoring the unreadable state file %s: %s", path, err)
        return
    names = {item.name for item in dataclasses.fields(Settings)}
    for dev_eui, sock in sockets.items():
        values = saved.get(dev_eui)
        if isinstance(values, dict):
            known = {k: v for k, v in values.items() if k in names}
            with contextlib.suppress(TypeError):
                sock.settings = Settings(**known)


def save_state(path: Path | None, sockets: Mapping[str, SimulatedSocket]) -> None:
    """Write the sockets' settings atomically."""
    if path is None:
        return
    for sock in sockets.values():
        sock.tick()
    data = {
        "version": STATE_VERSION,
        "sockets": {
            dev_eui: dataclasses.asdict(sock.settings)
            for dev_eui, sock in sockets.items()
        },
    }
    temporary = path.with_suffix(".tmp")
    try:
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        temporary.replace(path)
    except OSError as err:
        _LOGGER.warning("Could not save the state to %s: %s", path, err)
