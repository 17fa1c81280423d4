"""Shared fixtures: Home Assistant custom-integration plumbing and a real broker."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest.mock import MagicMock, Mock, PropertyMock, patch

import freezegun
import pytest
import pytest_socket
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from .broker import Broker
from .common import PASSWORD, USER, unload_all
from .pki import Pki, make_pki

# The broker is real, so the MQTT client keeps real time: paho times its
# keepalive with time.monotonic, and a test that moves the frozen clock by
# minutes in steps faster than the broker answers a ping would otherwise see
# a dead connection (a PINGREQ on one step, no PINGRESP read by the next).
freezegun.configure(extend_ignore_list=["paho.mqtt"])


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


class VersionedSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's serializer, one snapshot directory per tested release.

    What the registry and states hold for the same entity changes between
    releases (2026.2 adds `suggested_object_id`, 2026.10 stores `aliases` as a
    list and keys attributes by enums). Each leg compares against its own exact
    snapshots (tests/snapshots/haMAJOR.MINOR/) rather than a normalised view
    that would also hide what a release changes; the diff between the two
    directories shows it. After changing entities update both:
    `scripts/test --snapshot-update`,
    `scripts/test-current pytest --snapshot-update`.
    """

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """tests/snapshots/ha2025.4, tests/snapshots/ha2026.10, ..."""
        base = Path(super().dirname(test_location=test_location))
        return str(base / f"ha{MAJOR_VERSION}.{MINOR_VERSION}")


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's snapshot serializer, per Home Assistant release."""
    return snapshot.use_extension(VersionedSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create entities that are disabled by default as enabled."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A private CA and broker certificates, made once per run."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def allow_loopback() -> None:
    """Let the test reach the suite's broker on 127.0.0.1 (never anything else)."""
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(["127.0.0.1"])


@pytest.fixture
async def broker(
    hass: HomeAssistant, tmp_path: Path, allow_loopback: None
) -> AsyncIterator[Broker]:
    """A Mosquitto broker on a free port of 127.0.0.1.

    Entries still loaded at the end are unloaded before the broker stops, as a
    user's Home Assistant would, so no connection is left half-closed.
    """
    instance = Broker(tmp_path / "mosquitto")
    instance.start()
    yield instance
    await unload_all(hass)
    instance.stop()


@pytest.fixture
def auth_broker(tmp_path: Path, allow_loopback: None) -> Iterator[Broker]:
    """Mosquitto with a password file: only USER / PASSWORD may connect."""
    password_file = tmp_path / "passwd"
    subprocess.run(  # noqa: S603
        ["mosquitto_passwd", "-b", "-c", str(password_file), USER, PASSWORD],  # noqa: S607
        check=True,
        capture_output=True,
    )
    instance = Broker(
        tmp_path / "auth",
        extra_config=f"allow_anonymous false\npassword_file {password_file}\n",
    )
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def ha_mqtt(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mqtt_client_mock: MagicMock
) -> Iterator[MqttMockHAClient]:
    """Home Assistant's MQTT integration, loaded on phacc's mocked paho client.

    phacc opens a fake socket (which starts MQTT's 1 s misc timer) but never
    closes it; closing it at teardown stops the timer, as a real disconnect does.
    """
    yield mqtt_mock
    mqtt_client_mock.on_socket_close(
        mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1))
    )
