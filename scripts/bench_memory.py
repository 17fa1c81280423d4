"""Where csocket's per-socket memory goes: tracemalloc and gc in one process.

Run with ``.venv/bin/python scripts/bench_memory.py`` (``--help`` for options).

It starts a Mosquitto on a free 127.0.0.1 port and, in this process, a Home
Assistant from pytest-homeassistant-custom-component's harness (real
registries, state machine and storage in a temporary directory; no recorder,
no frontend) with csocket's dedicated-broker entry. ``scripts/bench_e2e.py``'s
publisher process plays ChirpStack v4 with the same uplinks (QoS 1): first
``--warmup`` sockets are discovered, so one-time costs (platforms,
translations, caches) are paid before measuring; then tracemalloc starts and
``--sockets`` more sockets are discovered through real uplinks, each sending
``--uplinks`` reports (default 12: the frame history is full). After the
saves that follow within 10 s in a running Home Assistant (entity and device
registries, csocket's sockets: what they keep for it stays) and a full garbage
collection, it prints, per measured socket:

* the traced bytes grouped by category: the innermost frame of each
  allocation that belongs to csocket or Home Assistant (stdlib, generated
  dataclass code and the like are attributed to their caller), with the
  csocket function that led to a Home Assistant allocation where there is one;
* the top allocation sites (file:line);
* the growth of live objects by type (``gc.get_objects()``);
* the growth of the process's RSS (includes allocator overhead, so higher).

``--compare DIR`` runs the same with another ``custom_components/csocket``
(e.g. ``git worktree``/``git archive`` of main) first and prints both totals
and their ratio. Sizes are measurements to read, not thresholds to assert.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from homeassistant import loader
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
    flush_store,
)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PAGE = os.sysconf("SC_PAGE_SIZE")
APP_ID = "17c82e96-be03-4f38-aef3-f83d48582d97"
HA_MARK = os.sep + "homeassistant" + os.sep
CSOCKET_MARK = os.sep + "csocket" + os.sep


def rss() -> int:
    """Resident set size of this process in bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def where(filename: str) -> str | None:
    """csocket's or Home Assistant's module of a frame, else None."""
    if CSOCKET_MARK in filename:
        return "csocket/" + filename.rsplit(CSOCKET_MARK, 1)[1]
    if HA_MARK in filename:
        return "ha/" + filename.rsplit(HA_MARK, 1)[1]
    return None


def category(trace: tracemalloc.Traceback) -> tuple[str, str]:
    """(innermost csocket/HA module, csocket line that led there or '')."""
    site = ""
    caller = ""
    for frame in reversed(trace):  # innermost first
        module = where(frame.filename)
        if module is None:
            continue
        if not site:
            site = module
            if module.startswith("csocket/"):
                return site, ""
        elif module.startswith("csocket/"):
            caller = f"{module}:{frame.lineno}"
            break
    return site or "other", caller


def type_counts() -> collections.Counter[str]:
    """Live objects tracked by the garbage collector, by type name."""
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


async def publish(
    port: int,
    sockets: int,
    uplinks: int,
    *,
    first: int,
    f_cnt: dict[int, int],
    tmp: Path,
) -> None:
    """Run bench_e2e's publisher: `uplinks` rounds over sockets 0..sockets-1.

    One process per round: paho's 16-bit message ids collide when one
    process has more than 65 535 messages waiting for their acknowledgement.
    `f_cnt`: each socket's last frame counter, counted on here.
    """
    counters = tmp / "f_cnt.json"
    for round_ in range(uplinks):
        counters.write_text(json.dumps(f_cnt))
        process = await asyncio.create_subprocess_exec(
            str(PYTHON),
            str(ROOT / "scripts" / "bench_e2e.py"),
            "publish",
            *("--port", str(port), "--sockets", str(sockets)),
            *("--first", str(first + round_ * sockets), "--count", str(sockets)),
            *("--source", str(ROOT / "custom_components" / "csocket")),
            *("--f-cnt", str(counters)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        if (await process.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the publisher did not start")
        process.stdin.write(b"go\n")
        await process.stdin.drain()
        await process.stdout.readline()
        if await process.wait():
            raise RuntimeError(f"the publisher failed ({process.returncode})")
        for index in range(sockets):
            f_cnt[index] = f_cnt.get(index, 0) + 1


async def wait_handled(hass: Any, hub: Any, count: int, limit: float = 600) -> None:
    """Until the hub handled `count` messages, then until Home Assistant is idle."""
    deadline = time.monotonic() + limit
    while hub.messages_handled < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{hub.messages_handled} of {count} messages handled")
        await asyncio.sleep(0.05)
    await hass.async_block_till_done()


async def saves(hass: Any, hub: Any) -> None:
    """The saves a running Home Assistant makes within 10 s, now.

    What they keep afterwards (e.g. each registry entry's JSON fragment) is
    part of the steady cost of a socket.
    """
    for registry in (er.async_get(hass), dr.async_get(hass)):
        await flush_store(registry._store)  # noqa: SLF001 - no public flush
    await hub.store.async_flush()
    await hass.async_block_till_done()


async def measure(args: argparse.Namespace, source: Path) -> dict[str, Any]:
    """Per-socket figures of one csocket source directory."""
    # The harness and the integration import from here (tests.broker too).
    sys.path.insert(0, str(source.parent.parent))
    sys.path.insert(1, str(ROOT))
    from tests.broker import Broker  # noqa: PLC0415 - after sys.path

    tmp = Path(tempfile.mkdtemp(prefix="csocket-mem-"))
    # Unlimited queue: csocket must see every uplink of the burst.
    broker = Broker(tmp / "mosquitto", extra_config="max_queued_messages 0\n")
    broker.start()
    try:
        async with async_test_home_assistant(config_dir=str(tmp)) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            entry = MockConfigEntry(
                domain="csocket",
                title="memory",
                data={
                    "network_server": "chirpstack_v4",
                    "transport": "broker",
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "client_id": "csocket-mem",
                    "application_id": APP_ID,
                    "f_port": 85,
                },
                options={"max_sockets": 10_000},
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            hub = entry.runtime_data
            warm, n, k = args.warmup, args.sockets, args.uplinks
            f_cnt: dict[int, int] = {}
            await publish(broker.port, warm, k, first=1, f_cnt=f_cnt, tmp=tmp)
            await wait_handled(hass, hub, warm * k)
            await saves(hass, hub)
            gc.collect()
            counts0, rss0 = type_counts(), rss()
            if args.frames:
                tracemalloc.start(args.frames)
            snap0 = tracemalloc.take_snapshot() if args.frames else None
            # The warm-up sockets report again: their part is steady.
            await publish(
                broker.port, warm + n, k, first=1 + warm * k, f_cnt=f_cnt, tmp=tmp
            )
            await wait_handled(hass, hub, (2 * warm + n) * k)
            assert len(hub.devices) == warm + n, len(hub.devices)
            await saves(hass, hub)
            gc.collect()
            # Before the snapshot: its traces are tuples too.
            counts1 = type_counts()
            rss1 = rss()
            snap1 = tracemalloc.take_snapshot() if snap0 else None
            tracemalloc.stop()
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.async_stop(force=True)
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    types = {
        name: (counts1[name] - counts0.get(name, 0)) / n
        for name in counts1
        if counts1[name] - counts0.get(name, 0) > n / 2
    }
    result: dict[str, Any] = {
        "source": str(source),
        "rss": (rss1 - rss0) / n,
        "objects": dict(sorted(types.items(), key=lambda kv: -kv[1])),
    }
    if snap0 is None or snap1 is None:
        return result
    return result | summarise(snap0, snap1, n, args.top)


def summarise(
    snap0: tracemalloc.Snapshot, snap1: tracemalloc.Snapshot, n: int, top: int
) -> dict[str, Any]:
    """The traced growth per socket, by category, caller and line."""
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    snap0, snap1 = snap0.filter_traces(filters), snap1.filter_traces(filters)
    diffs = snap1.compare_to(snap0, "traceback")
    by_category: collections.Counter[str] = collections.Counter()
    by_caller: collections.Counter[tuple[str, str]] = collections.Counter()
    for diff in diffs:
        site, caller = category(diff.traceback)
        by_category[site] += diff.size_diff
        if caller:
            by_caller[site, caller] += diff.size_diff
    lines = snap1.compare_to(snap0, "lineno")

    def site(stat: tracemalloc.StatisticDiff) -> str:
        frame = stat.traceback[-1]
        filename = frame.filename.rsplit("site-packages/", 1)[-1]
        return f"{filename.rsplit('custom_components/', 1)[-1]}:{frame.lineno}"

    own = [s for s in lines if CSOCKET_MARK in s.traceback[-1].filename]
    return {
        "traced": sum(d.size_diff for d in diffs) / n,
        "categories": {k: v / n for k, v in by_category.most_common()},
        "callers": {f"{s} <- {c}": v / n for (s, c), v in by_caller.most_common(25)},
        "lines": {site(s): s.size_diff / n for s in lines[:top]},
        "own": {site(s): s.size_diff / n for s in own[:top]},
    }


def show(result: dict[str, Any], top: int) -> None:
    """Print one source's figures per socket."""
    kib = 1024
    print(f"\n== {result['source']}")
    print(f"RSS per socket:    {result['rss'] / kib:7.1f} KiB (run without tracing)")
    if "traced" not in result:  # --frames 0
        show_objects(result, top)
        return
    print(f"traced per socket: {result['traced'] / kib:7.1f} KiB")
    for owner in ("csocket/", "ha/"):
        size = sum(v for k, v in result["categories"].items() if k.startswith(owner))
        print(f"  traced in {owner:9} {size / kib:7.1f} KiB (innermost module)")
    print("\nby category (innermost csocket/HA module), KiB per socket:")
    shown = 0.0
    for name, size in result["categories"].items():
        if abs(size) >= 100:
            print(f"  {size / kib:7.2f}  {name}")
            shown += size
    print(f"  {(result['traced'] - shown) / kib:7.2f}  (smaller categories)")
    print("\nHome Assistant allocations by the csocket line leading there:")
    for name, size in result["callers"].items():
        if abs(size) >= 100:
            print(f"  {size / kib:7.2f}  {name}")
    for title, key in (("allocation sites", "lines"), ("csocket's sites", "own")):
        print(f"\ntop {top} {title}, KiB per socket:")
        for name, size in result[key].items():
            print(f"  {size / kib:7.2f}  {name}")
    show_objects(result, top)


def show_objects(result: dict[str, Any], top: int) -> None:
    """Print the growth of live objects per socket."""
    print("\nlive objects per socket (gc-tracked, growth):")
    for name, count in list(result["objects"].items())[:top]:
        print(f"  {count:7.1f}  {name}")


def run_source(args: argparse.Namespace, source: Path, frames: int) -> dict[str, Any]:
    """Measure `source` in a process of its own: imports and caches do not mix."""
    out = subprocess.run(
        [
            str(PYTHON),
            __file__,
            "run",
            str(source),
            *("--sockets", str(args.sockets), "--warmup", str(args.warmup)),
            *("--uplinks", str(args.uplinks), "--frames", str(frames)),
            *("--top", str(args.top)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="(internal) measure one source, print JSON")
    run.add_argument("source")
    for p in (parser, run):
        p.add_argument("--sockets", type=int, default=500, help="measured sockets")
        p.add_argument("--warmup", type=int, default=20, help="sockets before")
        p.add_argument("--uplinks", type=int, default=12, help="uplinks per socket")
        p.add_argument(
            "--frames", type=int, default=30, help="traceback depth; 0: RSS only"
        )
        p.add_argument("--top", type=int, default=30, help="lines of each list")
    parser.add_argument(
        "--compare", metavar="DIR", help="another custom_components/csocket first"
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    if args.command == "run":
        print(json.dumps(asyncio.run(measure(args, Path(args.source).resolve()))))
        return 0
    sources = [ROOT / "custom_components" / "csocket"]
    if args.compare:
        sources.insert(0, Path(args.compare).resolve())
    results = []
    for source in sources:
        # tracemalloc's own traces inflate RSS: RSS comes from a plain run.
        plain = run_source(args, source, 0)
        if args.frames:
            plain = run_source(args, source, args.frames) | plain
        results.append(plain)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results, args.top)
    return 0


def report(results: list[dict[str, Any]], top: int) -> None:
    """Print each source's figures, then the ratios of the two."""
    for result in results:
        show(result, top)
    if len(results) == 2:
        before, after = results
        for key in ("traced", "rss"):
            if key in after:
                print(
                    f"{key} per socket {before[key] / 1024:.1f} -> "
                    f"{after[key] / 1024:.1f} KiB (x{after[key] / before[key]:.2f})"
                )


if __name__ == "__main__":
    sys.exit(main())
