"""An `initialize` flood over streamable HTTP: many clients opening sessions as fast as they can, the server's RSS
sampled before, throughout and after the sessions expired. Run as the `sessions` part of `python -m bench
reliability`, once with the session caps and once with them lifted (the SDK's own limits), side by side.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.support.http_keys import mint
from tests.support.mcp_server import HttpServer, spawn_http

__all__ = ["UNCAPPED", "flood_row", "session_flood"]

VERSION = "2025-06-18"
HELLO = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "flood", "version": "0"}},
}
# The caps lifted to the SDK's own limits (10,000 sessions, 30 minutes idle): how the server behaved before them.
UNCAPPED = {
    "BROWSA_MAX_HTTP_SESSIONS": "10000",
    "BROWSA_MAX_HTTP_SESSIONS_PER_KEY": "10000",
    "BROWSA_HTTP_SESSION_IDLE_SECONDS": "1800",
}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _flood(server: HttpServer, keys: list[str], clients: int, seconds: float) -> tuple[Counter[int], list[str]]:
    statuses: Counter[int] = Counter()
    opened: list[str] = []
    deadline = anyio.current_time() + seconds
    turn = itertools.cycle(keys)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def client() -> None:
            while anyio.current_time() < deadline:
                key = next(turn)
                headers = {"X-API-Key": key, "Accept": "application/json, text/event-stream"}
                try:
                    answer = await http.post(server.url, json=HELLO, headers=headers)
                except httpx.HTTPError:
                    statuses[0] += 1
                    continue
                statuses[answer.status_code] += 1
                if "mcp-session-id" in answer.headers:
                    opened.append(f"{key} {answer.headers['mcp-session-id']}")

        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(client)
    return statuses, opened


async def _gone(server: HttpServer, opened: str, idle: float, timeout: float) -> float:
    """Seconds until the session answers 404 (its idle time ran out); fails after `timeout`. Each ping restarts
    the session's clock, so they come further apart than `idle`."""
    key, sid = opened.split(" ")
    headers = {"X-API-Key": key, "mcp-session-id": sid, "mcp-protocol-version": VERSION}
    headers["Accept"] = "application/json, text/event-stream"
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            answer = await http.post(server.url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers)
            if answer.status_code == 404:
                return round(time.monotonic() - t0, 1)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"session still open after {timeout} s")
            await anyio.sleep(idle + 1.0)


async def session_flood(
    home: Path, *, clients: int, seconds: float, keys: int, idle_seconds: float, env: dict[str, str], rounds: int = 2
) -> dict[str, Any]:
    """Flood a fresh server with `initialize` from `clients` concurrent clients over `keys` API keys, `rounds`
    times, each time waiting for the sessions to expire (when they can within the bench). RSS after a round is
    the allocator's high-water mark, not the live sessions: a second round that does not raise it shows that the
    memory of ended sessions is free and used again, where a leak would add to it."""
    settings = {"BROWSA_WARM_SPARES": "0", "BROWSA_HTTP_SESSION_IDLE_SECONDS": str(int(idle_seconds)), **env}
    idle = float(settings["BROWSA_HTTP_SESSION_IDLE_SECONDS"])
    with spawn_http(home, **settings) as server:
        minted = [mint(home, f"flood-{i}") for i in range(keys)]
        pid = server.proc.pid
        await anyio.sleep(1.0)  # let start-up settle before the baseline
        before = rss_mib(pid)
        done = []
        for _ in range(rounds):
            samples: list[float] = []
            stop = anyio.Event()

            async def sample(stop: anyio.Event, samples: list[float]) -> None:
                while not stop.is_set():
                    samples.append(rss_mib(pid))
                    with anyio.move_on_after(0.5):
                        await stop.wait()

            t0 = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(sample, stop, samples)
                statuses, opened = await _flood(server, minted, clients, seconds)
                stop.set()
            flood_seconds = round(time.monotonic() - t0, 1)
            expired_after = None
            if opened and idle <= 120:
                expired_after = await _gone(server, opened[-1], idle, timeout=idle * 3 + 30)
                await anyio.sleep(2.0)  # the session tasks finish winding down
            done.append(
                {
                    "flood_seconds": flood_seconds,
                    "sessions_opened": len(opened),
                    "statuses": {str(k): v for k, v in sorted(statuses.items())},
                    "rss_mib_peak": max(samples, default=rss_mib(pid)),
                    "last_session_expired_after_s": expired_after,
                    "rss_mib_after": rss_mib(pid),
                }
            )
    return {
        "clients": clients,
        "keys": keys,
        "idle_seconds": idle,
        "caps": {k: v for k, v in settings.items() if "SESSION" in k},
        "rss_mib_before": before,
        "rounds": done,
        "sessions_opened": sum(r["sessions_opened"] for r in done),
        "rss_mib_peak": max(r["rss_mib_peak"] for r in done),
        "rss_mib_after": done[-1]["rss_mib_after"],
        "expired": all(r["last_session_expired_after_s"] is not None for r in done),
    }


def flood_row(name: str, r: dict[str, Any]) -> dict[str, Any]:
    """One line of the reliability table; a capped run is a PROBLEM when its sessions never expired."""
    per_round = "; ".join(
        f"{x['sessions_opened']} sessions in {x['flood_seconds']} s, peak {x['rss_mib_peak']}, after {x['rss_mib_after']}"
        for x in r["rounds"]
    )
    figures = f"{r['clients']} clients: RSS {r['rss_mib_before']} MiB before; {per_round} MiB"
    expired = name != "capped" or r["expired"]
    return {"part": f"HTTP session flood, {name}", "figures": figures, "verdict": "ok" if expired else "PROBLEM"}
