"""MQTT transports: a dedicated aiomqtt connection, or Home Assistant's MQTT.

Both give the hub the same small interface (start, stop, publish, a message
callback and a connection-state callback), so nothing downstream knows which
one is in use.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.util.ssl import client_context

from .clean_session import CONNACK_ACCEPTED, async_connect_clean, connect_packet
from .const import (
    CONF_CA_CERT,
    CONF_CLIENT_ID,
    CONF_TLS,
    CONF_TLS_VERIFY,
    DEFAULT_PORT,
    RECONNECT_MAX,
    RECONNECT_MIN,
)
from .network_servers import Subscription

_LOGGER = logging.getLogger(__name__)

type MessageCallback = Callable[[str, bytes], None]
type StateCallback = Callable[[bool], None]

CONNECT_TIMEOUT = 10.0
# A connection that lasted this long (s) counts as good: the backoff restarts.
STABLE_AFTER = 60.0
PUBLISH_TIMEOUT = 10.0
# CONNACK codes for bad credentials / not authorised: MQTT 3.1.1 and MQTT 5.
_AUTH_CODES = frozenset({4, 5, 134, 135})
# SUBACK "failure" (3.1.1) and any MQTT 5 reason code >= 0x80.
_SUBACK_FAILURE = 0x80


class TransportError(Exception):
    """The broker could not be reached or refused an operation."""


class CannotConnect(TransportError):
    """The broker is unreachable or dropped the connection."""


class InvalidAuth(TransportError):
    """The broker rejected the credentials."""


class TlsFailure(TransportError):
    """The TLS handshake failed (certificate, hostname or protocol)."""


class NotAuthorized(TransportError):
    """The broker refused a subscription (ACL)."""

    def __init__(self, topic: str) -> None:
        """Name the refused topic filter."""
        super().__init__(f"not authorised to subscribe to {topic}")
        self.topic = topic


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """How to reach the network server's broker."""

    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_cert: str | None = None  # PEM text
    verify_hostname: bool = True
    client_id: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BrokerSettings:
        """Read the settings from config entry data."""
        return cls(
            host=data[CONF_HOST],
            port=int(data.get(CONF_PORT, DEFAULT_PORT)),
            username=data.get(CONF_USERNAME) or None,
            password=data.get(CONF_PASSWORD) or None,
            tls=bool(data.get(CONF_TLS, False)),
            ca_cert=data.get(CONF_CA_CERT) or None,
            verify_hostname=bool(data.get(CONF_TLS_VERIFY, True)),
            client_id=data.get(CONF_CLIENT_ID) or None,
        )


def build_tls_context(settings: BrokerSettings) -> ssl.SSLContext | None:
    """Build the TLS context; loads certificates, so run it in the executor."""
    if not settings.tls:
        return None
    if settings.ca_cert is None and settings.verify_hostname:
        # Home Assistant's shared context; never mutate it.
        return client_context()
    try:
        context = ssl.create_default_context(cadata=settings.ca_cert)
    except ssl.SSLError as err:
        raise TlsFailure(f"invalid CA certificate: {err.reason}") from err
    context.check_hostname = settings.verify_hostname
    return context


def _classify(err: Exception) -> TransportError:
    """Map aiomqtt's errors to the ones the config flow and setup report."""
    if isinstance(err, aiomqtt.MqttCodeError):
        code = getattr(err.rc, "value", err.rc)
        if code in _AUTH_CODES:
            return InvalidAuth(str(err))
    text = str(err)
    if "SSL" in text or "certificate" in text.lower():
        return TlsFailure(text)
    return CannotConnect(text or type(err).__name__)


def _make_client(
    settings: BrokerSettings,
    tls_context: ssl.SSLContext | None,
    *,
    identifier: str,
    persistent: bool,
) -> aiomqtt.Client:
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=identifier,
        # A persistent session lets the broker queue QoS 1 uplinks while HA restarts.
        clean_session=not persistent,
        tls_context=tls_context,
        timeout=CONNECT_TIMEOUT,
        logger=_LOGGER,
    )


async def _subscribe_all(
    client: aiomqtt.Client, subscriptions: list[Subscription]
) -> None:
    for sub in subscriptions:
        granted = await client.subscribe(sub.topic, qos=sub.qos)
        first = granted[0] if granted else _SUBACK_FAILURE
        code = first if isinstance(first, int) else first.value
        if code >= _SUBACK_FAILURE:
            raise NotAuthorized(sub.topic)


async def async_probe(
    hass: HomeAssistant, settings: BrokerSettings, subscriptions: list[Subscription]
) -> None:
    """Connect and subscribe once, as the config flow's test; raises on failure."""
    tls_context = await hass.async_add_executor_job(build_tls_context, settings)
    client = _make_client(
        settings,
        tls_context,
        identifier=f"csocket-probe-{uuid.uuid4().hex[:8]}",
        persistent=False,
    )
    try:
        async with client:
            await _subscribe_all(client, subscriptions)
    except NotAuthorized:
        raise
    except aiomqtt.MqttError as err:
        raise _classify(err) from err


async def async_end_session(
    hass: HomeAssistant, settings: BrokerSettings, entry: ConfigEntry[Any]
) -> None:
    """Connect once with a clean session so the broker drops ours (best effort)."""
    try:
        tls_context = await hass.async_add_executor_job(build_tls_context, settings)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            code = await async_connect_clean(
                settings.host,
                settings.port,
                tls_context,
                connect_packet(
                    _client_id(settings, entry), settings.username, settings.password
                ),
            )
    except (OSError, EOFError, TimeoutError, TransportError) as err:
        reason = str(err) or type(err).__name__
    else:
        if code == CONNACK_ACCEPTED:
            return
        reason = f"the broker refused the connection (code {code})"
    _LOGGER.info(
        "Could not clear csocket's session on %s:%s: %s",
        settings.host,
        settings.port,
        reason,
    )


def _client_id(settings: BrokerSettings, entry: ConfigEntry[Any]) -> str:
    # A fixed client id is what makes the broker keep our session.
    return settings.client_id or f"csocket-{entry.entry_id}"


class Transport(abc.ABC):
    """Connection to the broker the network server publishes to."""

    def __init__(self) -> None:
        """Start disconnected, with no-op callbacks."""
        self.connected = False
        self.on_message: MessageCallback = lambda _topic, _payload: None
        self.on_state: StateCallback = lambda _connected: None

    @abc.abstractmethod
    async def async_start(
        self, subscriptions: list[Subscription], stale: list[str] | None = None
    ) -> None:
        """Connect and subscribe (dropping `stale` filters); raise TransportError."""

    @abc.abstractmethod
    async def async_stop(self) -> None:
        """Disconnect and stop reconnecting."""

    @abc.abstractmethod
    async def async_publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish, or raise TransportError."""

    @callback
    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.on_state(connected)


class BrokerTransport(Transport):
    """A dedicated aiomqtt connection with reconnect, backoff and jitter."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], settings: BrokerSettings
    ) -> None:
        """Prepare; nothing connects before `async_start`."""
        super().__init__()
        self._hass = hass
        self._entry = entry
        self._settings = settings
        self._client_id = _client_id(settings, entry)
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscriptions: list[Subscription] = []
        self._tls_context: ssl.SSLContext | None = None
        self._lost_logged = False

    @property
    def description(self) -> str:
        """Broker address for log messages (never credentials)."""
        return f"{self._settings.host}:{self._settings.port}"

    async def async_start(
        self, subscriptions: list[Subscription], stale: list[str] | None = None
    ) -> None:
        """Connect once now (test before setup), then keep reconnecting."""
        self._subscriptions = subscriptions
        self._tls_context = await self._hass.async_add_executor_job(
            build_tls_context, self._settings
        )
        client = self._new_client()
        try:
            await client.__aenter__()
            for topic in stale or ():
                await client.unsubscribe(topic)
            await _subscribe_all(client, subscriptions)
        except (aiomqtt.MqttError, NotAuthorized) as err:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
            raise err if isinstance(err, NotAuthorized) else _classify(err) from err
        self._task = self._entry.async_create_background_task(
            self._hass, self._run(client), f"csocket broker {self.description}"
        )

    def _new_client(self) -> aiomqtt.Client:
        return _make_client(
            self._settings,
            self._tls_context,
            identifier=self._client_id,
            persistent=True,
        )

    async def _run(self, client: aiomqtt.Client | None) -> None:
        """Receive until cancelled; reconnect with exponential backoff and jitter."""
        backoff = RECONNECT_MIN
        while True:
            # `client` arrives connected from async_start; later ones are new.
            entered = client is not None
            up_since: float | None = None
            try:
                if client is None:
                    client = self._new_client()
                    await client.__aenter__()
                    entered = True
                    await _subscribe_all(client, self._subscriptions)
                self._client = client
                self._connection_up()
                up_since = time.monotonic()
                async for message in client.messages:
                    payload = message.payload
                    self.on_message(
                        message.topic.value,
                        payload
                        if isinstance(payload, bytes)
                        else str(payload).encode(),
                    )
                raise aiomqtt.MqttError("message stream ended")  # noqa: TRY301
            except (aiomqtt.MqttError, NotAuthorized) as err:
                error = err if isinstance(err, NotAuthorized) else _classify(err)
                self._connection_down(error)
                if isinstance(error, InvalidAuth):
                    # Retrying bad credentials only gets the client banned.
                    self._entry.async_start_reauth(self._hass)
                    return
            finally:
                self._client = None
                # Disconnecting a client that never connected only logs noise.
                if client is not None and entered:
                    with contextlib.suppress(aiomqtt.MqttError, RuntimeError):
                        await client.__aexit__(None, None, None)
                client = None
            if up_since is not None and time.monotonic() - up_since > STABLE_AFTER:
                # Only a connection that held resets the backoff: a broker that
                # kicks us at once (e.g. a duplicate client id) must not flap.
                backoff = RECONNECT_MIN
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # noqa: S311
            backoff = min(backoff * 2, RECONNECT_MAX)

    def _connection_up(self) -> None:
        if self._lost_logged:
            _LOGGER.info("Connection to MQTT broker %s restored", self.description)
            self._lost_logged = False
        self._set_connected(True)

    def _connection_down(self, error: TransportError) -> None:
        if not self._lost_logged:
            _LOGGER.info(
                "Connection to MQTT broker %s lost (%s); reconnecting",
                self.description,
                error,
            )
            self._lost_logged = True
        self._set_connected(False)

    async def async_stop(self) -> None:
        """Cancel the receive loop; the broker keeps our session for next time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._set_connected(False)

    async def async_publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish on the live connection."""
        client = self._client
        if client is None:
            raise CannotConnect(f"not connected to MQTT broker {self.description}")
        try:
            await client.publish(topic, payload, qos=qos, timeout=PUBLISH_TIMEOUT)
        except aiomqtt.MqttError as err:
            raise _classify(err) from err


class HassMqttTransport(Transport):
    """Home Assistant's own MQTT integration, for a bridged network server."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare; subscriptions are made in `async_start`."""
        super().__init__()
        self._hass = hass
        self._unsubscribes: list[Callable[[], None]] = []

    async def async_start(
        self, subscriptions: list[Subscription], stale: list[str] | None = None
    ) -> None:
        """Subscribe through Home Assistant's MQTT client (no session to clean)."""
        from homeassistant.components import mqtt  # noqa: PLC0415 - optional dependency

        if not await mqtt.async_wait_for_mqtt_client(self._hass):
            raise CannotConnect("Home Assistant's MQTT integration is not set up")

        @callback
        def _received(message: mqtt.ReceiveMessage) -> None:
            payload = message.payload
            self.on_message(
                message.topic,
                payload if isinstance(payload, bytes) else str(payload).encode(),
            )

        for sub in subscriptions:
            self._unsubscribes.append(
                await mqtt.async_subscribe(
                    self._hass, sub.topic, _received, qos=sub.qos, encoding=None
                )
            )

        @callback
        def _state(connected: bool) -> None:
            self._set_connected(connected)

        self._unsubscribes.append(
            mqtt.async_subscribe_connection_status(self._hass, _state)
        )
        self._set_connected(mqtt.is_connected(self._hass))

    async def async_stop(self) -> None:
        """Drop our subscriptions."""
        while self._unsubscribes:
            self._unsubscribes.pop()()
        self._set_connected(False)

    async def async_publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish through Home Assistant's MQTT client."""
        from homeassistant.components import mqtt  # noqa: PLC0415
        from homeassistant.exceptions import HomeAssistantError  # noqa: PLC0415

        try:
            await mqtt.async_publish(self._hass, topic, payload, qos=qos, retain=False)
        except HomeAssistantError as err:
            raise CannotConnect(str(err)) from err
