"""Observation-size benchmark: our per-step observation against Playwright MCP's snapshot, page by page.

Run: `python -m bench observation`. Pages are the local test sites plus a sample of Debian's Python docs
(real, varied HTML; installed with apt-get when missing and allowed), all served from loopback.
Playwright MCP is installed from npm into bench/.npm at a pinned version and driven over stdio MCP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import anyio
from playwright.async_api import ViewportSize, async_playwright

from bench.common import print_summary, print_table, stats_ms, write_json
from mcp_browsa.browser.discovery import chromium_args, find_chromium
from mcp_browsa.engine.observation import DEFAULT_MAX_CHARS, observe
from mcp_browsa.engine.tabs import Tabs
from tests.support.sites import SITES_DIR, serve_site

__all__ = ["main", "pw_workspace", "serve_dir", "setup_playwright_mcp", "setup_pydoc"]

PLAYWRIGHT_MCP = "@playwright/mcp"
PLAYWRIGHT_MCP_VERSION = "0.0.83"
NPM_DIR = Path(__file__).resolve().parent / ".npm"
TARGET_RATIO = 1 / 3  # our default observation vs Playwright MCP's snapshot, median over pages
BIG_PAGE = "agent/big.html"  # a thousand interactive elements in one frame
BIG_PAGE_TARGET_MS = 300  # steady-state observe() there: a step must not wait on reading a busy page
VIEWPORT: ViewportSize = {"width": 1280, "height": 720}
UNLIMITED = 10**9
OBSERVE_ROUNDS = 4  # the first observation of a page pays for compiling the script; the rest are steady state

# What Chromium needs here: root without a sandbox, and quiet on a closed network.
PW_LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PYDOC_SAMPLE = [
    "index.html",
    "library/index.html",
    "tutorial/index.html",
    "tutorial/introduction.html",
    "tutorial/controlflow.html",
    "tutorial/datastructures.html",
    "library/functions.html",
    "library/json.html",
    "library/re.html",
    "library/collections.html",
    "library/argparse.html",
    "library/stdtypes.html",
    "howto/logging.html",
    "glossary.html",
    "py-modindex.html",
]
SKIP_TEST_PAGES = {"frame_inner.html"}  # shown inside frames.html
# Roles Playwright MCP gives a ref that a model would act on; `[cursor=pointer]` marks other clickable nodes.
INTERACTIVE_ROLES = frozenset(
    {
        *("link", "button", "textbox", "searchbox", "combobox", "checkbox", "radio", "slider", "spinbutton"),
        *("switch", "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "option", "listbox", "treeitem"),
    }
)
_REF_LINE = re.compile(r"^\s*-\s+'?([a-z]+)\b.*?\[ref=([a-z]*\d*e\d+)\](.*)$", re.M)


# -- setup ----------------------------------------------------------------------------------------


def _pydoc_root() -> Path | None:
    roots = [Path("/usr/share/doc/python3/html")]
    roots += sorted(Path("/usr/share/doc").glob("python3.*/html"), reverse=True)
    for root in roots:
        if (root / "library" / "index.html").is_file():
            return root.resolve()
    return None


def setup_pydoc(notes: list[str]) -> Path | None:
    """The Python docs' HTML root, installing Debian's python3-doc first when it is missing and we may."""
    root = _pydoc_root()
    if root is not None:
        return root
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        notes.append("python3-doc is not installed and apt-get is unusable here (not root or no apt-get); skipped")
        return None
    print("installing python3-doc with apt-get (real HTML pages for the benchmark)…", flush=True)
    try:
        proc = subprocess.run(
            [apt, "install", "-y", "--no-install-recommends", "python3-doc"],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        notes.append(f"apt-get install python3-doc failed: {exc}")
        return None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        notes.append(f"apt-get install python3-doc failed (exit {proc.returncode}): {tail[0]}")
        return None
    notes.append("installed python3-doc with apt-get")
    return _pydoc_root()


def _pw_mcp_cli() -> Path:
    return NPM_DIR / "node_modules" / "@playwright" / "mcp" / "cli.js"


def setup_playwright_mcp(notes: list[str]) -> Path | None:
    """cli.js of the pinned @playwright/mcp under bench/.npm, installing it with npm when missing."""
    cli = _pw_mcp_cli()
    manifest = cli.parent / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("version") == PLAYWRIGHT_MCP_VERSION:
        return cli
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        notes.append("Playwright MCP side skipped: npm/node not found (install Node.js 18+ to compare)")
        return None
    spec = f"{PLAYWRIGHT_MCP}@{PLAYWRIGHT_MCP_VERSION}"
    print(f"installing {spec} into {NPM_DIR} …", flush=True)
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [npm, "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund", spec],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        notes.append(f"Playwright MCP side skipped: `npm install {spec}` failed: {exc}")
        return None
    if proc.returncode != 0 or not cli.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        notes.append(f"Playwright MCP side skipped: `npm install {spec}` failed (exit {proc.returncode}): {tail[0]}")
        return None
    return cli


@contextmanager
def serve_dir(root: Path | None) -> Iterator[str | None]:
    """Serve `root` on a loopback port and yield its base URL (None, serving nothing, when root is None)."""
    if root is None:
        yield None
        return

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _pages(test_base: str, pydoc_base: str | None, pydoc_root: Path | None) -> list[tuple[str, str]]:
    pages = []
    for folder in ("agent", "foundation"):
        for path in sorted((SITES_DIR / folder).glob("*.html")):
            if path.name not in SKIP_TEST_PAGES:
                pages.append((f"{folder}/{path.name}", f"{test_base}/{folder}/{path.name}"))
    if pydoc_base and pydoc_root:
        pages += [(f"pydoc/{p}", f"{pydoc_base}/{p}") for p in PYDOC_SAMPLE if (pydoc_root / p).is_file()]
    return pages


# -- our side -------------------------------------------------------------------------------------


async def measure_ours(pages: list[tuple[str, str]], executable: str | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=chromium_args(), headless=True)
        try:
            for name, url in pages:
                context = await browser.new_context(viewport=VIEWPORT)
                tabs = await Tabs.create(context)
                try:
                    await tabs.active.goto(url, wait_until="load", timeout=30_000)
                    times = []
                    for _ in range(OBSERVE_ROUNDS):
                        t0 = time.perf_counter()
                        obs = await observe(tabs)
                        times.append(time.perf_counter() - t0)
                    full = await observe(tabs, max_chars=UNLIMITED)
                finally:
                    tabs.close()
                    await context.close()
                shown = len(re.findall(r"^\[\d+\] ", obs.text, re.M))
                out[name] = {
                    "ours_chars": obs.chars,
                    "ours_unlimited_chars": full.chars,
                    "ours_elements": obs.element_count,
                    "ours_shown": shown,
                    "observe_first_ms": round(times[0] * 1000, 1),
                    "observe_ms": round(statistics.median(times[1:]) * 1000, 1),
                }
        finally:
            await browser.close()
    return out


# -- Playwright MCP side --------------------------------------------------------------------------


def snapshot_refs(text: str) -> tuple[int, int]:
    """(all refs, refs a model would act on) in a Playwright MCP snapshot."""
    every = interactive = 0
    for m in _REF_LINE.finditer(text):
        every += 1
        if m.group(1) in INTERACTIVE_ROLES or "[cursor=pointer]" in m.group(3):
            interactive += 1
    return every, interactive


def _yaml_block(text: str) -> str:
    m = re.search(r"```yaml\n(.*?)```", text, re.S)
    return m.group(1) if m else ""


@contextmanager
def pw_workspace(executable: str | None) -> Iterator[tuple[Path, list[str], TextIO]]:
    """A scratch dir (Playwright MCP writes its output files there), the server's argv, and its stderr log."""
    with tempfile.TemporaryDirectory(prefix="pwmcp-") as tmp:
        launch: dict[str, Any] = {"headless": True, "chromiumSandbox": False, "args": PW_LAUNCH_ARGS}
        if executable:
            launch["executablePath"] = executable
        config = {
            "browser": {
                "browserName": "chromium",
                "isolated": True,
                "launchOptions": launch,
                "contextOptions": {"viewport": VIEWPORT},
            },
            "outputDir": tmp,
        }
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config))
        args = ["--config", str(config_path), "--headless", "--isolated", "--browser", "chromium"]
        args += ["--no-sandbox", "--output-dir", tmp]
        if executable:
            args += ["--executable-path", executable]
        with open(Path(tmp) / "stderr.log", "w+") as errlog:
            yield Path(tmp), args, errlog


async def measure_playwright_mcp(
    pages: list[tuple[str, str]], cli: Path, executable: str | None, notes: list[str]
) -> dict[str, dict[str, Any]]:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    out: dict[str, dict[str, Any]] = {}
    with pw_workspace(executable) as (tmp, args, errlog):
        node = shutil.which("node") or "node"
        params = StdioServerParameters(command=node, args=[str(cli), *args], cwd=str(tmp))
        try:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=120) as client:
                for name, url in pages:
                    nav = await client.call_tool("browser_navigate", {"url": url})
                    if nav.is_error:
                        notes.append(f"Playwright MCP could not open {name}: {_text(nav)[:200]}")
                        continue
                    snap = await client.call_tool("browser_snapshot", {})
                    text = _text(snap)
                    every, interactive = snapshot_refs(text)
                    out[name] = {
                        "pw_chars": len(text),
                        "pw_yaml_chars": len(_yaml_block(text)),
                        "pw_navigate_chars": len(_text(nav)),
                        "pw_refs": every,
                        "pw_interactive_refs": interactive,
                    }
        except Exception as exc:  # the comparison is optional: our side still reports
            errlog.seek(0)
            tail = errlog.read().strip().splitlines()[-3:]
            notes.append(f"Playwright MCP run failed: {exc!r} {' | '.join(tail)}")
    return out


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


# -- report ---------------------------------------------------------------------------------------


async def run() -> dict[str, Any]:
    notes: list[str] = []
    found = find_chromium(os.environ.get("BROWSA_CHROMIUM"))
    pydoc_root = setup_pydoc(notes)
    cli = setup_playwright_mcp(notes)
    with serve_site() as site, serve_dir(pydoc_root) as pydoc_base:
        pages = _pages(site.base, pydoc_base, pydoc_root)
        t0 = time.perf_counter()
        ours = await measure_ours(pages, found.executable)
        ours_s = time.perf_counter() - t0
        theirs: dict[str, dict[str, Any]] = {}
        if cli is not None:
            t0 = time.perf_counter()
            theirs = await measure_playwright_mcp(pages, cli, found.executable, notes)
            notes.append(f"Playwright MCP pass took {time.perf_counter() - t0:.1f}s; ours {ours_s:.1f}s")
    rows = []
    for name, _url in pages:
        row: dict[str, Any] = {"page": name, **ours[name], **theirs.get(name, {})}
        if row.get("pw_chars"):
            row["ratio"] = round(row["ours_chars"] / row["pw_chars"], 3)
            row["ratio_unlimited"] = round(row["ours_unlimited_chars"] / row["pw_chars"], 3)
        rows.append(row)
    return {
        "chromium": found.describe(),
        "playwright_mcp": f"{PLAYWRIGHT_MCP}@{PLAYWRIGHT_MCP_VERSION}" if cli else None,
        "budget_chars": DEFAULT_MAX_CHARS,
        "pages": rows,
        "notes": notes,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    out: dict[str, Any] = {
        "pages": len(rows),
        "ours_median_chars": statistics.median(r["ours_chars"] for r in rows),
        "ours_unlimited_median_chars": statistics.median(r["ours_unlimited_chars"] for r in rows),
        "observe": stats_ms(r["observe_ms"] / 1000 for r in rows),
    }
    big = next((r for r in rows if r["page"] == BIG_PAGE), None)
    if big is not None:
        out["observe_ms_1000_elements"] = big["observe_ms"]
        out["observe_1000_elements_met"] = big["observe_ms"] <= BIG_PAGE_TARGET_MS
    if ratios:
        out["compared_pages"] = len(ratios)
        for group, prefix in (("test_sites", ("agent/", "foundation/")), ("real_pages", ("pydoc/",))):
            some = [r["ratio"] for r in rows if "ratio" in r and r["page"].startswith(prefix)]
            if some:
                out[f"median_ratio_{group}"] = round(statistics.median(some), 3)
        out["pw_median_chars"] = statistics.median(r["pw_chars"] for r in rows if "pw_chars" in r)
        out["median_ratio"] = round(statistics.median(ratios), 3)
        out["median_ratio_unlimited"] = round(statistics.median(r["ratio_unlimited"] for r in rows if "ratio" in r), 3)
        out["target_ratio"] = round(TARGET_RATIO, 3)
        out["met"] = out["median_ratio"] <= TARGET_RATIO
        out["pages_with_fewer_addressable"] = [
            r["page"] for r in rows if "pw_interactive_refs" in r and r["ours_elements"] < r["pw_interactive_refs"]
        ]
    return out


def main(argv: list[str]) -> int:
    data = anyio.run(run)
    rows = data["pages"]
    print_table(
        f"Observation size per page (chars; ours = default {DEFAULT_MAX_CHARS}-char budget, ∞ = no budget)",
        [
            {
                **r,
                "ours": r["ours_chars"],
                "ours ∞": r["ours_unlimited_chars"],
                "pw snapshot": r.get("pw_chars", "n/a"),
                "ratio": r.get("ratio", "n/a"),
                "ratio ∞": r.get("ratio_unlimited", "n/a"),
            }
            for r in rows
        ],
        ["page", "ours", "ours ∞", "pw snapshot", "ratio", "ratio ∞", "observe_ms"],
    )
    print_table(
        "Interactive elements addressable (ours: indexed incl. beyond the budget / shown in the text; "
        "pw: refs on interactive roles or cursor=pointer / all refs)",
        [
            {
                "page": r["page"],
                "ours indexed": r["ours_elements"],
                "ours shown": r["ours_shown"],
                "pw interactive refs": r.get("pw_interactive_refs", "n/a"),
                "pw all refs": r.get("pw_refs", "n/a"),
            }
            for r in rows
        ],
        ["page", "ours indexed", "ours shown", "pw interactive refs", "pw all refs"],
    )
    summary = _summary(rows)
    data["summary"] = summary
    print_summary(summary)
    if "median_ratio" in summary:
        verdict = "met" if summary["met"] else "NOT met"
        print(f"target: median ours/pw ≤ {TARGET_RATIO:.3f} — {verdict} ({summary['median_ratio']})")
    else:
        print("Playwright MCP was not measured; only our side is reported")
    if "observe_ms_1000_elements" in summary:
        verdict = "met" if summary["observe_1000_elements_met"] else "NOT met"
        ms = summary["observe_ms_1000_elements"]
        print(f"target: observe on {BIG_PAGE} (1000 elements) ≤ {BIG_PAGE_TARGET_MS} ms — {verdict} ({ms} ms)")
    for note in data["notes"]:
        print(f"note: {note}")
    write_json("observation", data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
