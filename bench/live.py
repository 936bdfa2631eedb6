"""`python -m bench live`: the live view's cost. Frame latency (a change on the page → its frame at a viewer) and
the CPU of a session's process tree (this process and its Chromium) with one viewer vs the same session unwatched,
on a still page and on a page repainting 10 times a second.

The viewer is a plain WebSocket client reading frames as the page's script does; nothing else runs in the app.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import websockets

from bench.common import descendants, print_table, stats_ms, write_json
from mcp_browsa.app import Browsa
from mcp_browsa.config import load_settings
from mcp_browsa.sessions import SessionRequest
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from tests.support.sites import serve_site

__all__ = ["main", "run"]

CHANGES = 40  # latency samples
CHANGE_GAP = 0.3  # seconds between changes: more than the frame cap's 0.1 s, so each change gets its own frame
WINDOW = 10.0  # seconds of CPU measured per case
TICK_MS = 100
_CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLK


def tree() -> list[int]:
    return [os.getpid(), *descendants(os.getpid())]


async def cpu_percent(seconds: float) -> float:
    """CPU of this process and its children over `seconds` of wall time, in % of one core."""
    pids = tree()
    before, t0 = cpu_seconds(pids), time.monotonic()
    await anyio.sleep(seconds)
    return round(100 * (cpu_seconds(pids) - before) / (time.monotonic() - t0), 1)


class Watcher:
    """A viewer: counts frames and timestamps the newest."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames = 0
        self.arrived = anyio.Event()

    async def read(self) -> None:
        async for raw in self.ws:
            if json.loads(raw).get("t") == "frame":
                self.frames += 1
                self.arrived.set()

    async def next_frame(self, timeout: float = 5.0) -> float:
        self.arrived = anyio.Event()
        with anyio.fail_after(timeout):
            await self.arrived.wait()
        return time.monotonic()


async def run() -> dict[str, Any]:
    with serve_site() as site, tempfile.TemporaryDirectory(prefix="live-") as tmp:
        env = {
            "BROWSA_HOME": str(Path(tmp) / "home"),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}",
            "BROWSA_INITIAL_CREDITS": "1000000",
            "BROWSA_WARM_SPARES": "0",
        }
        async with Browsa(load_settings(env)).running() as app:
            request = SessionRequest(initial_url=site.url("/live/ticker.html"), ttl_seconds=900)
            view = await app.sessions.open(DEFAULT_WORKSPACE, None, request)
            assert view.live_url is not None
            target = app.live.registry.target(view.session_id)
            assert target is not None
            page = target.views["main"].tabs.active
            origin = view.live_url.split("/live/", 1)[0]
            cases: list[dict[str, Any]] = []

            async def measure(label: str, watched: bool) -> None:
                if not watched:
                    cases.append({"case": label, "watched": "no", "cpu_%": await cpu_percent(WINDOW), "frames/s": 0})
                    return
                async with websockets.connect(view.live_url.replace("http", "ws", 1) + "/ws", origin=origin) as ws:  # type: ignore[arg-type]
                    watcher = Watcher(ws)
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(watcher.read)
                        await watcher.next_frame(10)
                        start = watcher.frames
                        cpu = await cpu_percent(WINDOW)
                        rate = round((watcher.frames - start) / WINDOW, 1)
                        cases.append({"case": label, "watched": "1 viewer", "cpu_%": cpu, "frames/s": rate})
                        tg.cancel_scope.cancel()

            # Latency: one viewer, one change at a time.
            latencies: list[float] = []
            async with websockets.connect(view.live_url.replace("http", "ws", 1) + "/ws", origin=origin) as ws:  # type: ignore[arg-type]
                watcher = Watcher(ws)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(watcher.read)
                    await watcher.next_frame(10)
                    for _ in range(CHANGES):
                        await anyio.sleep(CHANGE_GAP)
                        waiting = anyio.Event()
                        watcher.arrived = waiting
                        t0 = time.monotonic()
                        await page.evaluate("() => window.bump()")
                        with anyio.fail_after(5):
                            await waiting.wait()
                        latencies.append(time.monotonic() - t0)
                    tg.cancel_scope.cancel()

            await anyio.sleep(1.0)  # the viewer's screencast has stopped
            for watched in (False, True):
                await measure("still page", watched)
            await page.evaluate(f"() => window.tick({TICK_MS})")
            for watched in (False, True):
                await measure(f"page repainting every {TICK_MS} ms", watched)
            await app.sessions.close(DEFAULT_WORKSPACE, view.session_id)
    return {"latency": stats_ms(latencies), "cpu": cases, "load_average": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str]) -> int:
    data = anyio.run(run)
    print_table(
        "Frame latency: page change → frame at the viewer, ms",
        [{"what": "one viewer", **data["latency"]}],
        ["what", "n", "p50", "p90", "min", "max"],
    )
    cpu = data["cpu"]
    for row in cpu:
        base = next(r for r in cpu if r["case"] == row["case"] and r["watched"] == "no")
        row["vs_unwatched"] = f"{row['cpu_%'] - base['cpu_%']:+.1f} pts" if row is not base else "—"
    print_table(
        f"CPU of the session's process tree (this process + Chromium), % of one core over {WINDOW:g} s",
        cpu,
        ["case", "watched", "cpu_%", "vs_unwatched", "frames/s"],
    )
    print(f"\nload average at the end: {data['load_average']} (the machine is shared: compare rows, not runs)")
    write_json("live", data)
    return 0
