"""Identities benchmark: create_identity → CDP-ready latency, beside a plain `chromium --remote-debugging-port` start.

Run: `python -m bench identities [--n N]`. Both are measured in the same run, alternating, so machine load hits both
alike. "CDP-ready" is when /json/version answers; create_identity also fingerprints the browser, measures its trust
score and records it, which is what the gap between the two rows pays for. A separate Playwright's connect_over_cdp
to the burner is timed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from playwright.async_api import async_playwright

from bench.common import print_table, stats_ms, write_json
from mcp_browsa.app import Browsa
from mcp_browsa.browser.discovery import chromium_args, find_chromium
from mcp_browsa.config import load_settings
from mcp_browsa.identities import build_spec
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE

__all__ = ["main"]


async def plain_start(executable: str) -> float:
    """Seconds from spawning a bare headless Chromium with a DevTools port to /json/version answering."""
    profile = Path(tempfile.mkdtemp(prefix="bench-plain-"))
    args = [
        executable,
        "--headless",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        *chromium_args(),
        "about:blank",
    ]
    t0 = time.perf_counter()
    proc = await anyio.open_process(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = anyio.Path(profile / "DevToolsActivePort")
        async with httpx.AsyncClient() as http:
            while True:
                lines = (await port_file.read_text()).splitlines() if await port_file.exists() else []
                if len(lines) >= 2:
                    try:
                        (await http.get(f"http://127.0.0.1:{lines[0]}/json/version", timeout=5)).raise_for_status()
                        return time.perf_counter() - t0
                    except httpx.HTTPError:
                        pass
                await anyio.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        await proc.aclose()
        shutil.rmtree(profile, ignore_errors=True)


async def run(n: int) -> dict[str, Any]:
    executable = find_chromium(os.environ.get("BROWSA_CHROMIUM")).executable or "chromium"
    home = Path(tempfile.mkdtemp(prefix="bench-identities-"))
    settings = load_settings({"BROWSA_HOME": str(home), "BROWSA_WARM_SPARES": "0", "BROWSA_MAX_BURNERS": "4"})
    spec = build_spec(
        mode="burner",
        ttl="5m",
        ttl_seconds=None,
        os_type="OS_TYPE_WINDOWS",
        country="DE",
        persona=None,
        warmup_recipe=None,
        initial_url=None,
        allowed_domains=None,
        recipes={},
    )
    plain: list[float] = []
    create: list[float] = []
    connect: list[float] = []
    scores: list[int] = []
    failed: dict[str, int] = {}
    try:
        async with Browsa(settings).running() as app, async_playwright() as pw:
            # One unmeasured round each: the first launch reads the binary from disk.
            await plain_start(executable)
            warm = await app.identities.create(DEFAULT_WORKSPACE, spec)
            await app.identities.destroy(DEFAULT_WORKSPACE, warm.id)
            for _ in range(n):
                plain.append(await plain_start(executable))
                t0 = time.perf_counter()
                agent = await app.identities.create(DEFAULT_WORKSPACE, spec)
                create.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                browser = await pw.chromium.connect_over_cdp(agent.cdp_url or "")
                connect.append(time.perf_counter() - t0)
                await browser.close()
                scores.append(agent.trust_score or 0)
                for name in (agent.trust or {}).get("failed", []):
                    failed[name] = failed.get(name, 0) + 1
                await app.identities.destroy(DEFAULT_WORKSPACE, agent.id)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "plain_chromium_cdp_ready": stats_ms(plain),
        "create_identity_cdp_ready": stats_ms(create),
        "user_connect_over_cdp": stats_ms(connect),
        "trust_scores": sorted(set(scores)),
        "failed_checks": failed,
        "browser": executable,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench identities")
    parser.add_argument("--n", type=int, default=10, help="measured rounds (default 10)")
    args = parser.parse_args(argv)
    data = anyio.run(run, args.n)
    plain, create = data["plain_chromium_cdp_ready"], data["create_identity_cdp_ready"]
    print_table(
        "Spawn → CDP ready (/json/version answers), ms",
        [
            {"what": "plain chromium --remote-debugging-port", **plain},
            {"what": "create_identity (burner, fingerprint + trust)", **create},
            {"what": "then a user's connect_over_cdp", **data["user_connect_over_cdp"]},
        ],
        ["what", "n", "p50", "p90", "min", "max"],
    )
    print(f"create_identity costs {create['p50'] - plain['p50']:.0f} ms (p50) over a bare launch")
    print(f"trust scores seen: {data['trust_scores']}; failed checks (count of rounds): {data['failed_checks']}")
    write_json("identities", data)
    return 0
