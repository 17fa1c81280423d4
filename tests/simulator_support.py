"""Helpers of the simulator tests: load it, run it in-process, watch the broker.

FORMATS pairs each simulator format with csocket's adapter for it, for any
test that runs csocket against the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from custom_components.csocket.network_servers import (
    CONF_APPLICATION_ID,
    CONF_TENANT_ID,
    Adapter,
    ServerKind,
    Uplink,
    create_adapter,
)

from .broker import Broker, Captured

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "simulate.py"


@dataclass(frozen=True)
class Format:
    """A simulator --format and the csocket adapter (and settings) that read it."""

    name: str
    kind: ServerKind
    application_id: str
    topics: str  # what to subscribe to
    echoes_id: bool  # results carry csocket's correlation id
    queued: bool  # the server reports a downlink entering its queue
    reports: bool = True  # joins and downlink results (not the Milesight gateway)
    options: tuple[tuple[str, Any], ...] = ()

    def adapter(self) -> Adapter:
        return create_adapter(
            self.kind, {CONF_APPLICATION_ID: self.application_id, **dict(self.options)}
        )


FORMATS = [
    Format(
        "chirpstack_v4",
        ServerKind.CHIRPSTACK_V4,
        "9e1b7c1e-2f55-4b0c-8d3a-0c4f2a6b7d10",
        "application/#",
        echoes_id=True,
        queued=False,
    ),
    Format(
        "chirpstack_v3",
        ServerKind.CHIRPSTACK_V3,
        "42",
        "application/#",
        echoes_id=False,
        queued=False,
    ),
    Format(
        "tts_v3",
        ServerKind.TTS_V3,
        "csocket-test",
        "v3/#",
        echoes_id=True,
        queued=True,
        options=((CONF_TENANT_ID, "ttn"),),
    ),
    Format(
        "milesight",
        ServerKind.MILESIGHT,
        "1",
        "csocket/#",
        echoes_id=False,
        queued=False,
        reports=False,
    ),
]


def load_simulator() -> ModuleType:
    """scripts/simulate.py loaded as a module (scripts/ is not a package).

    It puts scripts/ on sys.path and re-exports the simulator package.
    """
    spec = importlib.util.spec_from_file_location("csocket_simulate", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def run_once(broker: Broker, *flags: str) -> str:
    """Run `simulate.py --once` against broker; its output (it must succeed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--host",
        broker.host,
        "--port",
        str(broker.port),
        *flags,
        "--once",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, output.decode()
    return output.decode()


@contextlib.asynccontextmanager
async def running(sim: ModuleType, broker: Broker, **options: Any) -> Any:
    """The simulator running in-process against the suite's broker.

    Airtime is off unless a test asks for it.
    """
    settings: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "latency": 0.02,
        "interval": 3600,
        "seed": 1,
        "airtime": 0,
    }
    simulator = sim.Simulator(sim.Config(**(settings | options)))
    task = asyncio.create_task(simulator.run())
    try:
        await asyncio.wait_for(simulator.ready.wait(), 5)
        yield simulator
    finally:
        simulator.stop()
        await asyncio.wait_for(task, 5)


async def wait_until(
    captured: Captured | Recorder, predicate: Callable[[], Any], seconds: float = 5
) -> Any:
    """Wait for new messages until `predicate()` returns something truthy."""
    async with asyncio.timeout(seconds):
        while not (result := predicate()):
            captured.event.clear()
            await captured.event.wait()
    return result


@dataclass
class Recorder:
    """Messages on the broker with the simulator's radio time of their arrival."""

    clock: Any
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def recording(
    broker: Broker, clock: Any, topic: str = "#"
) -> AsyncIterator[Recorder]:
    """Record every message on topic with clock.now() when it arrives."""
    recorder = Recorder(clock)
    async with broker.client() as client:
        await client.subscribe(topic, qos=1)

        async def _reader() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                recorder.messages.append((message.topic.value, message.payload))
                recorder.times.append(clock.now())
                recorder.event.set()

        task = asyncio.create_task(_reader())
        try:
            yield recorder
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def events_of(adapter: Any, messages: list[tuple[str, bytes]]) -> list[Any]:
    """Every message as csocket's adapter parses it."""
    return [adapter.parse(topic, payload) for topic, payload in messages]


def uplinks_of(
    adapter: Any, messages: list[tuple[str, bytes]], dev_eui: str | None = None
) -> list[Uplink]:
    """The uplinks (of one device) among messages."""
    return [
        event
        for event in events_of(adapter, messages)
        if isinstance(event, Uplink) and dev_eui in (None, event.device.dev_eui)
    ]
