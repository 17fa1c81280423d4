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
from collections.abc import Callable
from typing import Any

import aiomqtt
from aiomqtt import ProtocolVersion
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .connection import (
    PUBLISH_TIMEOUT,
    BrokerSettings,
    CannotConnect,
    DownlinkRefused,
    InvalidAuth,
    NotAuthorized,
    TransportError,
    broker_listens,
    build_tls_context,
    classify_error,
    client_id_for,
    close_client,
    open_client,
    subscribe_all,
)
from .const import (
    RECONNECT_MAX,
    RECONNECT_MIN,
)
from .mqtt_client import CsocketClient
from .network_servers import Subscription

_LOGGER = logging.getLogger(__name__)

type MessageCallback = Callable[[str, bytes], None]
type StateCallback = Callable[[bool], None]

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
        self._client_id = client_id_for(settings, entry)
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
            client = await self._open()
        except aiomqtt.MqttError as err:
            raise classify_error(err) from err
        try:
            for topic in stale or ():
                await client.unsubscribe(topic)
            await subscribe_all(client, subscriptions)
        except (aiomqtt.MqttError, NotAuthorized) as err:
            await close_client(client)
            raise (
                err if isinstance(err, NotAuthorized) else classify_error(err)
            ) from err
        self._task = self._entry.async_create_background_task(
            self._hass, self._run(client), f"csocket broker {self.description}"
        )

    async def _open(self) -> CsocketClient:
        client = await open_client(
            self._settings,
            self._tls_context,
            identifier=self._client_id,
            persistent=True,
            protocol=self._protocol,
            on_message=self._deliver,
        )
        self._protocol = client.protocol
        return client

    def _deliver(self, topic: str, payload: bytes) -> None:
        # Looked up per message: the hub may set on_message after we start.
        self.on_message(topic, payload)

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
                    client = await self._open()
                    await subscribe_all(client, self._subscriptions)
                self._client = client
                self._connection_up()
                up_since = time.monotonic()
                # Messages go to _deliver as they arrive; this waits for the
                # connection's end (and would pass on any aiomqtt queued).
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
                error = err if isinstance(err, NotAuthorized) else classify_error(err)
                self._connection_down(error)
                if isinstance(error, InvalidAuth):
                    # Retrying bad credentials only gets the client banned.
                    self._entry.async_start_reauth(self._hass)
                    return
            finally:
                self._client = None
                if client is not None:
                    sent_away = client.sent_away
                    await close_client(client)
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
        while not await broker_listens(self._settings.host, self._settings.port):
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
            raise classify_error(err) from err
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
        from homeassistant.components import mqtt  # noqa: PLC0415 - optional dependency

        try:
            await mqtt.async_publish(self._hass, topic, payload, qos=qos, retain=False)
        except HomeAssistantError as err:
            raise CannotConnect(str(err)) from err
