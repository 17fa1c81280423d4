"""Config flow for csocket: network server, broker and application.

The user picks the network server and the transport, gives the broker
(dedicated transport only) and the network server's application settings.
The flow connects and subscribes exactly like the integration will before it
saves anything (test-before-configure). Reconfigure edits the broker and
application settings, reauth replaces the broker credentials, and the options
flow (options_flow) holds the runtime settings the hub reads. The forms are in
flow_schemas, what the flows make of the answers in flow_checks.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import callback

from .connection import BrokerSettings, async_end_session
from .const import (
    CONF_CA_CERT,
    CONF_CLIENT_ID,
    CONF_SERVER,
    CONF_TLS,
    CONF_TRANSPORT,
    DEFAULT_PORT,
    DOMAIN,
    TRANSPORT_BROKER,
    TRANSPORT_HA_MQTT,
)
from .flow_checks import (
    SERVER_LABELS,
    async_test_connection,
    ca_is_valid,
    entry_title,
    entry_unique_id,
    mqtt_loaded,
    parse_application,
    parse_broker,
)
from .flow_schemas import (
    application_schema,
    broker_schema,
    reauth_schema,
    user_schema,
)
from .network_servers import ServerKind, create_adapter
from .options_flow import OptionsFlowHandler
from .overlap import overlapping_entry

if TYPE_CHECKING:
    from collections.abc import Mapping


def _new_client_id() -> str:
    """A client id of our own, so the broker can keep a persistent session."""
    return f"csocket-{secrets.token_hex(6)}"


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
        mqtt_available = mqtt_loaded(self.hass)
        if user_input is not None:
            transport = user_input.get(CONF_TRANSPORT, TRANSPORT_BROKER)
            self._data = {
                CONF_SERVER: ServerKind(user_input[CONF_SERVER]).value,
                CONF_TRANSPORT: transport,
            }
            if transport == TRANSPORT_HA_MQTT:
                return await self.async_step_application()
            return await self.async_step_broker()

        return self.async_show_form(
            step_id="user", data_schema=user_schema(mqtt_available)
        )

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
            # Only reconfigure has a stored password for a blank field to keep.
            reconfigure = self.source == SOURCE_RECONFIGURE
            stored = self._data.get(CONF_PASSWORD) if reconfigure else None
            broker = parse_broker(user_input, self._client_id, str(stored or ""))
            values.update(broker)
            if not broker[CONF_HOST]:
                errors[CONF_HOST] = "invalid_host"
            elif (
                broker[CONF_TLS]
                and broker[CONF_CA_CERT]
                and not await self.hass.async_add_executor_job(
                    ca_is_valid, broker[CONF_CA_CERT]
                )
            ):
                errors["base"] = "invalid_ca"
            else:
                error, placeholders = await async_test_connection(
                    self.hass, {**self._data, **broker}, []
                )
                if error is None:
                    self._data.update(broker)
                    return await self.async_step_application()
                errors["base"] = error

        return self.async_show_form(
            step_id=step_id,
            data_schema=broker_schema(values),
            errors=errors,
            description_placeholders=placeholders,
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
            application = parse_application(self._kind, user_input)
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
                error, extra = await async_test_connection(
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
            data_schema=application_schema(self._kind, values),
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

    async def _async_check_unique_id(
        self, data: Mapping[str, Any]
    ) -> ConfigFlowResult | None:
        """One entry per broker + server + application; None to go on."""
        unique_id = entry_unique_id(data)
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
            return self.async_create_entry(
                title=entry_title(data), data=data, options={}
            )
        entry = self._get_reconfigure_entry()
        self._end_old_session(entry, data)
        # Follow a changed broker in the title, unless the user renamed the entry.
        title = (
            entry_title(data) if entry.title == entry_title(entry.data) else entry.title
        )
        return self.async_update_reload_and_abort(
            entry, unique_id=entry_unique_id(data), title=title, data_updates=data
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
            error, extra = await async_test_connection(
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
            data_schema=reauth_schema(username),
            errors=errors,
            description_placeholders=placeholders,
        )
