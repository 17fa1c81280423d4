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
from aiomqtt import ProtocolVersion
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
from .mqtt_client import CsocketClient, refuses_protocol
from .network_servers import Subscription
from .probe import LoopbackProbe, probe_topic

_LOGGER = logging.getLogger(__name__)

type MessageCallback = Callable[[str, bytes], None]
type StateCallback = Callable[[bool], None]

CONNECT_TIMEOUT = 10.0
# A connection that lasted this long (s) counts as good. Shorter ones the
# broker ends itself while still accepting new ones (e.g. it kicks us for a
# duplicate client id) back off, and so do more than QUICK_LOSSES short ones in
# a row (MQTT 3.1.1 cannot say why it closed). A broker that went away is
# retried as soon as it listens again.
STABLE_AFTER = 10.0
QUICK_LOSSES = 5
# While the broker is down, check that it listens again: at once and then
# ever less often, up to once a second. A TCP connect is cheap and the MQTT
# connect follows at once when it succeeds. A restarting broker is back within
# a fraction of a second, and every uplink the network server publishes before
# we have resubscribed is lost when the broker kept no session for us.
LISTEN_POLL_FIRST = 0.01
LISTEN_POLL_GROWTH = 1.2
LISTEN_POLL_MAX = 1.0
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


class DownlinkRefused(TransportError):
    """The broker refused a publish (MQTT 5 PUBACK reason code)."""

    def __init__(self, topic: str, reason: str) -> None:
        """Name the topic and the broker's reason."""
        super().__init__(f"the broker refused the publish to {topic}: {reason}")
        self.reason = reason


class SubscriptionSilent(TransportError):
    """The broker granted the subscription but did not deliver csocket's probe."""

    def __init__(self, topic: str) -> None:
        """Name the probe's topic."""
        super().__init__(f"the test message on {topic} did not come back")
        self.topic = topic


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
    protocol: ProtocolVersion,
) -> CsocketClient:
    return CsocketClient(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=identifier,
        # A persistent session lets the broker queue QoS 1 uplinks while HA restarts.
        persistent=persistent,
        protocol=protocol,
        tls_context=tls_context,
        timeout=CONNECT_TIMEOUT,
    )


async def _connect(
    settings: BrokerSettings,
    tls_context: ssl.SSLContext | None,
    *,
    identifier: str,
    persistent: bool,
    protocol: ProtocolVersion = ProtocolVersion.V5,
) -> CsocketClient:
    """A connected client: MQTT 5, or 3.1.1 when the broker refuses MQTT 5."""
    client = _make_client(
        settings,
        tls_context,
        identifier=identifier,
        persistent=persistent,
        protocol=protocol,
    )
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as err:
        if protocol is not ProtocolVersion.V5 or not refuses_protocol(err):
            raise
        _LOGGER.info(
            "MQTT broker %s:%s does not speak MQTT 5; using MQTT 3.1.1, under "
            "which a downlink the broker refuses looks like a silent socket",
            settings.host,
            settings.port,
        )
        return await _connect(
            settings,
            tls_context,
            identifier=identifier,
            persistent=persistent,
            protocol=ProtocolVersion.V311,
        )
    return client


async def _disconnect(client: aiomqtt.Client) -> None:
    with contextlib.suppress(aiomqtt.MqttError, RuntimeError):
        await client.__aexit__(None, None, None)


async def _listening(host: str, port: int) -> bool:
    """Whether the broker accepts TCP connections (cheap; no MQTT, no TLS)."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


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
    hass: HomeAssistant,
    settings: BrokerSettings,
    subscriptions: list[Subscription],
    *,
    loopback: bool = True,
) -> None:
    """Connect and subscribe once, as the config flow's test; raises on failure."""
    tls_context = await hass.async_add_executor_job(build_tls_context, settings)
    try:
        client = await _connect(
            settings,
            tls_context,
            identifier=f"csocket-probe-{uuid.uuid4().hex[:8]}",
            persistent=False,
        )
    except aiomqtt.MqttError as err:
        raise _classify(err) from err
    try:
        await _subscribe_all(client, subscriptions)
        # The broker step only connects; the application step subscribes.
        came_back = (
            await _loopback(client, LoopbackProbe(subscriptions))
            if subscriptions and loopback
            else None
        )
    except aiomqtt.MqttError as err:
        raise _classify(err) from err
    finally:
        await _disconnect(client)
    if came_back is False:
        raise SubscriptionSilent(probe_topic(subscriptions))


async def _loopback(client: CsocketClient, probe: LoopbackProbe) -> bool | None:
    async def read() -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes) and probe.received(
                message.topic.value, payload
            ):
                return

    async def publish(topic: str, payload: bytes) -> bool:
        refusal = await client.publish_or_refusal(
            topic, payload, qos=1, wait=PUBLISH_TIMEOUT
        )
        return refusal is None

    reader = asyncio.create_task(read())
    try:
        return await probe.async_run(publish)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await reader


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
    """A dedicated aiomqtt connection that reconnects as soon as it can."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], settings: BrokerSettings
    ) -> None:
        """Prepare; nothing connects before `async_start`."""
        super().__init__()
        self._hass = hass
        self._entry = entry
        self._settings = settings
        self._client_id = _client_id(settings, entry)
        self._client: CsocketClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscriptions: list[Subscription] = []
        self._tls_context: ssl.SSLContext | None = None
        # MQTT 5 until the broker refuses it; then 3.1.1 for this entry's life.
        self._protocol = ProtocolVersion.V5
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
        try:
            client = await self._connect()
        except aiomqtt.MqttError as err:
            raise _classify(err) from err
        try:
            for topic in stale or ():
                await client.unsubscribe(topic)
            await _subscribe_all(client, subscriptions)
        except (aiomqtt.MqttError, NotAuthorized) as err:
            await _disconnect(client)
            raise err if isinstance(err, NotAuthorized) else _classify(err) from err
        self._task = self._entry.async_create_background_task(
            self._hass, self._run(client), f"csocket broker {self.description}"
        )

    async def _connect(self) -> CsocketClient:
        client = await _connect(
            self._settings,
            self._tls_context,
            identifier=self._client_id,
            persistent=True,
            protocol=self._protocol,
        )
        self._protocol = client.protocol
        return client

    async def _run(self, client: CsocketClient | None) -> None:
        """Receive until cancelled; reconnect as soon as the broker is back."""
        backoff = 0.0
        quick_losses = 0
        while True:
            # `client` arrives connected from async_start; later ones are new.
            up_since: float | None = None
            sent_away = False
            try:
                if client is None:
                    client = await self._connect()
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
                if client is not None:
                    sent_away = client.sent_away
                    await _disconnect(client)
                client = None
            if await self._wait_until_listening():
                # The broker was down and is back: connect now.
                backoff, quick_losses = 0.0, 0
                continue
            if up_since is not None and time.monotonic() - up_since > STABLE_AFTER:
                backoff, quick_losses = 0.0, 0
                continue
            quick_losses += 1
            if up_since is not None and not sent_away and quick_losses <= QUICK_LOSSES:
                # Lost, not ended by the broker: it restarted before we noticed.
                continue
            # Refused or ended at once while listening: don't flap.
            backoff = min(max(backoff * 2, RECONNECT_MIN), RECONNECT_MAX)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # noqa: S311

    async def _wait_until_listening(self) -> bool:
        """Wait until the broker accepts connections; whether it had to wait."""
        delay = LISTEN_POLL_FIRST
        waited = False
        while not await _listening(self._settings.host, self._settings.port):
            waited = True
            await asyncio.sleep(delay)
            delay = min(delay * LISTEN_POLL_GROWTH, LISTEN_POLL_MAX)
        return waited

    def _connection_up(self) -> None:
        if self._lost_logged:
            _LOGGER.info("Connection to MQTT broker %s restored", self.description)
            self._lost_logged = False
        self._set_connected(True)

    def _connection_down(self, error: TransportError) -> None:
        if not self._lost_logged:
            # One warning per outage, however many attempts it takes.
            _LOGGER.warning(
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
        """Publish on the live connection; DownlinkRefused when the broker says no."""
        client = self._client
        if client is None:
            raise CannotConnect(f"not connected to MQTT broker {self.description}")
        try:
            refusal = await client.publish_or_refusal(
                topic, payload, qos=qos, wait=PUBLISH_TIMEOUT
            )
        except aiomqtt.MqttError as err:
            raise _classify(err) from err
        if refusal is not None:
            raise DownlinkRefused(topic, refusal)


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
