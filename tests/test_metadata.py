"""Manifest, HACS metadata, translations and icons agree with the code."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import hass_frontend
import homeassistant
import yaml
from homeassistant.const import EntityCategory

from custom_components.csocket import (
    binary_sensor,
    button,
    event,
    number,
    sensor,
    switch,
)

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "custom_components" / "csocket"
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
}


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest() -> None:
    """hassfest's rules for custom integrations: keys, order, version."""
    manifest = _json(PACKAGE / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    for key in ("codeowners", "documentation", "issue_tracker", "iot_class", "version"):
        assert manifest[key]
    assert manifest["domain"] == PACKAGE.name
    assert manifest["config_flow"] is True
    assert manifest["integration_type"] == "hub"
    assert manifest["requirements"] == ["aiomqtt>=2.1,<3"]


def test_hacs() -> None:
    """HACS rejects unknown keys."""
    hacs = _json(ROOT / "hacs.json")
    assert set(hacs) <= HACS_KEYS
    assert hacs["homeassistant"] == "2025.4.0"
    assert (PACKAGE / "brand" / "icon.png").is_file()


def test_entity_translations_and_icons() -> None:
    """Every translation_key has a name and an icon; nothing is left over."""
    strings = _json(PACKAGE / "translations" / "en.json")["entity"]
    icons = _json(PACKAGE / "icons.json")["entity"]
    used = {
        "sensor": sensor.SENSORS,
        "binary_sensor": binary_sensor.BINARY_SENSORS,
        "switch": (*switch.CONFIG_SWITCHES, switch.SOCKET),
        "number": number.NUMBERS,
        "button": button.BUTTONS,
        "event": (event.EVENT,),
    }
    for platform, descriptions in used.items():
        keys = {d.translation_key for d in descriptions if d.translation_key}
        assert keys == set(strings[platform]), platform
        # A device class brings its own icon; the others need one.
        need_icon = {
            d.translation_key
            for d in descriptions
            if d.translation_key and not getattr(d, "device_class", None)
        }
        assert need_icon <= set(icons[platform]) <= keys, platform
        for d in descriptions:
            # The outlet is named after its device; its key translates attributes.
            if d.translation_key and d.name is not None:
                assert strings[platform][d.translation_key]["name"]
        for key in icons[platform]:
            assert icons[platform][key]["default"].startswith("mdi:")


def _icon_names(node: object) -> set[str]:
    """Every "mdi:…" value anywhere in icons.json."""
    if isinstance(node, dict):
        return set().union(*(_icon_names(value) for value in node.values()))
    if isinstance(node, str) and node.startswith("mdi:"):
        return {node.removeprefix("mdi:")}
    return set()


def test_icons_exist_in_the_frontend() -> None:
    """The frontend shows a blank icon for a name its icon set does not have.

    The frontend installed is the one the tested Home Assistant pins: on the
    2025.4.4 leg (hacs.json's minimum) the oldest UI csocket supports, on the
    current leg today's, so an icon must exist in both.
    """
    manifest = _json(
        Path(homeassistant.__file__).parent / "components/frontend/manifest.json"
    )
    assert manifest["requirements"] == [
        f"home-assistant-frontend=={version('home-assistant-frontend')}"
    ]
    icon_list = Path(hass_frontend.where()) / "static" / "mdi" / "iconList.json"
    known = {icon["name"] for icon in json.loads(icon_list.read_text(encoding="utf-8"))}
    icons = _json(PACKAGE / "icons.json")
    used = _icon_names(icons)
    assert len(used) > 10
    assert used <= known, sorted(used - known)
    # Every action has an icon too.
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text(encoding="utf-8"))
    assert set(services) == set(icons["services"])


def test_logbook_quiet_diagnostics() -> None:
    """Diagnostics the Logbook would list on every uplink are disabled by default.

    The Logbook leaves out sensors with a unit or a state class (measurements);
    any other diagnostic sensor (Last seen; the frame counter, which has no
    statistics) changes with every uplink and would bury the real events.
    """
    listed = [
        description.key
        for description in sensor.SENSORS
        if description.entity_category is EntityCategory.DIAGNOSTIC
        and description.native_unit_of_measurement is None
        and description.state_class is None
    ]
    assert sorted(listed) == ["frame_counter", "last_seen"]
    for description in sensor.SENSORS:
        if description.key in listed:
            assert description.entity_registry_enabled_default is False
