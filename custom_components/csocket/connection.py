"""Connecting to a broker: settings, TLS, errors, probes and ending a session.

The pieces both the config flow (one-off checks) and the long-lived
transport use; `transport.py` keeps the connection loop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt import ProtocolVersion
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.util.ssl import client_context

from .clean_session import CONNACK_ACCEPTED, async_connect_clean, connect_packet
from .const import (
    CONF_CA_CERT,
    CONF_CLIENT_ID,
    CONF_TLS,
    CONF_TLS_VERIFY,
    DEFAULT_PORT,
)
from .mqtt_client import CsocketClient, refuses_protocol
from .network_servers import Subscription
from .probe import LoopbackProbe, probe_topic

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
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


def classify_error(err: Exception) -> TransportError:
    """Map aiomqtt's errors to the ones the config flow and setup report."""
    if isinstance(err, aiomqtt.MqttCodeError):
        code = getattr(err.rc, "value", err.rc)
        if code in _AUTH_CODES:
            return InvalidAuth(str(err))
    text = str(err)
    if "SSL" in text or "certificate" in text.lower():
        return TlsFailure(text)
    return CannotConnect(text or type(err).__name__)


async def open_client(  # noqa: PLR0913 - keyword-only options of one client
    settings: BrokerSettings,
    tls_context: ssl.SSLContext | None,
    *,
    identifier: str,
    persistent: bool,
    protocol: ProtocolVersion = ProtocolVersion.V5,
    on_message: Callable[[str, bytes], None] | None = None,
) -> CsocketClient:
    """A connected client: MQTT 5, or 3.1.1 when the broker refuses MQTT 5.

    `on_message` receives every message from the moment the client connects
    (a persistent session's queued ones arrive before any subscribe).
    """
    client = CsocketClient(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=identifier,
        # A persistent session lets the broker queue QoS 1 uplinks while HA restarts.
        persistent=persistent,
        protocol=protocol,
        on_message=on_message,
        tls_context=tls_context,
        timeout=CONNECT_TIMEOUT,
    )
    try:
        await client.__aenter__()
    except asyncio.CancelledError:
        client.abandon()
        raise
    except aiomqtt.MqttError as err:
        if protocol is not ProtocolVersion.V5 or not refuses_protocol(err):
            raise
        _LOGGER.info(
            "MQTT broker %s:%s does not speak MQTT 5; using MQTT 3.1.1, under "
            "which a downlink the broker refuses looks like a silent socket",
            settings.host,
            settings.port,
        )
        return await open_client(
            settings,
            tls_context,
            identifier=identifier,
            persistent=persistent,
            protocol=ProtocolVersion.V311,
            on_message=on_message,
        )
    return client


async def close_client(client: aiomqtt.Client) -> None:
    """Leave the connection, whatever state it is in."""
    with contextlib.suppress(aiomqtt.MqttError, RuntimeError):
        await client.__aexit__(None, None, None)


async def broker_listens(host: str, port: int) -> bool:
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


async def subscribe_all(
    client: aiomqtt.Client, subscriptions: list[Subscription]
) -> None:
    """Subscribe to every filter; NotAuthorized names one the broker refused."""
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
        client = await open_client(
            settings,
            tls_context,
            identifier=f"csocket-probe-{uuid.uuid4().hex[:8]}",
            persistent=False,
        )
    except aiomqtt.MqttError as err:
        raise classify_error(err) from err
    try:
        await subscribe_all(client, subscriptions)
        # The broker step only connects; the application step subscribes.
        came_back = (
            await _loopback(client, LoopbackProbe(subscriptions))
            if subscriptions and loopback
            else None
        )
    except aiomqtt.MqttError as err:
        raise classify_error(err) from err
    finally:
        await close_client(client)
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
                    client_id_for(settings, entry), settings.username, settings.password
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


def client_id_for(settings: BrokerSettings, entry: ConfigEntry[Any]) -> str:
    """The client id the broker knows this entry's session by."""
    # A fixed client id is what makes the broker keep our session.
    return settings.client_id or f"csocket-{entry.entry_id}"
