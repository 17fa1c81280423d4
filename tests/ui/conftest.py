"""The browser test runs in its own pytest invocation, without phacc.

pytest-homeassistant-custom-component blocks sockets, runs Home Assistant in
the test's event loop and checks for lingering threads; the browser test
instead drives a real `hass` process, Mosquitto and the simulator through
Chromium. scripts/test runs it as `pytest -p no:homeassistant tests/ui`.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the browser test to its own invocation (see the module docstring)."""
    if config.pluginmanager.hasplugin("homeassistant"):
        return collection_path.name.startswith("test_")
    return None


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override tests/conftest.py's: Home Assistant runs in its own process here."""
