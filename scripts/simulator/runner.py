"""The simulated network server on MQTT, and the sockets behind it."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import aiomqtt

from .config import Config
from .device import SimulatedSocket, appliance_for
from .life import SocketLife
from .radio import Clock, Gateway, Radio
from .servers import (
    DEFAULT_TENANT_ID,
    SERVERS,
    CommandRejected,
    DownlinkRequest,
    NetworkServer,
    Reception,
    TheThingsStack,
    UplinkFrame,
)
from .servers.base import EU868_CHANNELS
from .state import load_state, save_state

if TYPE_CHECKING:
    from collections.abc import Coroutine


_LOGGER: Final = logging.getLogger("csocket.simulate")

# DevEUI of socket n: 24e124148b000001, 24e124148b000002, ...
EUI_PREFIX: Final = "24e124148b"


def create_server(config: Config, rng: random.Random) -> NetworkServer:
    """The network server of config.format; ValueError for a bad setting."""
    cls = SERVERS[config.format]
    application_id = config.application_id or cls.default_application_id
    if cls is TheThingsStack:
        return TheThingsStack(application_id, rng, config.tenant_id)
    if config.tenant_id != DEFAULT_TENANT_ID:
        raise ValueError(f"{cls.title} has no tenant id")
    return cls(application_id, rng)


class Simulator:
    """A network server on MQTT, its gateways, and the sockets behind them."""

    def __init__(self, config: Config) -> None:
        """Create the sockets; nothing runs until run() or run_once()."""
        self.config = config
        self._rng = random.Random(config.seed)
        self.server = create_server(config, self._rng)
        self.application_id = self.server.application_id
        self.radio = Radio(
            config.gateways,
            config.coverage,
            airtime=config.airtime,
            spreading_factor=config.spreading_factor,
            clock=Clock(config.time_scale),
        )
        self.sockets: dict[str, SimulatedSocket] = {}
        for index in range(1, config.sockets + 1):
            dev_eui = f"{EUI_PREFIX}{index:06x}"
            self.sockets[dev_eui] = SimulatedSocket(
                index,
                dev_eui,
                appliance_for(index),
                self._rng,
                report_interval=config.interval,
                f_port=config.f_port,
            )
        # (DevEUI, what) of the latest uplinks no gateway received.
        self.lost: deque[tuple[str, str]] = deque(maxlen=1000)
        self._client: aiomqtt.Client | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.life = SocketLife(self, config.latency)
        self._started = False
        self.ready = asyncio.Event()  # set once subscribed and joined
        load_state(config.state, self.sockets)

    @property
    def command_filter(self) -> str:
        """Where the network server receives downlink commands."""
        return self.server.command_filter

    # Running -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()

    async def run(self) -> None:
        """Run until stop(): reconnect to the broker whenever it goes away."""
        connection = asyncio.create_task(self._connection_loop())
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait(
                {connection, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            tasks = (connection, stopped, *self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.save_state()
            _LOGGER.info("Simulator stopped")
        if connection.done() and not connection.cancelled():
            connection.result()  # a bug in the loop: let it surface

    async def run_once(self) -> None:
        """Join every socket, send its basic information and one report, exit."""
        async with self._connect() as client:
            self._client = client
            for sock in self.sockets.values():
                await self.life.boot(sock)
            self._client = None
        self.save_state()

    def _connect(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.config.host,
            self.config.port,
            username=self.config.username,
            password=self.config.password,
            identifier=f"csocket-simulator-{uuid.uuid4().hex[:8]}",
        )

    async def _connection_loop(self) -> None:
        backoff = 1.0
        while True:
            try:
                async with self._connect() as client:
                    await client.subscribe(self.command_filter, qos=1)
                    self._client = client
                    backoff = 1.0
                    _LOGGER.info(
                        "Connected to %s:%s as %s, application %s; listening on %s",
                        self.config.host,
                        self.config.port,
                        self.server.title,
                        self.application_id,
                        self.command_filter,
                    )
                    if not self._started:
                        self._started = True
                        await self._start_sockets()
                    self.ready.set()
                    async for message in client.messages:
                        self._on_message(message.topic.value, message.payload)
            except aiomqtt.MqttError as err:
                self._client = None
                _LOGGER.warning(
                    "Broker %s:%s: %s; retrying in %.0f s",
                    self.config.host,
                    self.config.port,
                    err,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _start_sockets(self) -> None:
        for sock in self.sockets.values():
            await self.life.boot(sock)
        for sock in self.sockets.values():
            self.spawn(self.life.report_loop(sock), f"reports {sock.dev_eui}")

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that run() cancels when the simulator stops."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Task %s failed", task.get_name(), exc_info=err)

    def save_state(self) -> None:
        save_state(self.config.state, self.sockets)

    # Downlinks -------------------------------------------------------------------

    def _on_message(self, topic: str, payload: object) -> None:
        """A command published by the integration; never raises."""
        try:
            requests = self.server.parse_command(topic, payload)
        except CommandRejected as err:
            # The network server logs the error and drops the command.
            _LOGGER.warning("Invalid downlink command on %s rejected: %s", topic, err)
            return
        for request in requests:
            sock = self.sockets.get(request.dev_eui)
            if sock is None:
                _LOGGER.warning("Downlink for unknown device %s ignored", topic)
                continue
            gateway = self.radio.downlink_gateway(sock.index)
            # The place in the gateway's queue is taken in arrival order.
            place = (gateway, gateway.enqueue()) if gateway is not None else None
            self.spawn(self._downlink(sock, request, place), f"downlink {request.item}")

    async def _downlink(
        self,
        sock: SimulatedSocket,
        request: DownlinkRequest,
        place: tuple[Gateway, asyncio.Future[None]] | None,
    ) -> None:
        if (queued := self.server.queued(sock, request)) is not None:
            await self._publish(*queued)
        if place is None:
            await self._fail(sock, request, "no gateway in range of the device")
            return
        gateway, turn = place
        async with gateway.turn(turn) as slot:
            if sock.index in self.config.fail_downlinks:
                await self._fail(sock, request, self.config.fail_reason)
                return
            airtime = self.radio.airtime(len(request.data))
            sock.f_cnt_down += 1
            slot.begin(sock.dev_eui, airtime)
            # The server reports the frame when it leaves the gateway.
            if (sent := self.server.sent(sock, request, gateway.id)) is not None:
                await self._publish(*sent)
            _LOGGER.info(
                "%s: downlink %s on FPort %s via %s, %.3f s on air: %s",
                sock,
                request.item,
                request.f_port,
                gateway,
                airtime,
                request.data.hex(),
            )
            await slot.finish()
        await self.life.receive(sock, request)

    async def _fail(
        self, sock: SimulatedSocket, request: DownlinkRequest, reason: str
    ) -> None:
        _LOGGER.warning("%s: downlink %s failed: %s", sock, request.item, reason)
        if (failed := self.server.failed(sock, request, reason)) is not None:
            await self._publish(*failed)

    # The link of the sockets (SocketLife) ----------------------------------------

    async def joined(self, sock: SimulatedSocket) -> None:
        """Publish the join event, where the server has one and a gateway heard."""
        if not self.radio.receivers(sock.index):
            self.lost.append((sock.dev_eui, "join"))
            _LOGGER.warning("%s: join lost, no gateway heard it", sock)
            return
        if (joined := self.server.join(sock)) is not None:
            await self._publish(*joined)

    async def acknowledge(
        self, sock: SimulatedSocket, request: DownlinkRequest
    ) -> None:
        """Publish the acknowledgement of a confirmed downlink."""
        if (ack := self.server.ack(sock, request)) is not None:
            await self._publish(*ack)

    async def uplink(self, sock: SimulatedSocket, payload: bytes, what: str) -> bool:
        """Send an uplink; False when every gateway in range was transmitting."""
        f_cnt = sock.next_f_cnt()
        receivers = self.radio.receivers(sock.index)
        if not receivers:
            self.lost.append((sock.dev_eui, what))
            _LOGGER.warning(
                "%s: uplink fCnt %s lost, no gateway heard it (transmitting or "
                "out of range): %s",
                sock,
                f_cnt,
                what,
            )
            return False
        receptions = []
        for gateway in receivers:
            rssi, snr = sock.link_quality()
            receptions.append(Reception(gateway.id, gateway.number, rssi, snr))
        best = max(rx.rssi for rx in receptions)
        frame = UplinkFrame(
            f_cnt,
            sock.f_port,
            payload,
            7 if best > -80 else 9 if best > -95 else 11,
            self._rng.choice(EU868_CHANNELS),
            tuple(receptions),
        )
        _LOGGER.info("%s: uplink fCnt %s, %s", sock, f_cnt, what)
        _LOGGER.debug("%s: uplink payload %s", sock, payload.hex())
        await self._publish(*self.server.uplink(sock, frame))
        return True

    async def _publish(self, topic: str, body: dict[str, Any]) -> None:
        client = self._client
        if client is None:
            _LOGGER.warning("Not connected to the broker: %s lost", topic)
            return
        try:
            await client.publish(topic, json.dumps(body), qos=self.config.qos)
        except aiomqtt.MqttError as err:
            _LOGGER.warning("Could not publish %s: %s", topic, err)
