"""Fixture files of the network-server tests (payloads from network-servers.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_json() -> Callable[[str], dict[str, Any]]:
    """Load fixtures/<name>.json as a dict, to tweak before encoding."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
        return data

    return load


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    """Load fixtures/<name>.json as the raw MQTT payload."""
    return lambda name: (FIXTURES / f"{name}.json").read_bytes()
