"""Options flow for csocket: the runtime settings the hub reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .compat import OptionsFlowBase
from .const import (
    CONF_AUTO_ADD,
    CONF_AVAILABILITY_FACTOR,
    CONF_COMMAND_TIMEOUT,
    CONF_DEV_EUIS,
    CONF_MAX_SOCKETS,
    CONF_QUEUE_TIMEOUT,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_MAX_SOCKETS,
    DEFAULT_QUEUE_TIMEOUT,
)
from .flow_checks import parse_dev_euis
from .flow_schemas import options_schema

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlowResult


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
            euis, invalid = parse_dev_euis(str(user_input.get(CONF_DEV_EUIS) or ""))
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

        return self.async_show_form(
            step_id="init",
            data_schema=options_schema(values),
            errors=errors,
            description_placeholders=placeholders,
        )
