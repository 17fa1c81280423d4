"""The forms of the config and options flows: their schemas and selectors.

What each form shows and pre-fills; what the flows make of the answers is in
flow_checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .compat import vol
from .const import (
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
    DEFAULT_PORT,
    MAX_SOCKETS_LIMIT,
    TRANSPORT_BROKER,
    TRANSPORT_HA_MQTT,
)
from .network_servers import (
    CONF_F_PORT,
    CONF_MARSHALER,
    CONF_TOPIC_STYLE,
    DEFAULTS,
    MARSHALERS,
    MAX_F_PORT,
    MIN_F_PORT,
    OPTIONS_FOR_KIND,
    TOPIC_STYLES,
    ServerKind,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

# The collapsible section of the broker step holding TLS and the client id.
SECTION_ADVANCED: Final = "advanced"

# The application settings picked from a list, and their options.
CHOICES: Final[dict[str, tuple[str, ...]]] = {
    CONF_TOPIC_STYLE: tuple(TOPIC_STYLES),
    CONF_MARSHALER: tuple(MARSHALERS),
}

_TEXT: Final = TextSelector()
_PASSWORD: Final = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)
_USERNAME: Final = TextSelector(TextSelectorConfig(autocomplete="username"))
_MULTILINE: Final = TextSelector(TextSelectorConfig(multiline=True))
_PORT: Final = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)
_F_PORT: Final = NumberSelector(
    NumberSelectorConfig(
        min=MIN_F_PORT, max=MAX_F_PORT, step=1, mode=NumberSelectorMode.BOX
    )
)


def _seconds(low: int, high: int) -> NumberSelector:
    """A whole number of seconds typed in a box."""
    return NumberSelector(
        NumberSelectorConfig(
            min=low,
            max=high,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement="s",
        )
    )


def _suggest(value: object) -> dict[str, object] | None:
    """Marker description pre-filling a field (None leaves it empty)."""
    if value is None or value == "":
        return None
    return {"suggested_value": value}


def user_schema(mqtt_available: bool) -> vol.Schema:
    """The network server, and the transport when HA's MQTT is there to pick."""
    fields: dict[vol.Marker, Any] = {
        vol.Required(CONF_SERVER, default=ServerKind.CHIRPSTACK_V4.value): (
            SelectSelector(
                SelectSelectorConfig(
                    options=[kind.value for kind in ServerKind],
                    mode=SelectSelectorMode.LIST,
                    translation_key="network_server",
                )
            )
        )
    }
    if mqtt_available:
        fields[vol.Required(CONF_TRANSPORT, default=TRANSPORT_BROKER)] = SelectSelector(
            SelectSelectorConfig(
                options=[TRANSPORT_BROKER, TRANSPORT_HA_MQTT],
                mode=SelectSelectorMode.LIST,
                translation_key="transport",
            )
        )
    return vol.Schema(fields)


def broker_schema(values: Mapping[str, Any]) -> vol.Schema:
    """Broker address, credentials and, in a section, TLS and the client id."""
    tls = bool(values.get(CONF_TLS, False))
    return vol.Schema(
        {
            vol.Required(CONF_HOST, description=_suggest(values.get(CONF_HOST))): _TEXT,
            vol.Required(
                CONF_PORT, default=int(values.get(CONF_PORT, DEFAULT_PORT))
            ): _PORT,
            vol.Optional(
                CONF_USERNAME, description=_suggest(values.get(CONF_USERNAME))
            ): _USERNAME,
            # Neither the stored nor a just typed password is ever sent
            # back to the browser.
            vol.Optional(CONF_PASSWORD): _PASSWORD,
            # No default: the frontend would take it as the section's data
            # and never fill in the defaults of the fields inside.
            vol.Required(SECTION_ADVANCED): section(
                vol.Schema(
                    {
                        vol.Required(CONF_TLS, default=tls): BooleanSelector(),
                        vol.Optional(
                            CONF_CA_CERT,
                            description=_suggest(values.get(CONF_CA_CERT)),
                        ): _MULTILINE,
                        vol.Required(
                            CONF_TLS_VERIFY,
                            default=bool(values.get(CONF_TLS_VERIFY, True)),
                        ): BooleanSelector(),
                        vol.Optional(
                            CONF_CLIENT_ID,
                            description=_suggest(values.get(CONF_CLIENT_ID)),
                        ): _TEXT,
                    }
                ),
                {"collapsed": not tls},
            ),
        }
    )


def application_schema(kind: ServerKind, values: Mapping[str, Any]) -> vol.Schema:
    """The settings the network server uses, pre-filled with values or defaults."""
    fields: dict[vol.Marker, Any] = {}
    for key in OPTIONS_FOR_KIND[kind]:
        value = values.get(key, DEFAULTS[kind][key])
        if key == CONF_F_PORT:
            fields[vol.Required(key, default=int(value))] = _F_PORT
        elif key in CHOICES:
            fields[vol.Required(key, default=value)] = SelectSelector(
                SelectSelectorConfig(
                    options=list(CHOICES[key]),
                    mode=SelectSelectorMode.DROPDOWN,
                    translation_key=key,
                )
            )
        else:
            fields[vol.Optional(key, description=_suggest(value))] = _TEXT
    return vol.Schema(fields)


def reauth_schema(username: str) -> vol.Schema:
    """New broker credentials."""
    return vol.Schema(
        {
            vol.Optional(CONF_USERNAME, description=_suggest(username)): _USERNAME,
            vol.Optional(CONF_PASSWORD): _PASSWORD,
        }
    )


def options_schema(values: Mapping[str, Any]) -> vol.Schema:
    """The runtime settings, pre-filled with values."""
    return vol.Schema(
        {
            vol.Required(
                CONF_AVAILABILITY_FACTOR, default=values[CONF_AVAILABILITY_FACTOR]
            ): NumberSelector(
                NumberSelectorConfig(
                    min=1.0, max=10.0, step=0.1, mode=NumberSelectorMode.BOX
                )
            ),
            vol.Required(
                CONF_COMMAND_TIMEOUT, default=values[CONF_COMMAND_TIMEOUT]
            ): _seconds(5, 300),
            vol.Required(
                CONF_QUEUE_TIMEOUT, default=values[CONF_QUEUE_TIMEOUT]
            ): _seconds(30, 3600),
            vol.Required(CONF_AUTO_ADD, default=values[CONF_AUTO_ADD]): (
                BooleanSelector()
            ),
            vol.Required(
                CONF_MAX_SOCKETS, default=values[CONF_MAX_SOCKETS]
            ): NumberSelector(
                NumberSelectorConfig(
                    min=1,
                    max=MAX_SOCKETS_LIMIT,
                    step=1,
                    mode=NumberSelectorMode.BOX,
                )
            ),
            vol.Optional(
                CONF_DEV_EUIS, description=_suggest(values[CONF_DEV_EUIS])
            ): _MULTILINE,
        }
    )
