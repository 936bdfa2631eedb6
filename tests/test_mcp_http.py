"""`mcp-browsa serve --transport http`: streamable HTTP at /mcp and legacy SSE at /sse, driven by the SDK client.

One server for the module; each test connects its own client, as separate hosts would.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp_types import ImageContent

from tests.support.mcp_server import HttpServer, call, envelope, finished, ok, run_cli, spawn_http
from tests.support.pages import SLOW, STALLED, add_pages
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

TOOLS = {"scrape", "extract", "screenshot", "batch", "get_job", "list_jobs", "cancel_job", "credits", "capacity"}
DETAILS = "/foundation/details.html"


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        yield site


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pages: Site) -> Iterator[HttpServer]:
    home: Path = tmp_path_factory.mktemp("http-home")
    with spawn_http(home, "--no-auth", BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_MAX_BURNERS="2") as srv:
        yield srv


async def test_streamable_http_lists_the_tools_and_scrapes(server: HttpServer, pages: Site) -> None:
    async with Client(server.url) as client:
        assert {t.name for t in (await client.list_tools()).tools} >= TOOLS
        result = await call(client, "scrape", {"url": pages.url(DETAILS), "formats": ["markdown", "screenshot"]})
        job = ok(result)
        assert job["result"]["markdown"].startswith("# Detailed comparison")
        [image] = [c for c in result.content if isinstance(c, ImageContent)]
        assert image.mime_type == "image/png"
        assert base64.b64decode(image.data).startswith(b"\x89PNG")


async def test_batch_long_polls_with_progress_over_http(server: HttpServer, pages: Site) -> None:
    urls = [pages.url(f"{SLOW}?s=1&http={i}") for i in range(3)]
    notes: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(progress)

    async with Client(server.url) as client:
        job = ok(await call(client, "batch", {"urls": urls, "concurrency": 1}))
        t0 = time.monotonic()
        while job["status"] not in ("completed", "failed"):
            assert time.monotonic() - t0 < 120
            job = ok(
                await client.call_tool("get_job", {"job_id": job["id"], "wait": 30}, progress_callback=on_progress)
            )
    assert job["status"] == "completed"
    assert [i["status"] for i in job["items"]] == ["completed"] * 3
    assert notes and notes == sorted(notes) and notes[-1] == 3


async def test_cancel_job_over_http_stops_a_loading_page(server: HttpServer, pages: Site) -> None:
    async with Client(server.url) as client:
        arguments = {"url": pages.url(f"{STALLED}?t=http-cancel"), "timeout_seconds": 90, "async": True}
        job = ok(await call(client, "scrape", arguments))
        await wait_until(lambda: any("t=http-cancel" in path for _m, path in pages.requests), "the browser on the page")

        t0 = time.monotonic()
        ok(await call(client, "cancel_job", {"job_id": job["id"]}))
        ended = await finished(client, job["id"], 30)
        assert ended["status"] == "cancelled"
        assert time.monotonic() - t0 < 15  # the page load was stopped, not waited out
        assert ended["error_message"] == "cancelled while running"

        again = envelope(await call(client, "cancel_job", {"job_id": job["id"]}))
        assert again["code"] == "AGENT_NOT_RUNNING"
        assert again["job_id"] == job["id"]
        assert ok(await call(client, "capacity"))["running"] == 0


async def test_legacy_sse_endpoint_serves_the_same_tools(server: HttpServer, pages: Site) -> None:
    async with Client(sse_client(server.sse_url)) as client:
        assert {t.name for t in (await client.list_tools()).tools} >= TOOLS
        job = ok(await call(client, "scrape", {"url": pages.url(DETAILS), "formats": ["text"]}))
        assert "Short page for batches" in job["result"]["text"]
        assert ok(await call(client, "capacity"))["burners_max"] == 2
        assert envelope(await call(client, "get_job", {"job_id": "nope"}))["code"] == "BAD_REQUEST"


async def test_two_clients_work_at_the_same_time(server: HttpServer, pages: Site) -> None:
    results: dict[int, dict[str, object]] = {}

    async def one(n: int) -> None:
        async with Client(server.url) as client:
            results[n] = ok(await call(client, "scrape", {"url": pages.url(f"{SLOW}?s=1&client={n}")}))

    async with anyio.create_task_group() as tg:
        for n in range(2):
            tg.start_soon(one, n)
    assert {r["status"] for r in results.values()} == {"completed"}
    assert results[0]["id"] != results[1]["id"]


async def test_bad_input_over_http_is_an_envelope(server: HttpServer) -> None:
    async with Client(server.url) as client:
        body = envelope(await call(client, "scrape", {"url": "file:///etc/passwd"}))
        assert body["code"] == "BAD_REQUEST"
        assert ok(await call(client, "capacity"))["running"] == 0


def _spend_everything(db: Path) -> None:
    """Bring the balance to 0 the way a charge would: one ledger row with its running balance, one transaction."""
    conn = sqlite3.connect(db, timeout=15, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (balance,) = conn.execute("SELECT balance FROM workspaces WHERE id='ws_default'").fetchone()
        conn.execute(
            "INSERT INTO ledger(workspace_id, created_at, kind, amount, balance_after, description)"
            " VALUES ('ws_default', ?, 'charge', ?, 0, 'spent elsewhere')",
            (time.time(), -balance),
        )
        conn.execute("UPDATE workspaces SET balance=0 WHERE id='ws_default'")
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_zero_balance_refuses_work_until_credits_are_added(server: HttpServer, pages: Site) -> None:
    _spend_everything(server.home / "browsa.db")
    url = pages.url(f"{DETAILS}?broke=1")
    async with Client(server.url) as client:
        jobs_before = ok(await call(client, "list_jobs", {"limit": 200}))["count"]
        for tool, arguments in (
            ("scrape", {"url": url}),
            ("screenshot", {"url": url}),
            ("extract", {"url": url, "prompt": "title"}),
            ("batch", {"urls": [url]}),
        ):
            body = envelope(await call(client, tool, arguments))
            assert body["code"] == "INSUFFICIENT_CREDIT", tool
            assert "mcp-browsa credits add" in body["error"]
        assert ok(await call(client, "list_jobs", {"limit": 200}))["count"] == jobs_before
        assert not [p for _m, p in pages.requests if "broke=1" in p]  # no browser ever went to the page

        topped = run_cli(server.home, "credits", "add", "5")  # a second process on the same data dir
        assert topped.returncode == 0, topped.stderr
        assert "balance: 5 credits" in topped.stdout

        job = ok(await call(client, "scrape", {"url": url}))
        assert job["status"] == "completed"
        credits = ok(await call(client, "credits", {"ledger_rows": 3}))
        assert credits["balance"] == 5 - job["credits_charged"]
        assert [row["kind"] for row in credits["ledger"]] == ["charge", "topup", "charge"]


async def test_the_server_answers_get_job_for_work_it_finished_earlier(server: HttpServer, pages: Site) -> None:
    async with Client(server.url) as client:
        job = ok(await call(client, "scrape", {"url": pages.url(DETAILS), "async": True}))
    async with Client(server.url) as other:
        done = await finished(other, job["id"], 60)
    assert done["status"] == "completed"
