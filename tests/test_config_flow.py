"""Config, reconfigure, reauth and options flows, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import AsyncMock, patch

import pytest
import voluptuous as vol
from aiohttp.test_utils import TestClient
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.helpers.data_entry_flow import _BaseFlowManagerView
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    MqttMockHAClient,
)

from custom_components.csocket import flow_checks
from custom_components.csocket.const import (
    CONF_AUTO_ADD,
    CONF_AVAILABILITY_FACTOR,
    CONF_CA_CERT,
    CONF_CLIENT_ID,
    CONF_COMMAND_TIMEOUT,
    CONF_DEV_EUIS,
    CONF_MAX_SOCKETS,
    CONF_QUEUE_TIMEOUT,
    CONF_SERVER,
    CONF_TLS,
    CONF_TLS_VERIFY,
    CONF_TRANSPORT,
    DOMAIN,
    TRANSPORT_BROKER,
    TRANSPORT_HA_MQTT,
)
from custom_components.csocket.flow_schemas import SECTION_ADVANCED
from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    CONF_TENANT_ID,
    DEFAULTS,
    ServerKind,
)
from custom_components.csocket.overlap import filters_overlap

from .broker import Broker, free_port
from .common import PASSWORD, USER
from .pki import Pki

APP_ID = "17c82e96-be03-4f38-aef3-f83d48582d97"
OLD_PASSWORD = "old"  # noqa: S105
ADVANCED = SECTION_ADVANCED
TRANSLATIONS = json.loads(
    (
        Path(__file__).parent.parent
        / "custom_components"
        / "csocket"
        / "translations"
        / "en.json"
    ).read_text(encoding="utf-8")
)


# --- helpers ---


@pytest.fixture
async def mock_setup_entry(hass: HomeAssistant) -> AsyncIterator[AsyncMock]:
    """Keep created entries from loading (the flow is what is tested)."""
    with (
        patch("custom_components.csocket.async_setup_entry", return_value=True) as mock,
        patch("custom_components.csocket.async_unload_entry", return_value=True),
    ):
        yield mock
        # Unload while patched: the real unload expects a running hub.
        for entry in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(entry.entry_id)


def check_translated(result: Any, section_name: str = "config") -> None:
    """Every step, error and abort reason the flow shows has an English text."""
    strings = TRANSLATIONS[section_name]
    if result["type"] is FlowResultType.FORM:
        step = strings["step"][result["step_id"]]
        assert step.get("title") or step.get("description")
        for key in result["data_schema"].schema:
            value = result["data_schema"].schema[key]
            if isinstance(value, section):
                texts = step["sections"][str(key)]
                for inner in value.schema.schema:
                    assert str(inner) in texts["data"], inner
                    assert str(inner) in texts["data_description"], inner
            else:
                assert str(key) in step["data"], key
                assert str(key) in step["data_description"], key
        for error in (result["errors"] or {}).values():
            assert error in strings["error"], error
    elif result["type"] is FlowResultType.ABORT:
        assert result["reason"] in strings["abort"], result["reason"]


def serialized(result: Any) -> list[dict[str, Any]]:
    """The form exactly as the frontend receives it.

    Through the flow views' own serialiser, so it holds whichever schema
    library Home Assistant serialises with (voluptuous, probatio from 2026.9).
    """
    view = _BaseFlowManagerView.__new__(_BaseFlowManagerView)
    fields: list[dict[str, Any]] = view._prepare_result_json(result)["data_schema"]
    return fields


def _frontend_empty(selector: dict[str, Any]) -> object:
    """What the frontend puts into a required field without default."""
    if "boolean" in selector:
        return False
    if "number" in selector:
        return selector["number"].get("min", 0)
    if "select" in selector:
        return selector["select"]["options"][0]
    return ""  # text


def _frontend_initial(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """computeInitialHaFormData of the 2025.4 frontend, for our field types."""
    data: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        suggested = (field.get("description") or {}).get("suggested_value")
        if suggested is not None:
            data[name] = suggested
        elif "default" in field:
            data[name] = field["default"]
        elif field.get("type") == "expandable":
            inner = _frontend_initial(field["schema"])
            if field.get("required") or inner:
                data[name] = inner
        elif field.get("required"):
            data[name] = _frontend_empty(field["selector"])
    return data


def _frontend_filled(fields: list[dict[str, Any]], data: dict[str, Any]) -> bool:
    """The frontend's check before it submits ("Not all required fields ...")."""
    for field in fields:
        value = data.get(field["name"])
        if field.get("required") and value in ("", None):
            return False
        if (
            field.get("type") == "expandable"
            and (field.get("required") or value)
            and not _frontend_filled(field["schema"], value or {})
        ):
            return False
    return True


def form_values(result: Any) -> dict[str, Any]:
    """What the frontend shows and submits unchanged."""
    return _frontend_initial(serialized(result))


async def submit(
    hass: HomeAssistant, result: Any, changes: dict[str, Any] | None = None
) -> Any:
    """Submit a config flow form as the frontend does, with what the user typed."""
    data = form_values(result) | (changes or {})
    assert _frontend_filled(serialized(result), data), "frontend refuses to submit"
    data = {key: value for key, value in data.items() if value not in ("", None)}
    return await hass.config_entries.flow.async_configure(result["flow_id"], data)


def broker_input(
    broker: Broker | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    username: str | None = None,
    password: str | None = None,
    **advanced: Any,
) -> dict[str, Any]:
    """User input of the broker step."""
    data: dict[str, Any] = {
        CONF_HOST: host,
        CONF_PORT: float(port if port is not None else broker.port),  # type: ignore[union-attr]
        ADVANCED: advanced,
    }
    if username is not None:
        data[CONF_USERNAME] = username
    if password is not None:
        data[CONF_PASSWORD] = password
    return data


async def start(
    hass: HomeAssistant, kind: ServerKind = ServerKind.CHIRPSTACK_V4
) -> Any:
    """Run the user step; returns the broker form."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await submit(hass, result, {CONF_SERVER: kind.value})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "broker"
    return result


async def to_application(
    hass: HomeAssistant,
    broker_data: dict[str, Any],
    kind: ServerKind = ServerKind.CHIRPSTACK_V4,
) -> Any:
    """User and broker steps; returns the application form."""
    result = await start(hass, kind)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_data
    )
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == "application", result.get("errors")
    return result


def broker_entry(
    broker: Broker, *, title: str = "ChirpStack v4 · 127.0.0.1", **data: Any
) -> MockConfigEntry:
    """A dedicated-broker ChirpStack v4 entry as the flow creates it."""
    base: dict[str, Any] = {
        CONF_SERVER: ServerKind.CHIRPSTACK_V4.value,
        CONF_TRANSPORT: TRANSPORT_BROKER,
        CONF_HOST: broker.host,
        CONF_PORT: broker.port,
        CONF_USERNAME: "",
        CONF_PASSWORD: "",
        CONF_TLS: False,
        CONF_CA_CERT: "",
        CONF_TLS_VERIFY: True,
        CONF_CLIENT_ID: "csocket-test",
        **DEFAULTS[ServerKind.CHIRPSTACK_V4],
        CONF_APPLICATION_ID: APP_ID,
    }
    base.update(data)
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=flow_checks.entry_unique_id(base),
        data=base,
    )


# --- brokers ---


@pytest.fixture
def acl_broker(tmp_path: Path, allow_loopback: None) -> Iterator[Broker]:
    """Mosquitto whose dynamic-security ACL lets USER subscribe to allowed/# only.

    Mosquitto's acl_file never refuses a SUBSCRIBE (it filters delivery); the
    dynamic security plugin answers a denied subscription with SUBACK 0x80.
    """
    plugin = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
    if not plugin.exists():  # pragma: no cover - depends on the mosquitto package
        pytest.skip("mosquitto dynamic security plugin not installed")
    config = tmp_path / "dynsec.json"
    subprocess.run(  # noqa: S603
        ["mosquitto_ctrl", "dynsec", "init", str(config), USER, PASSWORD],  # noqa: S607
        check=True,
        capture_output=True,
    )
    dynsec = json.loads(config.read_text())
    dynsec["roles"][0]["acls"] = [
        {"acltype": "subscribePattern", "topic": "allowed/#", "allow": True}
    ]
    config.write_text(json.dumps(dynsec))
    instance = Broker(
        tmp_path / "acl",
        extra_config=(
            f"allow_anonymous false\nplugin {plugin}\nplugin_opt_config_file {config}\n"
        ),
    )
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def tls_broker(
    tmp_path: Path, allow_loopback: None, pki: Pki
) -> Iterator[dict[str, Broker]]:
    """TLS brokers: one with a certificate for 127.0.0.1, one for another name."""
    brokers = {}
    for name in ("ip", "other"):
        cert, key = pki.server_files(name)
        brokers[name] = Broker(
            tmp_path / f"tls-{name}",
            extra_config=(
                f"cafile {pki.directory / 'ca.crt'}\ncertfile {cert}\nkeyfile {key}\n"
            ),
        )
        brokers[name].start()
    yield brokers
    for instance in brokers.values():
        instance.stop()


# --- user step ---


async def test_user_form_without_ha_mqtt(hass: HomeAssistant) -> None:
    """Without a loaded MQTT integration only the dedicated broker is offered."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert list(result["data_schema"].schema) == [CONF_SERVER]
    check_translated(result)
    options = result["data_schema"].schema[CONF_SERVER].config["options"]
    assert options == [kind.value for kind in ServerKind]
    for option in options:
        assert option in TRANSLATIONS["selector"]["network_server"]["options"]


async def test_full_flow_creates_entry(
    hass: HomeAssistant, broker: Broker, mock_setup_entry: AsyncMock
) -> None:
    """User → broker → application; data flat, options empty, unique id and title."""
    result = await start(hass)
    check_translated(result)
    values = form_values(result)
    assert values[CONF_PORT] == 1883
    assert values[ADVANCED][CONF_TLS] is False
    assert values[ADVANCED][CONF_TLS_VERIFY] is True
    client_id = values[ADVANCED][CONF_CLIENT_ID]
    assert client_id.startswith("csocket-")

    # The generated client id is kept when the field is left blank.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_input(broker)
    )
    assert result["step_id"] == "application"
    assert result["description_placeholders"]["server"] == "ChirpStack v4"
    check_translated(result)
    values = form_values(result)
    # A blank application id (all applications) is not pre-filled.
    defaults = DEFAULTS[ServerKind.CHIRPSTACK_V4]
    assert values == {key: value for key, value in defaults.items() if value != ""}
    values[CONF_APPLICATION_ID] = f"  {APP_ID.upper()} "
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "ChirpStack v4 · 127.0.0.1"
    assert result["options"] == {}
    entry = result["result"]
    assert entry.unique_id == f"127.0.0.1:{broker.port}/chirpstack_v4/{APP_ID}"
    assert entry.data == {
        CONF_SERVER: "chirpstack_v4",
        CONF_TRANSPORT: TRANSPORT_BROKER,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: broker.port,
        CONF_USERNAME: "",
        CONF_PASSWORD: "",
        CONF_TLS: False,
        CONF_CA_CERT: "",
        CONF_TLS_VERIFY: True,
        CONF_CLIENT_ID: client_id,
        **DEFAULTS[ServerKind.CHIRPSTACK_V4],
        CONF_APPLICATION_ID: APP_ID.upper(),
    }
    assert mock_setup_entry.call_count == 1


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("kind", "application"),
    [
        (ServerKind.CHIRPSTACK_V4, "+"),
        (ServerKind.CHIRPSTACK_V3, "+"),
        (ServerKind.TTS_V3, "+@ttn"),
        (ServerKind.MILESIGHT, "csocket/uplink/#"),
    ],
)
async def test_each_server_with_defaults(
    hass: HomeAssistant, broker: Broker, kind: ServerKind, application: str
) -> None:
    """Every network server's defaults subscribe and are stored flat."""
    result = await to_application(
        hass, broker_input(broker, client_id="my-client"), kind
    )
    check_translated(result)
    result = await submit(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == f"127.0.0.1:{broker.port}/{kind.value}/{application}"
    assert entry.data[CONF_CLIENT_ID] == "my-client"
    for key, default in DEFAULTS[kind].items():
        assert entry.data[key] == default
    assert entry.title.endswith(" · 127.0.0.1")


@pytest.mark.usefixtures("mock_setup_entry")
async def test_tts_tenant_and_blank_topics(hass: HomeAssistant, broker: Broker) -> None:
    """A blank tenant (TTS open source) is kept; the tenant is in the unique id."""
    result = await to_application(hass, broker_input(broker), ServerKind.TTS_V3)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_APPLICATION_ID: "my-app", CONF_F_PORT: 85.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id.endswith("/tts_v3/my-app")
    assert result["data"][CONF_TENANT_ID] == ""

    result = await to_application(hass, broker_input(broker), ServerKind.MILESIGHT)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_F_PORT: 86.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # A blank topic falls back to the server's default topic.
    assert result["data"] == result["data"] | {
        **DEFAULTS[ServerKind.MILESIGHT],
        CONF_F_PORT: 86,
    }


# --- broker step errors ---


async def test_invalid_host(hass: HomeAssistant) -> None:
    """A blank host is refused before connecting."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_input(host="   ", port=1883)
    )
    assert result["errors"] == {CONF_HOST: "invalid_host"}
    check_translated(result)


async def test_cannot_connect_then_recover(hass: HomeAssistant, broker: Broker) -> None:
    """A closed port gives cannot_connect on the broker form; fixing it goes on."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        broker_input(port=free_port(), username="u", password=OLD_PASSWORD),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "broker"
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"]["error"]
    check_translated(result)
    # What was typed is shown again, except the password (never sent back).
    values = form_values(result)
    assert values[CONF_USERNAME] == "u"
    assert CONF_PASSWORD not in values

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_input(broker)
    )
    assert result["step_id"] == "application"


async def test_invalid_auth(hass: HomeAssistant, auth_broker: Broker) -> None:
    """Wrong or missing credentials give invalid_auth; the right ones pass."""
    result = await start(hass)
    for credentials in ({}, {"username": USER, "password": "wrong"}):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], broker_input(auth_broker, **credentials)
        )
        assert result["errors"] == {"base": "invalid_auth"}, credentials
        check_translated(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_input(auth_broker, username=USER, password=PASSWORD)
    )
    assert result["step_id"] == "application"


async def test_unexpected_error(hass: HomeAssistant) -> None:
    """Anything unexpected is logged and shown as unknown."""
    result = await start(hass)
    with patch.object(flow_checks, "async_probe", side_effect=RuntimeError("boom")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], broker_input(port=1883)
        )
    assert result["errors"] == {"base": "unknown"}
    check_translated(result)


# --- TLS ---


@pytest.mark.usefixtures("mock_setup_entry")
async def test_tls_with_ca(
    hass: HomeAssistant, tls_broker: dict[str, Broker], pki: Pki
) -> None:
    """A TLS broker with a private CA connects when the CA is given."""
    result = await to_application(
        hass, broker_input(tls_broker["ip"], tls=True, ca_cert=pki.ca_pem)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TLS] is True
    assert result["data"][CONF_CA_CERT] == pki.ca_pem.strip()
    assert result["data"][CONF_TLS_VERIFY] is True


@pytest.mark.parametrize(
    ("broker_name", "ca", "verify", "error"),
    [
        ("ip", None, True, "tls_failed"),  # system CAs do not know ours
        ("ip", "other", True, "tls_failed"),  # wrong CA
        ("other", "ca", True, "tls_failed"),  # certificate for another name
        ("ip", "garbage", True, "invalid_ca"),
        (
            "ip",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            True,
            "invalid_ca",
        ),
        ("other", "ca", False, None),  # hostname verification off
    ],
)
async def test_tls_errors(
    hass: HomeAssistant,
    tls_broker: dict[str, Broker],
    pki: Pki,
    *,
    broker_name: str,
    ca: str | None,
    verify: bool,
    error: str | None,
) -> None:
    """TLS failures are reported on the broker form."""
    ca_pem = {"ca": pki.ca_pem, "other": pki.other_ca_pem}.get(ca or "", ca)
    advanced: dict[str, Any] = {"tls": True, "tls_verify_hostname": verify}
    if ca_pem is not None:
        advanced["ca_cert"] = ca_pem
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_input(tls_broker[broker_name], **advanced)
    )
    if error is None:
        assert result["step_id"] == "application"
        return
    assert result["step_id"] == "broker"
    assert result["errors"] == {"base": error}
    check_translated(result)
    if error == "tls_failed":
        assert "certificate" in result["description_placeholders"]["error"].lower()
    # The TLS section opens when TLS is on.
    assert result["data_schema"].schema[ADVANCED].options["collapsed"] is False


async def test_plain_client_on_tls_port(
    hass: HomeAssistant, tls_broker: dict[str, Broker]
) -> None:
    """TLS off against a TLS listener: no CONNACK, the connect times out."""
    result = await start(hass)
    with patch("custom_components.csocket.connection.CONNECT_TIMEOUT", 0.3):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], broker_input(tls_broker["ip"])
        )
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"]["error"]


# --- application step ---


async def test_invalid_setting(hass: HomeAssistant, broker: Broker) -> None:
    """The adapter's validation is shown on the form."""
    result = await to_application(hass, broker_input(broker))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_APPLICATION_ID: "not-a-uuid", CONF_F_PORT: 85}
    )
    assert result["step_id"] == "application"
    assert result["errors"] == {"base": "invalid_setting"}
    assert "UUID" in result["description_placeholders"]["error"]
    check_translated(result)
    # The typed value is shown again.
    assert form_values(result)[CONF_APPLICATION_ID] == "not-a-uuid"


async def test_not_authorized(hass: HomeAssistant, acl_broker: Broker) -> None:
    """A subscription refused by the broker's ACL names the topic."""
    result = await to_application(
        hass, broker_input(acl_broker, username=USER, password=PASSWORD)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_APPLICATION_ID: APP_ID, CONF_F_PORT: 85}
    )
    assert result["step_id"] == "application"
    assert result["errors"] == {"base": "not_authorized"}
    assert result["description_placeholders"]["topic"] == (
        f"application/{APP_ID}/device/+/event/up"
    )
    check_translated(result)


async def test_broker_gone_before_application(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The final probe reports a broker that went away after the broker step."""
    result = await to_application(hass, broker_input(broker))
    broker.stop()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    assert result["step_id"] == "application"
    assert result["errors"] == {"base": "cannot_connect"}


async def test_already_configured(hass: HomeAssistant, broker: Broker) -> None:
    """The same application on the same broker cannot be added twice."""
    broker_entry(broker).add_to_hass(hass)
    result = await to_application(hass, broker_input(broker))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_APPLICATION_ID: APP_ID, CONF_F_PORT: 85}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    check_translated(result)


OTHER_APP_ID = "0b1b0b5e-6c0d-4a47-9e5b-3f4b8a3c1d2e"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_overlapping_applications_refused(
    hass: HomeAssistant, broker: Broker
) -> None:
    """ "All applications" and a specific one on one broker would share sockets."""
    broker_entry(broker, title="All sockets", **{CONF_APPLICATION_ID: ""}).add_to_hass(
        hass
    )
    result = await to_application(hass, broker_input(broker))
    result = await submit(hass, result, {CONF_APPLICATION_ID: APP_ID})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "overlapping_entry"}
    assert result["description_placeholders"]["entry"] == "All sockets"
    check_translated(result)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_wildcard_over_specific_refused_distinct_allowed(
    hass: HomeAssistant, broker: Broker
) -> None:
    """A wildcard entry next to a specific one is refused; another app is not."""
    broker_entry(broker, title="Kitchen").add_to_hass(hass)
    result = await to_application(hass, broker_input(broker))
    result = await submit(hass, result, {CONF_APPLICATION_ID: ""})
    assert result["errors"] == {"base": "overlapping_entry"}
    assert result["description_placeholders"]["entry"] == "Kitchen"
    result = await submit(hass, result, {CONF_APPLICATION_ID: OTHER_APP_ID})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mock_setup_entry")
async def test_ha_mqtt_over_dedicated_connection_refused(
    hass: HomeAssistant, ha_mqtt: MqttMockHAClient
) -> None:
    """HA's MQTT and a dedicated connection to the same broker would collide."""
    mqtt_data = hass.config_entries.async_entries("mqtt")[0].data
    # The same broker, spelled in capitals: host names are case-insensitive.
    same_broker = SimpleNamespace(
        host=str(mqtt_data["broker"]).upper(), port=mqtt_data.get(CONF_PORT, 1883)
    )
    dedicated = broker_entry(cast("Broker", same_broker), title="Dedicated")
    dedicated.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_SERVER: ServerKind.CHIRPSTACK_V4.value,
            CONF_TRANSPORT: TRANSPORT_HA_MQTT,
        },
    )
    result = await submit(hass, result, {CONF_APPLICATION_ID: APP_ID})
    assert result["errors"] == {"base": "overlapping_entry"}
    assert result["description_placeholders"]["entry"] == "Dedicated"


# --- Home Assistant's MQTT ---


@pytest.mark.usefixtures("mock_setup_entry")
async def test_ha_mqtt_transport(
    hass: HomeAssistant, ha_mqtt: MqttMockHAClient
) -> None:
    """With the MQTT integration loaded, it can be the transport (no broker step)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert list(result["data_schema"].schema) == [CONF_SERVER, CONF_TRANSPORT]
    check_translated(result)
    for option in result["data_schema"].schema[CONF_TRANSPORT].config["options"]:
        assert option in TRANSLATIONS["selector"]["transport"]["options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_SERVER: ServerKind.TTS_V3.value, CONF_TRANSPORT: TRANSPORT_HA_MQTT},
    )
    assert result["step_id"] == "application"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result) | {CONF_APPLICATION_ID: "plugs"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "The Things Stack v3 (TTN) · Home Assistant MQTT"
    assert result["result"].unique_id == "mqtt/tts_v3/plugs@ttn"
    assert result["data"] == {
        CONF_SERVER: "tts_v3",
        CONF_TRANSPORT: TRANSPORT_HA_MQTT,
        **DEFAULTS[ServerKind.TTS_V3],
        CONF_APPLICATION_ID: "plugs",
    }


def _ha_mqtt_entry() -> MockConfigEntry:
    data = {
        CONF_SERVER: ServerKind.CHIRPSTACK_V3.value,
        CONF_TRANSPORT: TRANSPORT_HA_MQTT,
        **DEFAULTS[ServerKind.CHIRPSTACK_V3],
        CONF_APPLICATION_ID: "3",
    }
    return MockConfigEntry(
        domain=DOMAIN,
        title="ChirpStack v3 · Home Assistant MQTT",
        unique_id=flow_checks.entry_unique_id(data),
        data=data,
    )


async def test_reconfigure_ha_mqtt_unavailable(hass: HomeAssistant) -> None:
    """HA-MQTT entries need the MQTT integration loaded to be (re)configured."""
    entry = _ha_mqtt_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "application"
    assert form_values(result)[CONF_APPLICATION_ID] == "3"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    assert result["errors"] == {"base": "mqtt_unavailable"}
    check_translated(result)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_ha_mqtt(
    hass: HomeAssistant, ha_mqtt: MqttMockHAClient
) -> None:
    """Reconfigure of an HA-MQTT entry edits the application only."""
    entry = _ha_mqtt_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form_values(result) | {CONF_APPLICATION_ID: "7", "topic_style": "legacy"},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    check_translated(result)
    assert entry.data["topic_style"] == "legacy"
    assert entry.unique_id == "mqtt/chirpstack_v3/7"


# --- what the browser shows and submits ---


async def test_frontend_host_and_port_only(hass: HomeAssistant, broker: Broker) -> None:
    """A user who types only host and port gets through with the shown defaults."""
    result = await start(hass)
    shown = form_values(result)
    # Every toggle shows its real default and the suggested client id is filled in.
    assert shown[ADVANCED][CONF_TLS] is False
    assert shown[ADVANCED][CONF_TLS_VERIFY] is True
    client_id = shown[ADVANCED][CONF_CLIENT_ID]
    assert client_id.startswith("csocket-")
    assert CONF_PASSWORD not in shown

    result = await submit(
        hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: broker.port}
    )
    assert result["step_id"] == "application", result["errors"]
    with patch("custom_components.csocket.async_setup_entry", return_value=True):
        result = await submit(hass, result)
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CLIENT_ID] == client_id
    assert result["data"][CONF_TLS] is False
    assert result["data"][CONF_TLS_VERIFY] is True


async def test_failed_broker_step_keeps_password_in_browser(
    hass: HomeAssistant, auth_broker: Broker
) -> None:
    """A refused login shows the form again without the typed password in it."""
    result = await start(hass)
    result = await submit(
        hass,
        result,
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: auth_broker.port,
            CONF_USERNAME: USER,
            CONF_PASSWORD: "typed-secret",
        },
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert "typed-secret" not in json.dumps(serialized(result))
    assert form_values(result)[CONF_USERNAME] == USER


async def test_password_help_per_step(hass: HomeAssistant, broker: Broker) -> None:
    """Only reconfigure says a blank password keeps the stored one."""
    steps = TRANSLATIONS["config"]["step"]
    keep = "keep the stored password"
    assert keep not in steps["broker"]["data_description"][CONF_PASSWORD]
    assert keep in steps["reconfigure"]["data_description"][CONF_PASSWORD]
    assert steps["broker"]["sections"] == steps["reconfigure"]["sections"]
    result = await start(hass)
    assert result["step_id"] == "broker"
    entry = broker_entry(broker)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    check_translated(result)


# --- reconfigure ---


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_broker(
    hass: HomeAssistant, broker: Broker, auth_broker: Broker
) -> None:
    """Move an entry to another broker; a blank password keeps the stored one."""
    entry = broker_entry(auth_broker, username=USER, password=PASSWORD)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    check_translated(result)
    values = form_values(result)
    assert CONF_PASSWORD not in values  # never sent to the frontend
    assert values[CONF_USERNAME] == USER
    assert values[CONF_PORT] == auth_broker.port
    assert values[ADVANCED][CONF_CLIENT_ID] == "csocket-test"

    # Blank password: the stored one is used for the test connection.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    assert result["step_id"] == "application", result["errors"]
    assert form_values(result)[CONF_APPLICATION_ID] == APP_ID

    hass.config_entries.flow.async_abort(result["flow_id"])

    # Now move to the anonymous broker: clearing the username drops the password.
    result = await entry.start_reconfigure_flow(hass)
    values = form_values(result)
    del values[CONF_USERNAME]
    values[CONF_PORT] = float(broker.port)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == broker.port
    assert entry.data[CONF_USERNAME] == ""
    assert entry.data[CONF_PASSWORD] == ""
    assert entry.unique_id == f"127.0.0.1:{broker.port}/chirpstack_v4/{APP_ID}"
    assert entry.title == "ChirpStack v4 · 127.0.0.1"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_keeps_password_and_custom_title(
    hass: HomeAssistant, auth_broker: Broker
) -> None:
    """A renamed entry keeps its title; a blank password keeps the stored one."""
    entry = broker_entry(
        auth_broker, title="Garage plugs", username=USER, password=PASSWORD
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result) | {CONF_F_PORT: 86.0}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.title == "Garage plugs"
    assert entry.data[CONF_PASSWORD] == PASSWORD
    assert entry.data[CONF_F_PORT] == 86


async def test_reconfigure_onto_other_entry(
    hass: HomeAssistant, broker: Broker
) -> None:
    """Reconfiguring into another entry's application aborts."""
    broker_entry(broker).add_to_hass(hass)
    other_app = "0f7f1f0e-0000-4000-8000-000000000001"
    entry = broker_entry(broker, **{CONF_APPLICATION_ID: other_app})
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result) | {CONF_APPLICATION_ID: APP_ID}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_APPLICATION_ID] == other_app


# --- reauth ---


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth(hass: HomeAssistant, auth_broker: Broker) -> None:
    """New credentials are tested with the real subscriptions, then stored."""
    entry = broker_entry(auth_broker, username=USER, password=OLD_PASSWORD)
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {
        "host": "127.0.0.1",
        "port": str(auth_broker.port),
        "name": entry.title,
    }
    check_translated(result)
    assert form_values(result) == {CONF_USERNAME: USER}
    assert _frontend_filled(serialized(result), form_values(result))

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: USER, CONF_PASSWORD: "still wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    check_translated(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: f" {USER} ", CONF_PASSWORD: PASSWORD}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    check_translated(result)
    assert entry.data[CONF_USERNAME] == USER
    assert entry.data[CONF_PASSWORD] == PASSWORD


async def test_reauth_anonymous_refused(
    hass: HomeAssistant, auth_broker: Broker
) -> None:
    """Clearing the username means anonymous, which this broker refuses."""
    entry = broker_entry(auth_broker, username=USER, password=OLD_PASSWORD)
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "ignored without a user"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert entry.data[CONF_PASSWORD] == OLD_PASSWORD


# --- options ---


async def test_options(hass: HomeAssistant) -> None:
    """Defaults, DevEUI validation and the normalised, deduplicated list."""
    entry = MockConfigEntry(domain=DOMAIN, data={}, options={})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    check_translated(result, "options")
    assert form_values(result) == {
        CONF_AVAILABILITY_FACTOR: 2.5,
        CONF_COMMAND_TIMEOUT: 30,
        CONF_QUEUE_TIMEOUT: 300,
        CONF_AUTO_ADD: True,
        CONF_MAX_SOCKETS: 500,
    }
    assert _frontend_filled(serialized(result), form_values(result))

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_AVAILABILITY_FACTOR: 3.0,
            CONF_COMMAND_TIMEOUT: 60.0,
            CONF_AUTO_ADD: False,
            CONF_DEV_EUIS: "24e124148b123456, 24e124148b12345x",
        },
    )
    assert result["errors"] == {CONF_DEV_EUIS: "invalid_dev_eui"}
    assert result["description_placeholders"] == {"dev_eui": "24e124148b12345x"}
    check_translated(result, "options")
    # What was typed stays in the form.
    assert form_values(result)[CONF_COMMAND_TIMEOUT] == 60.0

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_AVAILABILITY_FACTOR: 3.0,
            CONF_COMMAND_TIMEOUT: 60.0,
            CONF_QUEUE_TIMEOUT: 600.0,
            CONF_AUTO_ADD: False,
            CONF_DEV_EUIS: (
                "24E124148B123456,\n 24:e1:24:14:8b:65:43:21;24e124148b123456 "
            ),
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_AVAILABILITY_FACTOR: 3.0,
        CONF_COMMAND_TIMEOUT: 60,
        CONF_QUEUE_TIMEOUT: 600,
        CONF_AUTO_ADD: False,
        CONF_MAX_SOCKETS: 500,
        CONF_DEV_EUIS: ["24e124148b123456", "24e124148b654321"],
    }

    # The stored list is shown one per line; an empty field clears it.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert form_values(result)[CONF_DEV_EUIS] == "24e124148b123456\n24e124148b654321"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_AVAILABILITY_FACTOR: 1.0, CONF_COMMAND_TIMEOUT: 5, CONF_AUTO_ADD: True},
    )
    assert entry.options[CONF_DEV_EUIS] == []


@pytest.mark.parametrize(
    "value", [1.0, 10.0, 5, 300], ids=["factor-min", "factor-max", "t-min", "t-max"]
)
async def test_options_ranges(hass: HomeAssistant, value: float) -> None:
    """The selectors enforce the ranges (1-10, 5-300 s)."""
    entry = MockConfigEntry(domain=DOMAIN, data={}, options={})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    key = CONF_AVAILABILITY_FACTOR if isinstance(value, float) else CONF_COMMAND_TIMEOUT
    schema = result["data_schema"]
    schema({**form_values(result), key: value})
    with pytest.raises(vol.Invalid):
        schema({**form_values(result), key: value * 2 if value > 5 else value - 1})


# --- schema and end to end ---


async def _frontend_form(client: TestClient, path: str) -> dict[str, Any]:
    """A flow's current form as the frontend receives it (REST flow API)."""
    response = await client.get(path)
    assert response.status == HTTPStatus.OK, await response.text()
    form: dict[str, Any] = await response.json()
    assert form["type"] == "form"
    for field in form["data_schema"]:
        # Every field is a selector, a plain type, or a section of them.
        assert "selector" in field or "type" in field, field
    return form


async def test_forms_serialize(
    hass: HomeAssistant, broker: Broker, hass_client: ClientSessionGenerator
) -> None:
    """The forms serialise for the frontend (selectors, the collapsed section).

    Through the REST flow API the frontend uses, so the check holds whichever
    schema library Home Assistant serialises with (probatio from 2026.9).
    """
    assert await async_setup_component(hass, "config", {})
    client = await hass_client()
    result = await start(hass)
    flow = f"/api/config/config_entries/flow/{result['flow_id']}"
    form = await _frontend_form(client, flow)
    assert form["step_id"] == "broker"
    advanced = next(field for field in form["data_schema"] if field["name"] == ADVANCED)
    assert advanced["type"] == "expandable"
    assert advanced["expanded"] is False
    assert {field["name"] for field in advanced["schema"]} >= {CONF_CLIENT_ID}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], broker_input(broker)
    )
    form = await _frontend_form(client, flow)
    assert form["step_id"] == "application"
    assert CONF_APPLICATION_ID in {field["name"] for field in form["data_schema"]}

    entry = MockConfigEntry(domain=DOMAIN, data={}, options={})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    form = await _frontend_form(
        client, f"/api/config/config_entries/options/flow/{result['flow_id']}"
    )
    assert CONF_AVAILABILITY_FACTOR in {field["name"] for field in form["data_schema"]}


async def test_created_entry_loads(hass: HomeAssistant, broker: Broker) -> None:
    """End to end: the entry the flow creates really connects and loads."""
    result = await to_application(hass, broker_input(broker))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result) | {CONF_APPLICATION_ID: APP_ID}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_reconfigure_new_client_id_ends_old_session(
    hass: HomeAssistant, broker: Broker
) -> None:
    """The old persistent session is dropped, so the broker stops queuing for it."""
    entry = broker_entry(broker)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await entry.start_reconfigure_flow(hass)
    values = form_values(result)
    values[ADVANCED][CONF_CLIENT_ID] = "csocket-renamed"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_values(result)
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_CLIENT_ID] == "csocket-renamed"

    # An uplink now must not be queued for the old client id.
    await broker.publish(
        f"application/{APP_ID}/device/24e124148b123456/event/up", b"{}"
    )
    async with broker.client(identifier="csocket-test", clean_session=False) as old:
        # A queued message is delivered at connect, before this sentinel.
        await old.subscribe("csocket-test/sentinel", qos=1)
        await old.publish("csocket-test/sentinel", b"sentinel", qos=1)
        received: list[str] = []
        async with asyncio.timeout(5):
            async for message in old.messages:
                received.append(message.topic.value)
                if message.topic.value == "csocket-test/sentinel":
                    break
    assert received == ["csocket-test/sentinel"]


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("application/+/device/+/event/up", "application/a/device/+/event/up", True),
        ("application/a/device/+/event/up", "application/b/device/+/event/up", False),
        ("csocket/uplink/#", "csocket/uplink", True),
        ("csocket/uplink/#", "csocket/uplink/gw1", True),
        ("csocket/+", "csocket", False),
        ("v3/+/devices/+/up", "v3/plugs@ttn/devices/+/down/ack", False),
    ],
)
def test_filters_overlap(first: str, second: str, overlap: bool) -> None:
    """Two MQTT filters overlap when one topic can match both."""
    assert filters_overlap(first, second) is overlap
    assert filters_overlap(second, first) is overlap
