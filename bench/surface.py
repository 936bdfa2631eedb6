"""Surface benchmark: what the host loads and reads, in characters, beside Playwright MCP on the same pages.

Run: `python -m bench surface`. Over real stdio MCP sessions:
- `tools/list` per tool group, for the host profile and for everything, as the wire carries it; and, in process,
  the same tools as the SDK would list them without compaction (what `tools/list` cost before);
- per result: the text block the model reads and the whole result (text + structuredContent) for scrape and
  get_job, and for act/observe when the server has sessions; the JSON the text used to be, for comparison;
- Playwright MCP's `tools/list`, and its navigate + snapshot texts on the same pages.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ListToolsResult

from bench.common import print_table, write_json
from bench.observation import pw_workspace, serve_dir, setup_playwright_mcp, setup_pydoc
from mcp_browsa.app import Browsa
from mcp_browsa.browser.discovery import find_chromium
from mcp_browsa.config import Settings
from mcp_browsa.tools.assemble import build_server
from tests.support.mcp_server import server_env
from tests.support.sites import serve_site

__all__ = ["main"]

BUDGET = 25_000
GROUPS = ("tasks", "jobs", "quick", "browser", "content", "identities", "webhooks", "account")
TEST_PAGES = ["/foundation/article.html", "/agent/results.html?q=earbuds", "/agent/long.html", "/agent/big.html"]
PYDOC_PAGES = ["library/json.html", "tutorial/controlflow.html", "library/functions.html"]


def _wire(result: Any) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True))


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def _client(home: Path, *args: str, **env: str) -> Client:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_browsa", *args], env=server_env(home, **env)
    )
    return Client(stdio_client(params), mode="legacy", read_timeout_seconds=120)


async def listing_sizes(home: Path) -> dict[str, Any]:
    """`tools/list` characters per group (groups this server has), for the host profile and for all tools."""
    sizes: dict[str, Any] = {}
    for group in (*GROUPS, "host", "all"):
        args = () if group == "all" else (("--profile", "host") if group == "host" else ("--tools", group))
        try:
            async with _client(home, *args) as client:
                listing = await client.list_tools()
        except Exception:
            continue  # a group this build does not have
        sizes[group] = {"chars": _wire(listing), "tools": len(listing.tools)}
    app = Browsa(Settings(home=home))
    raw = await MCPServer.list_tools(build_server(app))
    sizes["all, uncompacted"] = {"chars": _wire(ListToolsResult(tools=raw)), "tools": len(raw)}
    return sizes


def _result_row(tool: str, page: str, result: CallToolResult, markdown: int | None = None) -> dict[str, Any]:
    text = _text(result)
    structured = result.structured_content or {}
    return {
        "tool": tool,
        "page": page,
        "text_chars": len(text),
        "result_chars": _wire(result),
        "old_text_chars": len(json.dumps(structured, ensure_ascii=False)),  # the text was the JSON of the job
        "markdown_chars": markdown,
    }


async def our_results(home: Path, pages: list[tuple[str, str]], private: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with _client(home, BROWSA_ALLOW_PRIVATE_NETWORK=private) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        for name, url in pages:
            scraped = await client.call_tool("scrape", {"url": url})
            job = scraped.structured_content or {}
            markdown = len(str((job.get("result") or {}).get("markdown") or ""))
            rows.append(_result_row("scrape", name, scraped, markdown))
            polled = await client.call_tool("get_job", {"job_id": job.get("id", ""), "wait": 0})
            rows.append(_result_row("get_job", name, polled))
            if {"open_session", "act", "observe"} <= names:
                rows += await _session_rows(client, name, url)
    return rows


async def _session_rows(client: Client, name: str, url: str) -> list[dict[str, Any]]:
    opened = await client.call_tool("open_session", {"initial_url": url, "allowed_domains": ["*"]})
    session = (opened.structured_content or {}).get("session_id")
    if not session:
        return []
    rows = [_result_row("observe", name, await client.call_tool("observe", {"session_id": session}))]
    rows.append(
        _result_row(
            "act", name, await client.call_tool("act", {"session_id": session, "action": "scroll", "direction": "down"})
        )
    )
    await client.call_tool("close_session", {"session_id": session})
    return rows


async def playwright_side(pages: list[tuple[str, str]], executable: str | None, notes: list[str]) -> dict[str, Any]:
    cli = setup_playwright_mcp(notes)
    if cli is None:
        return {}
    out: dict[str, Any] = {"pages": {}}
    with pw_workspace(executable) as (tmp, args, errlog):
        node = shutil.which("node") or "node"
        params = StdioServerParameters(command=node, args=[str(cli), *args], cwd=str(tmp))
        try:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=120) as client:
                listing = await client.list_tools()
                out["tools_list"] = {"chars": _wire(listing), "tools": len(listing.tools)}
                for name, url in pages:
                    nav = await client.call_tool("browser_navigate", {"url": url})
                    snap = await client.call_tool("browser_snapshot", {})
                    out["pages"][name] = {"navigate_chars": len(_text(nav)), "snapshot_chars": len(_text(snap))}
        except Exception as exc:  # the comparison is optional: our side still reports
            notes.append(f"Playwright MCP run failed: {exc!r}")
    return out


async def run() -> dict[str, Any]:
    notes = ["machine shared with other work while measuring; sizes are exact, not timings"]
    found = find_chromium()
    pydoc_root = setup_pydoc(notes)
    home = Path(tempfile.mkdtemp(prefix="bench-surface-"))
    try:
        with serve_site() as site, serve_dir(pydoc_root) as pydoc_base:
            pages = [(p.split("?")[0].rsplit("/", 1)[-1], site.url(p)) for p in TEST_PAGES]
            if pydoc_base is not None:
                pages += [(f"pydoc/{p}", f"{pydoc_base}/{p}") for p in PYDOC_PAGES]
            private = "127.0.0.1"
            listing = await listing_sizes(home)
            results = await our_results(home, pages, private)
            theirs = await playwright_side(pages, found.executable, notes)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"tools_list": listing, "results": results, "playwright_mcp": theirs, "notes": notes}


def _report(data: dict[str, Any]) -> int:
    listing = data["tools_list"]
    theirs = data["playwright_mcp"]
    rows = [{"server": group, "tools": v["tools"], "chars": f"{v['chars']:,}"} for group, v in listing.items()]
    if "tools_list" in theirs:
        peer = theirs["tools_list"]
        rows.append({"server": "Playwright MCP", "tools": peer["tools"], "chars": f"{peer['chars']:,}"})
    print_table("tools/list (characters on the wire)", rows, ["server", "tools", "chars"])
    result_rows = []
    for r in data["results"]:
        pw = theirs.get("pages", {}).get(r["page"], {})
        peer_chars = pw.get("snapshot_chars") if r["tool"] in ("scrape", "observe") else None
        result_rows.append(
            {
                "result": r["tool"],
                "page": r["page"],
                "text": f"{r['text_chars']:,}",
                "whole result": f"{r['result_chars']:,}",
                "text before (JSON)": f"{r['old_text_chars']:,}",
                "markdown": f"{r['markdown_chars']:,}" if r["markdown_chars"] is not None else "",
                "PW snapshot": f"{peer_chars:,}" if peer_chars else "",
            }
        )
    columns = ["result", "page", "text", "whole result", "text before (JSON)", "markdown", "PW snapshot"]
    print_table("results (characters)", result_rows, columns)
    scrapes = [r for r in data["results"] if r["tool"] == "scrape" and r["markdown_chars"]]
    over = [r for r in scrapes if r["text_chars"] > 1.1 * r["markdown_chars"] + 500]
    summary = {
        "all_groups_chars": listing.get("all", {}).get("chars"),
        "uncompacted_chars": listing.get("all, uncompacted", {}).get("chars"),
        "playwright_tools_list_chars": theirs.get("tools_list", {}).get("chars"),
        "median_scrape_text_over_markdown": round(
            statistics.median(r["text_chars"] / r["markdown_chars"] for r in scrapes), 3
        )
        if scrapes
        else None,
        "scrapes_over_text_budget": len(over),
    }
    data["summary"] = summary
    for note in data["notes"]:
        print("note:", note)
    print("summary:", json.dumps(summary))
    within = (summary["all_groups_chars"] or 0) <= BUDGET and not over
    return 0 if within else 1


def main(argv: list[str]) -> int:
    data = anyio.run(run)
    code = _report(data)
    write_json("surface", data)
    return code
