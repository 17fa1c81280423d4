"""Config flow for csocket: network server, broker and application.

The user picks the network server and the transport, gives the broker
(dedicated transport only) and the network server's application settings.
The flow connects and subscribes exactly like the integration will before it
saves anything (test-before-configure). Reconfigure edits the broker and
application settings, reauth replaces the broker credentials, and the options
flow holds the runtime settings the hub reads.
"""

from __future__ import annotations

import logging
import re
import secrets
import ssl
import uuid
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
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

from .compat import OptionsFlowBase, vol
from .connection import (
    BrokerSettings,
    InvalidAuth,
    NotAuthorized,
    SubscriptionSilent,
    TlsFailure,
    TransportError,
    async_end_session,
    async_probe,
)
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
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_MAX_SOCKETS,
    DEFAULT_PORT,
    DEFAULT_QUEUE_TIMEOUT,
    DOMAIN,
    MAX_SOCKETS_LIMIT,
    MQTT_DOMAIN,
    TRANSPORT_BROKER,
    TRANSPORT_HA_MQTT,
)
from .network_servers import (
    ADAPTERS,
    CONF_APPLICATION_ID,
    CONF_COMMAND_TOPIC,
    CONF_DOWNLINK_TOPIC,
    CONF_EVENT_TOPIC,
    CONF_F_PORT,
    CONF_MARSHALER,
    CONF_TENANT_ID,
    CONF_TOPIC_STYLE,
    CONF_UPLINK_TOPIC,
    DEFAULTS,
    MARSHALERS,
    OPTIONS_FOR_KIND,
    TOPIC_STYLES,
    ServerKind,
    Subscription,
    create_adapter,
)
from .overlap import overlapping_entry

if TYPE_CHECKING:
    from collections.abc import Mapping

_LOGGER = logging.getLogger(__name__)

# The collapsible section of the broker step holding TLS and the client id.
SECTION_ADVANCED: Final = "advanced"

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
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    CONF_TOPIC_STYLE: tuple(TOPIC_STYLES),
    CONF_MARSHALER: tuple(MARSHALERS),
}

MIN_F_PORT: Final = 1
MAX_F_PORT: Final = 223

_EUI_SEPARATORS: Final = re.compile(r"[\s,;]+")
_EUI: Final = re.compile(r"[0-9a-f]{16}")

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


def _mqtt_loaded(hass: HomeAssistant) -> bool:
    """Whether Home Assistant's MQTT integration has a loaded entry."""
    return bool(hass.config_entries.async_loaded_entries(MQTT_DOMAIN))


def _new_client_id() -> str:
    """A client id of our own, so the broker can keep a persistent session."""
    return f"csocket-{secrets.token_hex(6)}"


def _ca_is_valid(pem: str) -> bool:
    """Whether OpenSSL can load the PEM text as CA certificates."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError, TypeError):
        return False
    return True


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


def _unique_id(data: Mapping[str, Any]) -> str:
    """Broker address + network server + application (+ tenant)."""
    kind = ServerKind(data[CONF_SERVER])
    if data[CONF_TRANSPORT] == TRANSPORT_HA_MQTT:
        location = MQTT_DOMAIN
    else:
        location = f"{str(data[CONF_HOST]).lower()}:{data[CONF_PORT]}"
    return f"{location}/{kind.value}/{_application_key(kind, data)}"


def _title(data: Mapping[str, Any]) -> str:
    """E.g. "ChirpStack v4 · 192.168.1.10"."""
    label = SERVER_LABELS[ServerKind(data[CONF_SERVER])]
    if data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
        return f"{label} · Home Assistant MQTT"
    return f"{label} · {data.get(CONF_HOST, '')}"


def _parse_dev_euis(text: str) -> tuple[list[str], str | None]:
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


async def _async_test_connection(
    hass: HomeAssistant, data: Mapping[str, Any], subscriptions: list[Subscription]
) -> tuple[str | None, dict[str, str]]:
    """Connect (and subscribe) as the integration will: error key and placeholders."""
    if data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
        return (None, {}) if _mqtt_loaded(hass) else ("mqtt_unavailable", {})
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


class CsocketConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a network server connection."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with an empty entry."""
        self._data: dict[str, Any] = {}
        # Generated once per flow; kept when the user leaves the field blank.
        self._client_id = _new_client_id()

    @property
    def _kind(self) -> ServerKind:
        return ServerKind(self._data[CONF_SERVER])

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: ConfigEntry,  # noqa: ARG004 - Home Assistant's signature
    ) -> OptionsFlowHandler:
        """Options: availability, command timeout and which sockets to add."""
        return OptionsFlowHandler()

    # --- user ---------------------------------------------------------------

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the network server and how to reach its broker."""
        mqtt_available = _mqtt_loaded(self.hass)
        if user_input is not None:
            transport = user_input.get(CONF_TRANSPORT, TRANSPORT_BROKER)
            self._data = {
                CONF_SERVER: ServerKind(user_input[CONF_SERVER]).value,
                CONF_TRANSPORT: transport,
            }
            if transport == TRANSPORT_HA_MQTT:
                return await self.async_step_application()
            return await self.async_step_broker()

        fields: dict[vol.Marker, Any] = {
            vol.Required(
                CONF_SERVER, default=ServerKind.CHIRPSTACK_V4.value
            ): SelectSelector(
                SelectSelectorConfig(
                    options=[kind.value for kind in ServerKind],
                    mode=SelectSelectorMode.LIST,
                    translation_key="network_server",
                )
            )
        }
        if mqtt_available:
            fields[vol.Required(CONF_TRANSPORT, default=TRANSPORT_BROKER)] = (
                SelectSelector(
                    SelectSelectorConfig(
                        options=[TRANSPORT_BROKER, TRANSPORT_HA_MQTT],
                        mode=SelectSelectorMode.LIST,
                        translation_key="transport",
                    )
                )
            )
        return self.async_show_form(step_id="user", data_schema=vol.Schema(fields))

    # --- broker -------------------------------------------------------------

    async def async_step_broker(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Broker address, credentials and TLS; tested before going on."""
        return await self._async_broker_form("broker", user_input)

    async def _async_broker_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """The broker form of setup and reconfigure; tested before going on."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        values: dict[str, Any] = dict(self._data)
        if not values.get(CONF_CLIENT_ID):
            values[CONF_CLIENT_ID] = self._client_id
        if user_input is not None:
            broker = self._parse_broker(user_input)
            values.update(broker)
            if not broker[CONF_HOST]:
                errors[CONF_HOST] = "invalid_host"
            elif (
                broker[CONF_TLS]
                and broker[CONF_CA_CERT]
                and not await self.hass.async_add_executor_job(
                    _ca_is_valid, broker[CONF_CA_CERT]
                )
            ):
                errors["base"] = "invalid_ca"
            else:
                error, placeholders = await _async_test_connection(
                    self.hass, {**self._data, **broker}, []
                )
                if error is None:
                    self._data.update(broker)
                    return await self.async_step_application()
                errors["base"] = error

        return self.async_show_form(
            step_id=step_id,
            data_schema=self._broker_schema(values),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _parse_broker(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        advanced: Mapping[str, Any] = user_input.get(SECTION_ADVANCED, {})
        username = str(user_input.get(CONF_USERNAME) or "").strip()
        password = str(user_input.get(CONF_PASSWORD) or "")
        if not password and username and self.source == SOURCE_RECONFIGURE:
            # Reconfigure never shows the stored password: blank keeps it.
            password = str(self._data.get(CONF_PASSWORD) or "")
        return {
            CONF_HOST: str(user_input.get(CONF_HOST) or "").strip(),
            CONF_PORT: int(user_input.get(CONF_PORT, DEFAULT_PORT)),
            CONF_USERNAME: username,
            CONF_PASSWORD: password if username else "",
            CONF_TLS: bool(advanced.get(CONF_TLS, False)),
            CONF_CA_CERT: str(advanced.get(CONF_CA_CERT) or "").strip(),
            CONF_TLS_VERIFY: bool(advanced.get(CONF_TLS_VERIFY, True)),
            CONF_CLIENT_ID: str(advanced.get(CONF_CLIENT_ID) or "").strip()
            or self._client_id,
        }

    @staticmethod
    def _broker_schema(values: Mapping[str, Any]) -> vol.Schema:
        tls = bool(values.get(CONF_TLS, False))
        return vol.Schema(
            {
                vol.Required(
                    CONF_HOST, description=_suggest(values.get(CONF_HOST))
                ): _TEXT,
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

    # --- application ----------------------------------------------------------

    async def async_step_application(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The network server's application; subscribes before saving."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"server": SERVER_LABELS[self._kind]}
        values: dict[str, Any] = dict(self._data)
        if user_input is not None:
            application = self._parse_application(user_input)
            values.update(application)
            data = {**self._data, **application}
            try:
                adapter = create_adapter(self._kind, data)
            except ValueError as err:
                errors["base"] = "invalid_setting"
                placeholders["error"] = str(err)
            else:
                if (result := await self._async_check_unique_id(data)) is not None:
                    return result
                other = overlapping_entry(self.hass, data, self._other_entries())
                if other is not None:
                    errors["base"] = "overlapping_entry"
                    placeholders["entry"] = other.title
                    return self._application_form(values, errors, placeholders)
                error, extra = await _async_test_connection(
                    self.hass, data, adapter.subscriptions()
                )
                if error is None:
                    return self._async_finish(data)
                errors["base"] = error
                placeholders.update(extra)

        return self._application_form(values, errors, placeholders)

    def _application_form(
        self,
        values: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id="application",
            data_schema=self._application_schema(self._kind, values),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _other_entries(self) -> list[ConfigEntry]:
        """The entries besides the one being reconfigured."""
        own = (
            self._get_reconfigure_entry().entry_id
            if self.source == SOURCE_RECONFIGURE
            else None
        )
        return [
            entry
            for entry in self._async_current_entries(include_ignore=False)
            if entry.entry_id != own
        ]

    def _parse_application(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        defaults = DEFAULTS[self._kind]
        application: dict[str, Any] = {}
        for key in OPTIONS_FOR_KIND[self._kind]:
            value = user_input.get(key)
            if key == CONF_F_PORT:
                application[key] = int(value if value is not None else defaults[key])
            elif key in _CHOICES:
                application[key] = str(value or defaults[key])
            else:
                text = str(value or "").strip()
                application[key] = text or (
                    str(defaults[key]) if key in _TOPIC_KEYS else ""
                )
        return application

    @staticmethod
    def _application_schema(kind: ServerKind, values: Mapping[str, Any]) -> vol.Schema:
        fields: dict[vol.Marker, Any] = {}
        for key in OPTIONS_FOR_KIND[kind]:
            value = values.get(key, DEFAULTS[kind][key])
            if key == CONF_F_PORT:
                fields[vol.Required(key, default=int(value))] = _F_PORT
            elif key in _CHOICES:
                fields[vol.Required(key, default=value)] = SelectSelector(
                    SelectSelectorConfig(
                        options=list(_CHOICES[key]),
                        mode=SelectSelectorMode.DROPDOWN,
                        translation_key=key,
                    )
                )
            else:
                fields[vol.Optional(key, description=_suggest(value))] = _TEXT
        return vol.Schema(fields)

    async def _async_check_unique_id(
        self, data: Mapping[str, Any]
    ) -> ConfigFlowResult | None:
        """One entry per broker + server + application; None to go on."""
        unique_id = _unique_id(data)
        if self.source != SOURCE_RECONFIGURE:
            await self.async_set_unique_id(unique_id)
            self._abort_if_unique_id_configured()
            return None
        entry = self._get_reconfigure_entry()
        for other in self._async_current_entries(include_ignore=False):
            if other.unique_id == unique_id and other.entry_id != entry.entry_id:
                return self.async_abort(reason="already_configured")
        return None

    @callback
    def _async_finish(self, data: dict[str, Any]) -> ConfigFlowResult:
        if self.source != SOURCE_RECONFIGURE:
            return self.async_create_entry(title=_title(data), data=data, options={})
        entry = self._get_reconfigure_entry()
        self._end_old_session(entry, data)
        # Follow a changed broker in the title, unless the user renamed the entry.
        title = _title(data) if entry.title == _title(entry.data) else entry.title
        return self.async_update_reload_and_abort(
            entry, unique_id=_unique_id(data), title=title, data_updates=data
        )

    def _end_old_session(self, entry: ConfigEntry, data: Mapping[str, Any]) -> None:
        """A new broker or client id leaves the old persistent session behind.

        Ask the old broker to drop it, so it stops queuing uplinks for nobody.
        """
        if entry.data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
            return
        old = BrokerSettings.from_data(entry.data)
        new = BrokerSettings.from_data({**entry.data, **data})
        if (old.host, old.port, old.client_id) == (new.host, new.port, new.client_id):
            return
        self.hass.async_create_background_task(
            async_end_session(self.hass, old, entry), "csocket end old session"
        )

    # --- reconfigure -----------------------------------------------------------

    async def async_step_reconfigure(
        self,
        user_input: dict[str, Any] | None = None,
    ) -> ConfigFlowResult:
        """Edit the broker and application settings of an entry."""
        if user_input is None:
            entry = self._get_reconfigure_entry()
            self._data = dict(entry.data)
            # Entries without a stored client id connect as csocket-<entry id>.
            self._client_id = f"csocket-{entry.entry_id}"
            if self._data.get(CONF_TRANSPORT) == TRANSPORT_HA_MQTT:
                return await self.async_step_application()
        # Its own step id: the password's help says a blank keeps the stored one.
        return await self._async_broker_form("reconfigure", user_input)

    # --- reauth -----------------------------------------------------------------

    async def async_step_reauth(
        self,
        entry_data: Mapping[str, Any],
    ) -> ConfigFlowResult:
        """The broker refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new credentials and test them with the real subscriptions."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {
            "host": str(entry.data.get(CONF_HOST, "")),
            "port": str(entry.data.get(CONF_PORT, DEFAULT_PORT)),
        }
        username = str(entry.data.get(CONF_USERNAME) or "")
        if user_input is not None:
            username = str(user_input.get(CONF_USERNAME) or "").strip()
            credentials = {
                CONF_USERNAME: username,
                CONF_PASSWORD: str(user_input.get(CONF_PASSWORD) or "")
                if username
                else "",
            }
            data = {**entry.data, **credentials}
            adapter = create_adapter(data[CONF_SERVER], data)
            error, extra = await _async_test_connection(
                self.hass, data, adapter.subscriptions()
            )
            if error is None:
                return self.async_update_reload_and_abort(
                    entry, data_updates=credentials
                )
            errors["base"] = error
            placeholders.update(extra)

        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Optional(
                        CONF_USERNAME, description=_suggest(username)
                    ): _USERNAME,
                    vol.Optional(CONF_PASSWORD): _PASSWORD,
                }
            ),
            errors=errors,
            description_placeholders=placeholders,
        )


class OptionsFlowHandler(OptionsFlowBase):
    """Runtime settings read by the hub (defaults apply to missing keys)."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Availability, command timeout and which sockets to add."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        options = self.config_entry.options
        values: dict[str, Any] = {
            CONF_AVAILABILITY_FACTOR: float(
                options.get(CONF_AVAILABILITY_FACTOR, DEFAULT_AVAILABILITY_FACTOR)
            ),
            CONF_COMMAND_TIMEOUT: int(
                options.get(CONF_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT)
            ),
            CONF_QUEUE_TIMEOUT: int(
                options.get(CONF_QUEUE_TIMEOUT, DEFAULT_QUEUE_TIMEOUT)
            ),
            CONF_AUTO_ADD: bool(options.get(CONF_AUTO_ADD, True)),
            CONF_MAX_SOCKETS: int(options.get(CONF_MAX_SOCKETS, DEFAULT_MAX_SOCKETS)),
            CONF_DEV_EUIS: "\n".join(options.get(CONF_DEV_EUIS, [])),
        }
        if user_input is not None:
            values.update(user_input)
            euis, invalid = _parse_dev_euis(str(user_input.get(CONF_DEV_EUIS) or ""))
            if invalid is None:
                return self.async_create_entry(
                    data={
                        CONF_AVAILABILITY_FACTOR: float(
                            user_input[CONF_AVAILABILITY_FACTOR]
                        ),
                        CONF_COMMAND_TIMEOUT: int(user_input[CONF_COMMAND_TIMEOUT]),
                        CONF_QUEUE_TIMEOUT: int(user_input[CONF_QUEUE_TIMEOUT]),
                        CONF_AUTO_ADD: bool(user_input[CONF_AUTO_ADD]),
                        CONF_MAX_SOCKETS: int(
                            user_input.get(CONF_MAX_SOCKETS, DEFAULT_MAX_SOCKETS)
                        ),
                        CONF_DEV_EUIS: euis,
                    }
                )
            errors[CONF_DEV_EUIS] = "invalid_dev_eui"
            placeholders["dev_eui"] = invalid

        schema = vol.Schema(
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
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )
