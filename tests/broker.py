"""A real Mosquitto broker on 127.0.0.1 for the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str:
    """Path of the mosquitto binary; tests cannot run without it."""
    for candidate in MOSQUITTO_CANDIDATES:
        if path := shutil.which(candidate):
            return path
    raise RuntimeError(
        "Mosquitto is required for the integration tests: "
        "run `sudo apt-get install -y mosquitto` (or ./scripts/setup as root)"
    )


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """One Mosquitto process; can be stopped and started again on the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        """The broker's configuration file."""
        return self.workdir / "mosquitto.conf"

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = (
            f"listener {self.port} {self.host}\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
            # As root mosquitto would switch to its own user, which cannot read
            # the test's files under pytest's private tmp directory.
            "user root\n"
        )
        if "allow_anonymous" not in self.extra_config:
            config += "allow_anonymous true\n"
        self.config_file.write_text(config + self.extra_config)
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [find_mosquitto(), "-c", str(self.config_file)],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "mosquitto exited: " + (self.workdir / "mosquitto.log").read_text()
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        """Stop the broker (clients see the connection drop)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def kill(self) -> None:
        """`kill -9` the broker: no clean shutdown, no persistence written."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def restart(self, *, hard: bool = True) -> None:
        """Kill (or stop) and start again on the same port."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def client(self, **kwargs: object) -> aiomqtt.Client:
        """A test-side MQTT client (the 'network server')."""
        return aiomqtt.Client(self.host, self.port, **kwargs)  # type: ignore[arg-type]

    async def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, **kwargs: object
    ) -> None:
        """Publish one message as the network server would."""
        async with self.client(**kwargs) as client:
            await client.publish(topic, payload, qos=qos)

    @contextlib.asynccontextmanager
    async def capture(self, topic: str = "#") -> AsyncIterator[Captured]:
        """Record every message published on `topic` while the block runs."""
        captured = Captured()
        async with self.client() as client:
            await client.subscribe(topic, qos=1)

            async def _reader() -> None:
                async for message in client.messages:
                    payload = message.payload
                    assert isinstance(payload, bytes | bytearray)
                    captured.messages.append((message.topic.value, bytes(payload)))
                    captured.event.set()

            task = asyncio.create_task(_reader())
            try:
                yield captured
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@dataclass
class Captured:
    """Messages seen by `Broker.capture`."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int = 1, timeout: float = 5) -> None:
        """Wait until at least `count` messages arrived."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.event.clear()
                await self.event.wait()
