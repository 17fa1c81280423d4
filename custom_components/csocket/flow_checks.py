"""What the config and options flows make of the user's answers.

Parsing and validating input, the entry's identity (unique id and title), and
the connection test, which connects and subscribes exactly like the
integration will before anything is saved.
"""

from __future__ import annotations

import logging
import re
import ssl
import uuid
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME

from .connection import (
    BrokerSettings,
    InvalidAuth,
    NotAuthorized,
    SubscriptionSilent,
    TlsFailure,
    TransportError,
    async_probe,
)
from .const import (
    CONF_CA_CERT,
    CONF_CLIENT_ID,
    CONF_SERVER,
    CONF_TLS,
    CONF_TLS_VERIFY,
    CONF_TRANSPORT,
    DEFAULT_PORT,
    MQTT_DOMAIN,
    TRANSPORT_HA_MQTT,
)
from .flow_schemas import CHOICES, SECTION_ADVANCED
from .network_servers import (
    ADAPTERS,
    CONF_APPLICATION_ID,
    CONF_COMMAND_TOPIC,
    CONF_DOWNLINK_TOPIC,
    CONF_EVENT_TOPIC,
    CONF_F_PORT,
    CONF_TENANT_ID,
    CONF_UPLINK_TOPIC,
    DEFAULTS,
    OPTIONS_FOR_KIND,
    ServerKind,
    Subscription,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import HomeAssistant

_LOGGER = logging.getLogger(__name__)

# Entry titles are data, not UI strings: they stay in English.
SERVER_LABELS: Final[dict[ServerKind, str]] = {
    ServerKind.CHIRPSTACK_V4: "ChirpStack v4",
    ServerKind.CHIRPSTACK_V3: "ChirpStack v3",
    ServerKind.TTS_V3: "The Things Stack v3 (TTN)",
    ServerKind.MILESIGHT: "Milesight / Linovision gateway",
}

# Blank topic fields fall back to the server's default topic; a blank
# application or tenant id is meaningful (all applications / no tenant).
_TOPIC_KEYS: Final = frozenset(
    {CONF_EVENT_TOPIC, CONF_COMMAND_TOPIC, CONF_UPLINK_TOPIC, CONF_DOWNLINK_TOPIC}
)

_EUI_SEPARATORS: Final = re.compile(r"[\s,;]+")
_EUI: Final = re.compile(r"[0-9a-f]{16}")


def mqtt_loaded(hass: HomeAssistant) -> bool:
    """Whether Home Assistant's MQTT integration has a loaded entry."""
    return bool(hass.config_entries.async_loaded_entries(MQTT_DOMAIN))


def ca_is_valid(pem: str) -> bool:
    """Whether OpenSSL can load the PEM text as CA certificates."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError, TypeError):
        return False
    return True


def parse_broker(
    user_input: Mapping[str, Any], client_id: str, stored_password: str
) -> dict[str, Any]:
    """The broker settings from the form.

    A blank client id is client_id; a blank password with a username is
    stored_password (the reconfigured entry's, else "").
    """
    advanced: Mapping[str, Any] = user_input.get(SECTION_ADVANCED, {})
    username = str(user_input.get(CONF_USERNAME) or "").strip()
    password = str(user_input.get(CONF_PASSWORD) or "")
    if not password and username:
        # Reconfigure never shows the stored password: blank keeps it.
        password = stored_password
    return {
        CONF_HOST: str(user_input.get(CONF_HOST) or "").strip(),
        CONF_PORT: int(user_input.get(CONF_PORT, DEFAULT_PORT)),
        CONF_USERNAME: username,
        CONF_PASSWORD: password if username else "",
        CONF_TLS: bool(advanced.get(CONF_TLS, False)),
        CONF_CA_CERT: str(advanced.get(CONF_CA_CERT) or "").strip(),
        CONF_TLS_VERIFY: bool(advanced.get(CONF_TLS_VERIFY, True)),
        CONF_CLIENT_ID: str(advanced.get(CONF_CLIENT_ID) or "").strip() or client_id,
    }


def parse_application(
    kind: ServerKind, user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """The application settings of kind from the form, blanks filled in."""
    defaults = DEFAULTS[kind]
    application: dict[str, Any] = {}
    for key in OPTIONS_FOR_KIND[kind]:
        value = user_input.get(key)
        if key == CONF_F_PORT:
            application[key] = int(value if value is not None else defaults[key])
        elif key in CHOICES:
            application[key] = str(value or defaults[key])
        else:
            text = str(value or "").strip()
            application[key] = text or (
                str(defaults[key]) if key in _TOPIC_KEYS else ""
            )
    return application


def _application_key(kind: ServerKind, data: Mapping[str, Any]) -> str:
    """What the entry listens to on its broker, for the unique id."""
    if kind is ServerKind.MILESIGHT:
        return str(data.get(CONF_UPLINK_TOPIC) or "").strip()
    application = str(data.get(CONF_APPLICATION_ID) or "").strip() or "+"
    if kind is ServerKind.CHIRPSTACK_V4 and application != "+":
        application = str(uuid.UUID(application))  # the adapter accepted it
    tenant = str(data.get(CONF_TENANT_ID) or "").strip()
    if kind is ServerKind.TTS_V3 and tenant:
        application = f"{application}@{tenant}"
    return application


def entry_unique_id(data: Mapping[str, Any]) -> str:
    """Broker address + network server + application (+ tenant)."""
    kind = ServerKind(data[CONF_SERVER])
    if data[CONF_TRANSPORT] == TRANSPORT_HA_MQTT:
        location = MQTT_DOMAIN
    else:
        location = f"{str(data[CONF_HOST]).lower()}:{data[CONF_PORT]}"
    return f"{location}/{kind.value}/{_application_key(kind, data)}"


def entry_title(data: Mapping[str, Any]) -> str:
    """E.g. "ChirpStack v4 · 192.168.1.10"."""
    label = SERVER_LABELS[ServerKind(data[CONF_SERVER])]
    if data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
        return f"{label} · Home Assistant MQTT"
    return f"{label} · {data.get(CONF_HOST, '')}"


def parse_dev_euis(text: str) -> tuple[list[str], str | None]:
    """Normalised DevEUIs, or the first token that is not one."""
    euis: list[str] = []
    for token in _EUI_SEPARATORS.split(text.strip()):
        if not token:
            continue
        eui = token.lower().replace(":", "").replace("-", "")
        if not _EUI.fullmatch(eui):
            return [], token
        if eui not in euis:
            euis.append(eui)
    return euis, None


async def async_test_connection(
    hass: HomeAssistant, data: Mapping[str, Any], subscriptions: list[Subscription]
) -> tuple[str | None, dict[str, str]]:
    """Connect (and subscribe) as the integration will: error key and placeholders."""
    if data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
        return (None, {}) if mqtt_loaded(hass) else ("mqtt_unavailable", {})
    error: str | None = None
    placeholders: dict[str, str] = {}
    try:
        await async_probe(
            hass,
            BrokerSettings.from_data(data),
            subscriptions,
            loopback=ADAPTERS[ServerKind(data[CONF_SERVER])].loopback_probe,
        )
    except InvalidAuth:
        error = "invalid_auth"
    except TlsFailure as err:
        error, placeholders = "tls_failed", {"error": str(err)}
    except NotAuthorized as err:
        error, placeholders = "not_authorized", {"topic": err.topic}
    except SubscriptionSilent as err:
        error, placeholders = "subscription_silent", {"topic": err.topic}
    except TransportError as err:
        error, placeholders = "cannot_connect", {"error": str(err)}
    except Exception:
        _LOGGER.exception("Unexpected error while testing the MQTT broker")
        error = "unknown"
    return error, placeholders
