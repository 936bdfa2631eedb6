"""`python -m bench coldstart [--rounds N]`: spawn → first page through a real MCP client over stdio, ours against
Playwright MCP on the same page, with the same Chromium, the two alternated round by round.

Ours answers `scrape`; Playwright MCP answers `browser_navigate`. Both are driven the way a host drives them:
`initialize`, `tools/list`, then the call. Each phase is timed from the spawn, so the table shows where a cold start
goes; ours also says when its Chromium was up (from its log). `--baseline DIR` adds a third side, our server run
from another checkout (say `git worktree add /tmp/base main`), for a before/after measured in the same run.
`python -m bench content` reports the same figures beside its other targets.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.common import print_table, write_json
from bench.observation import pw_workspace, serve_dir, setup_playwright_mcp, setup_pydoc
from mcp_browsa.browser.discovery import find_chromium
from tests.support.mcp_server import server_env

__all__ = ["PHASES", "main", "measure"]

ROUNDS = 5
TARGET = 1.0  # our first scrape's time over Playwright MCP's first navigate's, at most
PAGE = "library/json.html"
PHASES = ("initialize", "tools_list", "first_result", "cpu")
BROWSER_UP = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO mcp_browsa\.browser\.host: Chromium \S+ up in", re.M
)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def _phases(client_for: Any, call: tuple[str, dict[str, Any]]) -> dict[str, float]:
    """Seconds from the spawn to the answer of `initialize`, of `tools/list` and of the first call; and `cpu`, the
    CPU seconds the server and its browser used from spawn to exit (on a busy machine, what the wall time follows)."""
    cpu = _children_cpu()
    t0 = time.perf_counter()
    async with client_for() as client:
        out = {"initialize": time.perf_counter() - t0}
        await client.list_tools()
        out["tools_list"] = time.perf_counter() - t0
        result = await client.call_tool(*call)
        out["first_result"] = time.perf_counter() - t0
        if result.is_error:
            raise RuntimeError(f"{call[0]} failed on a cold start: {result.content}")
    out["cpu"] = _children_cpu() - cpu  # the client has reaped the server, which reaped its driver and browser
    return out


async def cold_ours(url: str, checkout: Path | None = None) -> dict[str, float]:
    """Our phases, plus `browser_up`: when the server's log says Chromium was up (0 when it does not say)."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as home:
        env = server_env(Path(home), BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_LOG_LEVEL="INFO")
        if checkout is not None:  # `-m` puts the working directory first on sys.path: run from the checkout too
            env["PYTHONPATH"] = str(checkout)
        cwd = str(checkout) if checkout is not None else None
        params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_browsa"], env=env, cwd=cwd)
        log = Path(home) / "stderr.log"
        with log.open("w+") as errlog:
            spawned = time.time()
            out = await _phases(
                lambda: Client(stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=120),
                ("scrape", {"url": url}),
            )
        up = BROWSER_UP.search(log.read_text())
        stamp = datetime.strptime(up.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if up else None
        out["browser_up"] = max(0.0, stamp - spawned) if stamp is not None else 0.0
        return out


async def cold_playwright_mcp(cli: Path, executable: str, url: str) -> dict[str, float]:
    with pw_workspace(executable) as (tmp, args, errlog):
        params = StdioServerParameters(command=shutil.which("node") or "node", args=[str(cli), *args], cwd=str(tmp))
        return await _phases(
            lambda: Client(stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=120),
            ("browser_navigate", {"url": url}),
        )


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {phase: round(statistics.median(s[phase] for s in samples), 3) for phase in samples[0]}


async def measure(
    executable: str, url: str, notes: list[str], rounds: int = ROUNDS, baseline: Path | None = None
) -> dict[str, Any]:
    """Medians over `rounds` cold starts of each side, alternated (ours, theirs, ours…) so all meet the same load."""
    cli = setup_playwright_mcp(notes)
    sides: dict[str, list[dict[str, float]]] = {"ours": [], "playwright_mcp": [], "baseline": []}
    for _ in range(rounds):
        sides["ours"].append(await cold_ours(url))
        if cli is not None:
            sides["playwright_mcp"].append(await cold_playwright_mcp(cli, executable, url))
        if baseline is not None:
            sides["baseline"].append(await cold_ours(url, baseline))
    out: dict[str, Any] = {"rounds": rounds}
    for side, samples in sides.items():
        if samples:
            out |= {side: _medians(samples), f"{side}_samples": samples}
    if "playwright_mcp" in out:
        out["ratio"] = round(out["ours"]["first_result"] / out["playwright_mcp"]["first_result"], 2)
        if baseline is not None:
            out["baseline_ratio"] = round(out["baseline"]["first_result"] / out["playwright_mcp"]["first_result"], 2)
    return out


def phase_rows(cold: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per phase: seconds from the spawn for each side, and ours over Playwright MCP's."""
    rows = []
    theirs = cold.get("playwright_mcp", {})
    for phase in (*PHASES, "browser_up"):  # browser_up: when our log said Chromium was up
        ours = cold["ours"][phase]
        pw = theirs.get(phase)
        label = "cpu (s, server and browser)" if phase == "cpu" else phase
        row = {"phase (s from spawn)": label, "ours": ours, "playwright_mcp": pw or "n/a"}
        row["ratio"] = f"{ours / pw:.2f}×" if pw else ""
        if "baseline" in cold:
            row["baseline"] = cold["baseline"][phase]
        rows.append(row)
    return rows


async def run(rounds: int, baseline: Path | None) -> dict[str, Any]:
    notes = ["machine shared with other work while measuring: compare ratios, not absolute times"]
    found = find_chromium()
    if found is None:
        raise SystemExit("no Chromium found; run `mcp-browsa install-browser`")
    root = setup_pydoc(notes)
    if root is None:
        raise SystemExit("python3-doc is needed for this benchmark: " + "; ".join(notes))
    with serve_dir(root) as base:
        out = await measure(found.executable, f"{base}/{PAGE}", notes, rounds, baseline)
    return {"notes": notes, "target": TARGET, **out}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench coldstart")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"cold starts of each side (default {ROUNDS})")
    parser.add_argument("--baseline", type=Path, help="also time our server from this checkout (a before/after)")
    args = parser.parse_args(argv)
    out = anyio.run(run, args.rounds, args.baseline)
    title = f"cold start: spawn → first page, medians of {out['rounds']} alternated rounds (target ≤ {TARGET}×)"
    columns = ["phase (s from spawn)", "ours", "playwright_mcp", "ratio"] + (["baseline"] if args.baseline else [])
    print_table(title, phase_rows(out), columns)
    if args.baseline and "baseline_ratio" in out:
        print(f"first result over Playwright MCP's: ours {out['ratio']}×, baseline {out['baseline_ratio']}×")
    for note in out["notes"]:
        print(f"note: {note}")
    write_json("coldstart", out)
    return 0
