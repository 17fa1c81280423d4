"""Constants for the csocket integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "csocket"
MANUFACTURER: Final = "Milesight"
MODEL: Final = "WS523"
# The device page shows "<model> (<model id>)": WS523 is the model id.
MODEL_NAME: Final = "IOT-CSOCKET LoRaWAN smart plug"

# Config entry data
CONF_SERVER: Final = "network_server"
CONF_TRANSPORT: Final = "transport"
CONF_TLS: Final = "tls"
CONF_CA_CERT: Final = "ca_cert"
CONF_TLS_VERIFY: Final = "tls_verify_hostname"
CONF_CLIENT_ID: Final = "client_id"

TRANSPORT_BROKER: Final = "broker"
TRANSPORT_HA_MQTT: Final = "home_assistant_mqtt"
# Home Assistant's MQTT integration, the home_assistant_mqtt transport.
MQTT_DOMAIN: Final = "mqtt"

# Options
CONF_AVAILABILITY_FACTOR: Final = "availability_factor"
CONF_AUTO_ADD: Final = "auto_add"
CONF_DEV_EUIS: Final = "dev_euis"
CONF_COMMAND_TIMEOUT: Final = "command_timeout"
CONF_MAX_SOCKETS: Final = "max_sockets"
CONF_QUEUE_TIMEOUT: Final = "queue_timeout"

DEFAULT_PORT: Final = 1883
DEFAULT_TLS_PORT: Final = 8883
DEFAULT_AVAILABILITY_FACTOR: Final = 2.5
DEFAULT_COMMAND_TIMEOUT: Final = 30
# Sockets discovered per entry: a flood of made-up DevEUIs on a shared
# application must not create devices (and their entities) without bound.
DEFAULT_MAX_SOCKETS: Final = 500
MAX_SOCKETS_LIMIT: Final = 10000
# Entities a new socket adds enabled: the platforms' descriptions enabled by
# default (test_quiet_log.py counts them in the registry). Home Assistant
# 2026.7+ adds at most a fixed number of enabled entities to one entry.
ENABLED_ENTITIES_PER_SOCKET: Final = 16
# How long a command may wait for its turn on air (README "LoRaWAN airtime").
DEFAULT_QUEUE_TIMEOUT: Final = 300
# The device's factory reporting interval (user guide 3.3).
DEFAULT_REPORT_INTERVAL: Final = 20 * 60
AVAILABILITY_GRACE: Final = 60

# Reconnect backoff of the dedicated broker connection (seconds).
RECONNECT_MIN: Final = 1.0
RECONNECT_MAX: Final = 300.0

STORAGE_VERSION: Final = 1
# Raw frames kept per device for diagnostics.
FRAME_HISTORY: Final = 10
