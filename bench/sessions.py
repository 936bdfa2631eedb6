"""Host-driven sessions against Playwright MCP: the same clicks on the same pages, driven over stdio MCP on both sides.

Run: `python -m bench sessions`. Each scenario starts on a page and clicks links chosen by their text, as a host
model would after reading the page: ours with `act(click, index)` (whose answer carries the new observation) and
`observe`; Playwright MCP with `browser_click(target)` then `browser_snapshot` (its click answers with a file link,
so the host needs the snapshot to see the page). Pages: the local test shop, Debian's Python docs, and a Datasette
instance on a generated SQLite file, all on loopback. Per call latency (p50/p90) and the characters the host reads
per step are reported side by side; rounds of the two sides alternate so machine noise falls on both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.common import print_summary, print_table, stats_ms, write_json
from bench.observation import pw_workspace, serve_dir, setup_playwright_mcp, setup_pydoc
from mcp_browsa.browser.discovery import find_chromium
from tests.support.mcp_server import free_port, server_env
from tests.support.sites import serve_site

__all__ = ["main"]

ROUNDS = 3
TARGET_CHAR_RATIO = 0.1  # characters per step, ours / Playwright MCP's, on the Python docs and Datasette pages
# (name, start path, link texts to click in order); paths are relative to the scenario's server.
SCENARIOS: list[tuple[str, str, str, list[str]]] = [
    ("shop", "shop", "/agent/results.html?q=earbuds", ["Wireless Earbuds Pro — $89.00", "Back to search", "Cart (2)"]),
    ("pydoc", "pydoc", "/index.html", ["Library Reference", "Built-in Functions", "next"]),
    ("datasette", "datasette", "/", ["fx", "books", "Author 37"]),
]


def make_fixture_db(path: Path) -> None:
    """A small library catalogue: 40 authors, 500 books (Datasette shows 100 rows a page)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT, country TEXT)")
    db.execute(
        "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES authors(id),"
        " year INTEGER, pages INTEGER, genre TEXT)"
    )
    countries, genres = ["UK", "FR", "JP", "US", "DE"], ["novel", "essay", "poetry", "history"]
    db.executemany("INSERT INTO authors VALUES (?,?,?)", [(i, f"Author {i}", countries[i % 5]) for i in range(1, 41)])
    # Book 1 is by Author 37: the scenario clicks that author from the first row of the table.
    books = [
        (i, f"Book title {i}", 1 + (i * 36) % 40, 1900 + i % 125, 80 + (i * 13) % 820, genres[i % 4])
        for i in range(1, 501)
    ]
    db.executemany("INSERT INTO books VALUES (?,?,?,?,?,?)", books)
    db.commit()
    db.close()


@contextmanager
def serve_datasette(notes: list[str]) -> Iterator[str | None]:
    exe = shutil.which("datasette", path=str(Path(sys.executable).parent)) or shutil.which("datasette")
    if exe is None:
        notes.append("Datasette pages skipped: `pip install datasette` (the bench extra) to include them")
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-ds-") as tmp:
        db = Path(tmp) / "fx.db"
        make_fixture_db(db)
        port = free_port()
        proc = subprocess.Popen(
            [exe, "serve", str(db), "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("datasette did not start")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(10)


def _text(result: Any) -> str:
    """What the host model reads of a tool result: its text content."""
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


# -- our side -------------------------------------------------------------------------------------


def our_index(observation: str, text: str) -> int:
    for line in observation.splitlines():
        found = re.match(r"\[(\d+)\] <a\b[^>]*> (.*)$", line)
        if found and found.group(2).strip() == text:
            return int(found.group(1))
    # A link inside running text is shown there, as [its words][N].
    inline = re.search(rf"\[{re.escape(text)}\]\[(\d+)\]", observation)
    if inline is not None:
        return int(inline.group(1))
    raise LookupError(f"no link {text!r} in our observation:\n{observation[:3000]}")


def _wire(result: Any) -> int:
    """Characters on the wire: the text content plus structuredContent as JSON."""
    return len(_text(result)) + len(json.dumps(result.structured_content or {}, ensure_ascii=False))


@asynccontextmanager
async def our_client(home: Path, exempt: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_browsa", "--tools", "browser"],
        env=server_env(home, BROWSA_ALLOW_PRIVATE_NETWORK=exempt, BROWSA_INITIAL_CREDITS="100000"),
    )
    with (home / "server.log").open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=120) as client:
            yield client


async def run_ours(client: Client, start: str, clicks: list[str], rows: list[dict[str, Any]], name: str) -> None:
    opened = await client.call_tool("open_session", {"initial_url": start})
    assert not opened.is_error, _text(opened)
    sid = (opened.structured_content or {})["session_id"]
    observation = (opened.structured_content or {})["observation"]
    try:
        for text in clicks:
            try:
                index = our_index(observation, text)
            except LookupError:  # the page was still coming up when it was observed: look again, as a model would
                looked = await client.call_tool("observe", {"session_id": sid})
                index = our_index((looked.structured_content or {})["observation"], text)
            t0 = time.perf_counter()
            acted = await client.call_tool("act", {"session_id": sid, "action": "click", "index": index})
            act_s = time.perf_counter() - t0
            assert not acted.is_error, _text(acted)
            observation = (acted.structured_content or {})["observation"]
            t0 = time.perf_counter()
            looked = await client.call_tool("observe", {"session_id": sid})
            observe_s = time.perf_counter() - t0
            rows.append(
                {"side": "ours", "scenario": name, "click": text, "act_s": act_s, "observe_s": observe_s,
                 "chars": len(_text(acted)), "wire_chars": _wire(acted), "observe_chars": len(_text(looked))}
            )  # fmt: skip
    finally:
        await client.call_tool("close_session", {"session_id": sid})


# -- Playwright MCP side --------------------------------------------------------------------------


def pw_ref(snapshot: str, text: str) -> str:
    found = re.search(rf'- link "{re.escape(text)}" \[ref=(\w+)\]', snapshot)
    if found is None:
        raise LookupError(f"no link {text!r} in the Playwright MCP snapshot")
    return found.group(1)


async def run_theirs(client: Client, start: str, clicks: list[str], rows: list[dict[str, Any]], name: str) -> None:
    await client.call_tool("browser_navigate", {"url": start})
    snapshot = _text(await client.call_tool("browser_snapshot", {}))
    for text in clicks:
        t0 = time.perf_counter()
        clicked = await client.call_tool("browser_click", {"element": f"link {text}", "target": pw_ref(snapshot, text)})
        click_s = time.perf_counter() - t0
        assert not clicked.is_error, _text(clicked)
        t0 = time.perf_counter()
        snap = await client.call_tool("browser_snapshot", {})
        snapshot_s = time.perf_counter() - t0
        snapshot = _text(snap)
        rows.append(
            {"side": "playwright-mcp", "scenario": name, "click": text, "act_s": click_s + snapshot_s,
             "click_s": click_s, "observe_s": snapshot_s, "chars": len(_text(clicked)) + len(snapshot),
             "wire_chars": _wire(clicked) + _wire(snap), "observe_chars": len(snapshot)}
        )  # fmt: skip


# -- the run --------------------------------------------------------------------------------------


async def run() -> dict[str, Any]:
    notes: list[str] = [f"machine shared with other work; load average at start {os.getloadavg()[0]:.2f}"]
    found = find_chromium(os.environ.get("BROWSA_CHROMIUM"))
    cli = setup_playwright_mcp(notes)
    pydoc_root = setup_pydoc(notes)
    rows: list[dict[str, Any]] = []
    with (
        serve_site() as shop,
        serve_dir(pydoc_root) as pydoc,
        serve_datasette(notes) as datasette,
        tempfile.TemporaryDirectory(prefix="bench-ses-") as home,
    ):
        bases = {"shop": shop.base, "pydoc": pydoc, "datasette": datasette}
        exempt = ",".join(b.removeprefix("http://") for b in bases.values() if b)
        scenarios = [(n, bases[b] + p, c) for n, b, p, c in SCENARIOS if bases[b]]
        async with our_client(Path(home), exempt) as ours:
            if cli is None:
                for _ in range(ROUNDS):
                    for name, start, clicks in scenarios:
                        await run_ours(ours, start, clicks, rows, name)
            else:
                with pw_workspace(found.executable) as (tmp, args, errlog):
                    node = shutil.which("node") or "node"
                    params = StdioServerParameters(command=node, args=[str(cli), *args], cwd=str(tmp))
                    async with Client(
                        stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=120
                    ) as pw:
                        for _ in range(ROUNDS):
                            for name, start, clicks in scenarios:
                                await run_ours(ours, start, clicks, rows, name)
                                await run_theirs(pw, start, clicks, rows, name)
    return {"chromium": found.describe(), "rounds": ROUNDS, "steps": rows, "notes": notes}


def _side(rows: list[dict[str, Any]], side: str, scenarios: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    return [r for r in rows if r["side"] == side and (scenarios is None or r["scenario"] in scenarios)]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("ours", "playwright-mcp"):
        mine = _side(rows, side)
        if not mine:
            continue
        out[side] = {
            "act": stats_ms(r["act_s"] for r in mine),
            "observe": stats_ms(r["observe_s"] for r in mine),
            "chars_per_step_mean": round(statistics.mean(r["chars"] for r in mine)),
            "wire_chars_per_step_mean": round(statistics.mean(r["wire_chars"] for r in mine)),
        }
        if side == "playwright-mcp":
            out[side]["click_only"] = stats_ms(r["click_s"] for r in mine)
    if "playwright-mcp" in out and "ours" in out:
        real = ("pydoc", "datasette")
        per = {}
        for scenario in sorted({r["scenario"] for r in rows}):
            # Mean per step: what a scenario's clicks cost the host in all, big pages included.
            a = statistics.mean(r["chars"] for r in _side(rows, "ours", (scenario,)))
            b = statistics.mean(r["chars"] for r in _side(rows, "playwright-mcp", (scenario,)))
            per[scenario] = round(a / b, 3)
        out["chars_ratio_by_scenario"] = per
        worst_real = max((v for k, v in per.items() if k in real), default=None)
        out["chars_target"] = f"≤ {TARGET_CHAR_RATIO} on {', '.join(real)}"
        out["chars_met"] = worst_real is not None and worst_real <= TARGET_CHAR_RATIO
        ours_p50, theirs_p50 = out["ours"]["act"]["p50"], out["playwright-mcp"]["act"]["p50"]
        out["act_p50_ratio"] = round(ours_p50 / theirs_p50, 3)
        out["act_met"] = ours_p50 <= theirs_p50
    return out


def main(argv: list[str]) -> int:
    data = anyio.run(run)
    rows = data["steps"]
    table = []
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        for side in ("ours", "playwright-mcp"):
            mine = _side(rows, side, (scenario,))
            if mine:
                table.append(
                    {"scenario": scenario, "side": side, "steps": len(mine),
                     "act p50": stats_ms(r["act_s"] for r in mine)["p50"],
                     "act p90": stats_ms(r["act_s"] for r in mine)["p90"],
                     "observe p50": stats_ms(r["observe_s"] for r in mine)["p50"],
                     "chars/step": round(statistics.mean(r["chars"] for r in mine)),
                     "median chars": statistics.median(r["chars"] for r in mine),
                     "wire chars/step": round(statistics.mean(r["wire_chars"] for r in mine))}
                )  # fmt: skip
    columns = ["scenario", "side", "steps", "act p50", "act p90", "observe p50", "chars/step", "median chars"]
    columns.append("wire chars/step")
    print_table(
        "Sessions: per-call ms and characters the host reads per step (same clicks, same Chromium)", table, columns
    )
    summary = summarize(rows)
    data["summary"] = summary
    print_summary(summary)
    if "act_met" in summary:
        print(f"target act p50 ≤ Playwright MCP's: {'met' if summary['act_met'] else 'NOT met'}")
        print(f"target chars/step {summary['chars_target']}: {'met' if summary['chars_met'] else 'NOT met'}")
    print("\n".join(f"note: {note}" for note in data["notes"]))
    write_json("sessions", data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
