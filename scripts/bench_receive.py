"""Receive cost per MQTT message: csocket's client against aiomqtt's socket handling.

    .venv/bin/python scripts/bench_receive.py [--messages 40000] [--rounds 2]

One real Mosquitto on a free port and a publisher process sending ChirpStack-sized
QoS 1 uplinks as fast as the broker takes them. Two clients, alternating in the
same run, receive them into a counter, as the hub's entry point would:

* **csocket**: `CsocketClient` as csocket opens it (MQTT 5): its PacketReader
  reads the socket once per wake-up and takes the PUBLISH packets before paho
  parses them (mqtt_reader.py); acknowledgements are written on the event
  loop (mqtt_client.py);
* **paho**: the same client reading through paho instead (csocket's client
  before mqtt_reader.py): up to 64 packets per wake-up, each parsed by paho;
* **aiomqtt**: the same client with aiomqtt's own socket callbacks back: paho
  reads every packet, one per readiness event, and each acknowledgement is
  registered for writing through the loop's self-pipe.

Prints this process's CPU time per message (the publisher and the broker are
other processes) and the ratios. The end-to-end effect is in scripts/bench_e2e.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.types import PahoSocket

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from custom_components.csocket.connection import (  # noqa: E402 - after sys.path
    BrokerSettings,
    close_client,
    open_client,
)
from custom_components.csocket.mqtt_client import CsocketClient  # noqa: E402
from tests.broker import Broker  # noqa: E402

TOPIC = "application/bench/device/{:016x}/event/up"
# A ChirpStack v4 uplink event's size (rxInfo of one gateway, no codec object).
PAYLOAD = (
    b'{"deduplicationId":"4b6e7f6c-0d0a-4c5b-9a0e-2f7d1c3b5a69",'
    b'"time":"2026-12-01T12:00:00.000000+00:00","deviceInfo":{"tenantId":'
    b'"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","applicationId":"bench",'
    b'"deviceName":"socket","devEui":"24e124148b000001"},"devAddr":"00189440",'
    b'"adr":true,"dr":5,"fCnt":12,"fPort":85,"confirmed":false,'
    b'"data":"/wEB/wkBAP8KAQL/FgAAAAAAAAAA/xEB","rxInfo":[{"gatewayId":'
    b'"0016c001ff10a235","uplinkId":1234,"rssi":-60,"snr":9.5,"channel":1}]}'
)
# aiomqtt's originals of the socket callbacks csocket's client replaces.
SOCKET_CALLBACKS = ("_on_socket_open", "_on_socket_register_write")


def publish(port: int, count: int) -> None:
    """The publisher process: `count` QoS 1 uplinks, over 1 000 device topics."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-pub")
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    last = None
    for index in range(count):
        while (
            info := client.publish(TOPIC.format(index % 1000), PAYLOAD, qos=1)
        ).rc != paho.MQTT_ERR_SUCCESS:
            time.sleep(0.001)  # the in-flight window is full
        last = info
    if last is not None:
        last.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


async def receive(port: int, count: int, kind: str) -> float:
    """CPU microseconds per message this process spent receiving `count`."""
    received = 0
    done = asyncio.get_running_loop().create_future()

    def on_message(_topic: str, _payload: bytes) -> None:
        nonlocal received
        received += 1
        if received == count and not done.done():
            done.set_result(None)

    client = await open_client(
        BrokerSettings("127.0.0.1", port),
        None,
        identifier=f"bench-{kind}",
        persistent=False,
        on_message=on_message,
    )
    try:
        await client.subscribe(TOPIC.format(0).replace("0" * 16, "+"), qos=1)
        start = time.process_time()
        publisher = subprocess.Popen(  # noqa: ASYNC220 - waited for below, off the loop
            [sys.executable, __file__, "--publish", str(port), str(count)]
        )
        try:
            async with asyncio.timeout(600):
                await done
            cpu = time.process_time() - start
        finally:
            await asyncio.to_thread(publisher.wait)
    finally:
        await close_client(client)
    return cpu / count * 1e6


def _open_without_reader(
    self: CsocketClient, client: paho.Client, userdata: object, sock: PahoSocket
) -> None:
    """csocket's socket-open callback without the PacketReader: paho reads."""
    aiomqtt.Client._on_socket_open(self, client, userdata, sock)  # noqa: SLF001 - the callback csocket's replaces
    self._loop.call_soon_threadsafe(
        self._loop.add_reader,
        sock.fileno(),
        self._read,
        client,
    )


def use(kind: str, own: dict[str, object]) -> None:
    """Give CsocketClient csocket's callbacks, without the reader, or aiomqtt's."""
    for name in SOCKET_CALLBACKS:
        value = own[name] if kind != "aiomqtt" else getattr(aiomqtt.Client, name)
        setattr(CsocketClient, name, value)
    if kind == "paho":
        CsocketClient._on_socket_open = _open_without_reader  # type: ignore[method-assign]  # noqa: SLF001 - restored by use()


def main() -> int:
    """Run both clients alternately and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--publish", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publish(*args.publish)
        return 0
    own = {name: vars(CsocketClient)[name] for name in SOCKET_CALLBACKS}
    results: dict[str, list[float]] = {"csocket": [], "paho": [], "aiomqtt": []}
    with tempfile.TemporaryDirectory(prefix="csocket-receive-") as tmp:
        # Unlimited queue: the publisher may run ahead of the slower client.
        broker = Broker(Path(tmp), extra_config="max_queued_messages 0\n")
        broker.start()
        try:
            for _ in range(args.rounds):
                for kind, measured in results.items():
                    use(kind, own)
                    micros = asyncio.run(receive(broker.port, args.messages, kind))
                    measured.append(micros)
                    print(f"{kind:8} {micros:6.1f} µs CPU per message", flush=True)
        finally:
            use("csocket", own)
            broker.stop()
    ours = statistics.median(results["csocket"])
    paho_reads = statistics.median(results["paho"])
    theirs = statistics.median(results["aiomqtt"])
    print(
        f"\n{args.messages} QoS 1 messages per round, {args.rounds} rounds (median): "
        f"csocket {ours:.1f} µs, paho reading {paho_reads:.1f} µs "
        f"({paho_reads / ours:.2f}x), aiomqtt's socket handling {theirs:.1f} µs "
        f"({theirs / ours:.2f}x) of CPU per message"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
