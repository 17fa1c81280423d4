"""Compatibility shims: the branches for newer Home Assistant releases."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from homeassistant import config_entries

from custom_components.csocket import compat


def _device(**attrs: Any) -> Any:
    return SimpleNamespace(**attrs)


def test_device_belongs_to_before_2026_8() -> None:
    """2025.4 .. 2026.7: a device lists its config entries."""
    device = _device(config_entries={"a", "b"})
    assert compat.device_belongs_to(device, "a")
    assert not compat.device_belongs_to(device, "c")


def test_device_belongs_to_from_2026_8() -> None:
    """2026.8+: a device has exactly one config entry."""
    device = _device(config_entry_id="a", config_entries={"a", "b"})
    assert compat.device_belongs_to(device, "a")
    assert not compat.device_belongs_to(device, "b")


def test_options_flow_base_matches_release() -> None:
    """OptionsFlowWithReload where it exists (2025.8+), else the listener path."""
    has_reload = hasattr(config_entries, "OptionsFlowWithReload")
    assert compat.OPTIONS_FLOW_AUTO_RELOAD is has_reload
    assert issubclass(compat.OptionsFlowBase, config_entries.OptionsFlow)
