"""The documented limits over a real MCP client: fanout up to 10, timeout_seconds up to 3 h, up to 1,000 task rows
per batch, full-page screenshots by default, and a bare domain taken as a URL wherever one is asked for.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.fake_llm import FakeLLM
from tests.support.mcp_server import call, envelope, finished, ok, stdio_client
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

THREE_HOURS = 3 * 3600


@pytest.fixture(scope="module")
def site(tiny_site: Site) -> Site:
    return tiny_site


@pytest.fixture(scope="module")
async def client(site: Site) -> AsyncIterator[Client]:
    home = Path(tempfile.mkdtemp(prefix="mb-"))
    # A vendor that is never reached: the tasks here are cancelled before they take a step, or refused.
    with FakeLLM() as vendor:
        env = {**vendor.env(), "ANTHROPIC_API_KEY": "k", "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}"}
        try:
            async with stdio_client(home, **env) as c:
                yield c
        finally:
            shutil.rmtree(home, ignore_errors=True)


async def _schemas(client: Client) -> dict[str, dict[str, Any]]:
    return {t.name: t.input_schema for t in (await client.list_tools()).tools}


async def _started_then_cancelled(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    job = ok(await call(client, tool, arguments))
    cancelled = await call(client, "cancel_job", {"job_id": job["id"]})
    assert not cancelled.is_error or envelope(cancelled)["code"] == "AGENT_NOT_RUNNING"  # it may end first
    await finished(client, job["id"], 60)
    return job


async def test_fanout_goes_to_ten_and_no_further(client: Client, site: Site) -> None:
    task = {"task": "Read the heading", "initial_url": site.url("/tiny")}
    assert (await _schemas(client))["run_task"]["properties"]["fanout"]["maximum"] == 10
    await _started_then_cancelled(client, "run_task", {**task, "fanout": 10})
    assert envelope(await call(client, "run_task", {**task, "fanout": 11}))["code"] == "BAD_REQUEST"


async def test_tasks_may_run_three_hours(client: Client, site: Site) -> None:
    task = {"task": "Read the heading", "initial_url": site.url("/tiny")}
    # The schema leaves large caps out (tools/list stays small); the server enforces them.
    await _started_then_cancelled(client, "run_task", {**task, "timeout_seconds": THREE_HOURS})
    too_long = envelope(await call(client, "run_task", {**task, "timeout_seconds": THREE_HOURS + 1}))
    assert too_long["code"] == "BAD_REQUEST" and "timeout_seconds" in too_long["error"]
    row = {"instruction": "Read the heading", "url": site.url("/tiny"), "timeout_seconds": THREE_HOURS}
    await _started_then_cancelled(client, "batch", {"tasks": [row]})


async def test_a_batch_takes_a_thousand_task_rows(client: Client, site: Site) -> None:
    rows = [{"instruction": f"Read heading {n}", "url": site.url(f"/tiny?n={n}")} for n in range(1000)]
    job = await _started_then_cancelled(client, "batch", {"tasks": rows, "concurrency": 1})
    assert job["progress_total"] == 1000
    over = envelope(await call(client, "batch", {"tasks": [*rows, rows[0]]}))
    assert over["code"] == "BAD_REQUEST" and "1000" in over["error"]


async def test_screenshots_are_full_page_by_default(client: Client) -> None:
    schemas = await _schemas(client)
    assert schemas["screenshot"]["properties"]["full_page"]["default"] is True
    assert schemas["scrape"]["properties"]["full_page"]["default"] is True


async def test_a_bare_host_is_taken_as_a_url(client: Client, site: Site) -> None:
    # An address or localhost gets http (local servers rarely have certificates); a name gets https.
    page = ok(await call(client, "scrape", {"url": f"127.0.0.1:{site.port}/tiny", "formats": ["text"]}))
    assert page["status"] == "completed" and page["result"]["url"] == site.url("/tiny")
    batch = await _started_then_cancelled(client, "batch", {"urls": ["example.com", "www.example.org/a?b=1"]})
    rows = (await finished(client, batch["id"], 60))["items"]
    assert [r["url"] for r in rows] == ["https://example.com", "https://www.example.org/a?b=1"]
    task = await _started_then_cancelled(client, "run_task", {"task": "Read it", "initial_url": "example.com"})
    assert task["kind"] == "task"
    # Words, paths and other schemes are still refused, each saying what to fix.
    for wrong, says in (("not a url", "relative"), ("/docs/page", "relative"), ("ftp://example.com", "ftp:")):
        body = envelope(await call(client, "scrape", {"url": wrong}))
        assert body["code"] == "BAD_REQUEST" and says in body["error"], body
