"""`python -m bench content`: real docs pages through our batch and crawl against raw Playwright tabs, cold start
against Playwright MCP, markdown cost per 100 KB and the observation of a 100-row table, side by side in one run.

Pages are Debian's python3-doc (real Sphinx pages, about a dozen subresources each) served from loopback. Each
comparison alternates the two sides ROUNDS times and reports medians and the ratio of the medians.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from playwright.async_api import async_playwright

from bench.coldstart import PAGE as COLD_PAGE
from bench.coldstart import measure as cold_start
from bench.common import cpu_by_kind, cpu_delta, descendants, print_table, write_json
from bench.observation import serve_dir, setup_pydoc
from mcp_browsa.browser.discovery import chromium_args, find_chromium
from mcp_browsa.engine.observation import observe
from mcp_browsa.engine.reader import read_markdown
from mcp_browsa.engine.tabs import Tabs
from tests.support.mcp_server import server_env
from tests.support.sites import serve_site

__all__ = ["main"]

ROUNDS = 3
TABS = 4
BATCH_PAGES = 60
CRAWL_PAGES = 60
TARGETS = {"batch_with_media": 0.9, "batch_text_only": 1.2, "cold_start": 1.0, "datasette_rows": 40}
ROW = re.compile(r"^\[\d+\]\[\d+\] ?\|", re.M)  # a row whose first cell is a link: "[1][26]|…"
MARKDOWN_PAGES = ("library/stdtypes.html", "library/functions.html", "library/re.html", "tutorial/introduction.html")


def _docs_pages(root: Path) -> list[str]:
    pages = sorted(p.relative_to(root).as_posix() for p in (root / "library").glob("*.html"))
    return pages[:BATCH_PAGES]


def _server(home: Path, **env: str) -> StdioServerParameters:
    env = server_env(home, BROWSA_ALLOW_PRIVATE_NETWORK="1", **env)
    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_browsa"], env=env)


@asynccontextmanager
async def _ours(**env: str) -> AsyncIterator[Client]:
    with tempfile.TemporaryDirectory(prefix="bench-content-") as home:
        params = _server(Path(home), BROWSA_MAX_BURNERS=str(TABS), BROWSA_INITIAL_CREDITS="1000000", **env)
        async with Client(stdio_client(params), read_timeout_seconds=300) as client:
            yield client


async def _job_done(client: Client, job_id: str) -> dict[str, Any]:
    while True:
        job = (await client.call_tool("get_job", {"job_id": job_id, "wait": 25})).structured_content or {}
        if job.get("status") in ("completed", "failed", "cancelled"):
            return job


def _tree_cpu() -> dict[int, tuple[str, float]]:
    """CPU so far of this process (the docs' server and the MCP or Playwright client: "bench") and its children."""
    me = os.getpid()
    return {p: ("bench" if p == me else kind, s) for p, (kind, s) in cpu_by_kind([me, *descendants(me)]).items()}


async def ours_batch(client: Client, urls: list[str], load_media: bool) -> tuple[float, int, dict[str, float]]:
    """(seconds, rows completed, CPU seconds per process kind of the server's tree and this process)."""
    before = _tree_cpu()
    started = time.perf_counter()
    args = {"urls": urls, "formats": ["markdown"], "concurrency": TABS, "load_media": load_media}
    job = (await client.call_tool("batch", args)).structured_content or {}
    done = await _job_done(client, job["id"])
    elapsed = time.perf_counter() - started
    ok = sum(1 for i in done.get("items", []) if i["status"] == "completed")
    return elapsed, ok, cpu_delta(before, _tree_cpu())


async def raw_batch(executable: str, urls: list[str]) -> tuple[float, dict[str, float]]:
    """Raw Playwright: one context, TABS tabs, each loading pages to `load` and reading their text; (seconds, CPU
    seconds per process kind, read before its browser closes)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=chromium_args(), headless=True)
        try:
            context = await browser.new_context()
            pages = [await context.new_page() for _ in range(TABS)]
            queue = iter(urls)
            before = _tree_cpu()
            started = time.perf_counter()

            async def tab(n: int) -> None:
                for url in queue:
                    await pages[n].goto(url, wait_until="load")
                    await pages[n].evaluate("document.body.innerText.length")

            async with anyio.create_task_group() as tg:
                for n in range(TABS):
                    tg.start_soon(tab, n)
            return time.perf_counter() - started, cpu_delta(before, _tree_cpu())
        finally:
            await browser.close()


async def crawl_rate(client: Client, start: str) -> tuple[float, int]:
    started = time.perf_counter()
    args = {"url": start, "max_pages": CRAWL_PAGES, "max_depth": 3, "concurrency": TABS, "include": ["/library/*"]}
    job = (await client.call_tool("crawl", args)).structured_content or {}
    done = await _job_done(client, job["id"])
    elapsed = time.perf_counter() - started
    ok = sum(1 for i in done.get("items", []) if i["status"] == "completed")
    return elapsed, ok


async def markdown_cost(executable: str, base: str, root: Path) -> list[dict[str, Any]]:
    rows = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=chromium_args(), headless=True)
        try:
            page = await browser.new_page()
            for name in MARKDOWN_PAGES:
                size = (root / name).stat().st_size
                await page.goto(f"{base}/{name}", wait_until="load")
                times = []
                for _ in range(ROUNDS + 1):
                    t0 = time.perf_counter()
                    made = await read_markdown(page, cap=10**7)
                    times.append(time.perf_counter() - t0)
                ms = statistics.median(times[1:]) * 1000
                rows.append(
                    {
                        "page": name,
                        "html_kb": round(size / 1024),
                        "markdown_kb": round(made["total"] / 1024),
                        "ms": round(ms, 1),
                        "ms_per_100kb": round(ms * 100 * 1024 / size, 1),
                    }
                )
        finally:
            await browser.close()
    return rows


async def datasette_rows(executable: str) -> dict[str, Any]:
    with serve_site() as site:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=executable, args=chromium_args(), headless=True)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 720})
                tabs = await Tabs.create(context)
                await tabs.active.goto(site.url("/content/datasette.html"), wait_until="load")
                obs = await observe(tabs)
                tabs.close()
            finally:
                await browser.close()
    return {"rows_shown": len(ROW.findall(obs.text)), "chars": obs.chars, "elements": obs.element_count}


def _cpu_per_100(samples: list[dict[str, float]], pages: int) -> dict[str, float]:
    """Median CPU seconds per 100 pages of each process kind over the rounds."""
    kinds = sorted({kind for sample in samples for kind in sample})
    return {kind: round(statistics.median(s.get(kind, 0.0) for s in samples) * 100 / pages, 2) for kind in kinds}


def _median_pair(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


async def run() -> dict[str, Any]:
    notes: list[str] = ["machine shared with other work while measuring: compare ratios, not absolute times"]
    found = find_chromium()
    if found is None:
        raise SystemExit("no Chromium found; run `mcp-browsa install-browser`")
    executable = found.executable
    root = setup_pydoc(notes)
    if root is None:
        raise SystemExit("python3-doc is needed for this benchmark: " + "; ".join(notes))
    out: dict[str, Any] = {"notes": notes, "targets": TARGETS}
    with serve_dir(root) as base:
        assert base is not None
        urls = [f"{base}/{p}" for p in _docs_pages(root)]
        batch: dict[str, list[float]] = {"raw": [], "ours_media": [], "ours_text": []}
        cpu: dict[str, list[dict[str, float]]] = {key: [] for key in batch}
        crawls: list[tuple[float, int]] = []
        async with _ours() as client:
            await ours_batch(client, urls[:8], load_media=True)  # the browser starts; caches warm
            await raw_batch(executable, urls[:8])
            for _ in range(ROUNDS):
                elapsed, used = await raw_batch(executable, urls)
                batch["raw"].append(len(urls) / elapsed)
                cpu["raw"].append(used)
                for key, media in (("ours_media", True), ("ours_text", False)):
                    elapsed, ok, used = await ours_batch(client, urls, load_media=media)
                    if ok != len(urls):
                        notes.append(f"{key}: {len(urls) - ok} of {len(urls)} rows failed")
                    batch[key].append(len(urls) / elapsed)
                    cpu[key].append(used)
                crawls.append(await crawl_rate(client, f"{base}/library/index.html"))
        out["cpu_per_100_pages"] = {key: _cpu_per_100(samples, len(urls)) for key, samples in cpu.items()}
        raw = statistics.median(batch["raw"])
        out["batch"] = {
            "pages": len(urls),
            "tabs": TABS,
            "raw_pages_per_s": round(raw, 2),
            "ours_with_media_pages_per_s": round(statistics.median(batch["ours_media"]), 2),
            "ours_text_only_pages_per_s": round(statistics.median(batch["ours_text"]), 2),
            "ratio_with_media": round(statistics.median(batch["ours_media"]) / raw, 2),
            "ratio_text_only": round(statistics.median(batch["ours_text"]) / raw, 2),
        }
        elapsed, pages = _median_pair([(c[0], float(c[1])) for c in crawls])
        out["crawl"] = {"pages": int(pages), "seconds": round(elapsed, 2), "pages_per_s": round(pages / elapsed, 2)}
        out["markdown"] = await markdown_cost(executable, base, root)

        # `python -m bench coldstart` runs this part alone, with its per-phase table.
        out["cold_start"] = await cold_start(executable, f"{base}/{COLD_PAGE}", notes, ROUNDS)
    out["datasette"] = await datasette_rows(executable)
    return out


def _report(out: dict[str, Any]) -> None:
    b, c, cold, d = out["batch"], out["crawl"], out["cold_start"], out["datasette"]
    md = out["markdown"]
    per100 = round(statistics.median(r["ms_per_100kb"] for r in md), 1)
    rows = [
        {"figure": "batch with media vs raw Playwright", "value": f"{b['ratio_with_media']}×", "target": "≥ 0.9×"},
        {"figure": "batch text-only vs raw Playwright", "value": f"{b['ratio_text_only']}×", "target": "≥ 1.2×"},
        {"figure": "raw Playwright pages/s", "value": b["raw_pages_per_s"], "target": ""},
        {
            "figure": "ours pages/s (media / text)",
            "value": f"{b['ours_with_media_pages_per_s']} / {b['ours_text_only_pages_per_s']}",
            "target": "",
        },
        {"figure": "crawl pages/s (docs site)", "value": c["pages_per_s"], "target": "reported"},
        {
            "figure": "cold start: first scrape vs PW MCP navigate",
            "value": f"{cold.get('ratio', 'n/a')}×",
            "target": "≤ 1.0×",
        },
        {
            "figure": "cold start ours / PW MCP (s)",
            "value": f"{cold['ours']['first_result']} / {cold.get('playwright_mcp', {}).get('first_result', 'n/a')}",
            "target": "",
        },
        {"figure": "markdown ms per 100 KB (in page)", "value": per100, "target": "off the server (0 ms of Python)"},
        {"figure": "datasette rows in first observation", "value": d["rows_shown"], "target": "≥ 40"},
    ]
    print_table("content: figures beside their targets (medians, same run)", rows, ["figure", "value", "target"])
    print_table("markdown in the page", md, ["page", "html_kb", "markdown_kb", "ms", "ms_per_100kb"])
    cpu = [{"side": side, **used} for side, used in out["cpu_per_100_pages"].items()]
    print_table("CPU seconds per 100 pages (medians)", cpu, ["side", "python", "driver", "browser", "bench"])
    for note in out["notes"]:
        print(f"note: {note}")


def main(argv: list[str]) -> int:
    out = anyio.run(run)
    _report(out)
    write_json("content", out)
    return 0
