"""Batch rows over a real MCP client: each row its own outcome, cost and duration.

A task row whose URL the guard refuses ends BLOCKED while the others run (as URL rows do); a page that is not there
(HTTP 404/410) ends its row NO_TARGET; every row says what it cost, and the rows add up to the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.support import tool
from tests.support.fake_llm import FakeLLM, Policy, PolicyReply, PolicyRequest
from tests.support.mcp_server import finished, ok, stdio_client
from tests.support.sites import Site, respond, serve_site

pytestmark = pytest.mark.anyio

PAGE = b"<html><head><title>Row page</title></head><body><h1>Here</h1></body></html>"


@pytest.fixture
def shop() -> Iterator[Site]:
    with serve_site() as site:
        site.routes["/here"] = lambda req: respond(req, PAGE, "text/html")
        for code in (404, 410):
            site.routes[f"/gone-{code}"] = lambda req, code=code: respond(req, b"<h1>Not here</h1>", "text/html", code)
        yield site


async def _task_batch(shop: Site, home: Path, policy: Policy, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Run `rows` as a batch of agent tasks on a spawned server whose model is `policy`; the ended job."""
    with FakeLLM(policy) as vendor:
        env = {**vendor.env(), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{shop.port}", "ANTHROPIC_API_KEY": "k"}
        async with stdio_client(home, **env) as client:
            batch = ok(await client.call_tool("batch", {"tasks": rows, "max_steps": 2}))
            return await finished(client, batch["id"])


def done_at_once(_request: PolicyRequest) -> PolicyReply:
    return tool("done", result="read it")


def _rows_add_up(job: dict[str, Any]) -> None:
    assert sum(item["credits_charged"] for item in job["items"]) == job["credits_charged"]
    assert all(isinstance(item["duration_ms"], int) and item["duration_ms"] >= 0 for item in job["items"])


async def test_a_refused_task_row_ends_blocked_and_the_others_run(shop: Site, home: Path) -> None:
    rows = [
        {"instruction": "Read the heading", "url": shop.url("/here")},
        {"instruction": "Read the heading", "url": "http://10.9.8.7/admin"},  # a private address
        {"instruction": "Read the heading", "url": shop.url("/here?again=1")},
    ]
    job = await _task_batch(shop, home, done_at_once, rows)
    assert job["status"] == "completed" and job["result"] == {"total": 3, "completed": 2, "failed": 1}
    first, refused, last = job["items"]
    assert first["status"] == last["status"] == "completed"
    assert refused["status"] == "failed" and refused["error_code"] == "BLOCKED"
    assert "10.9.8.7" in refused["error_message"] and refused["url"] == "http://10.9.8.7/admin"
    assert refused["credits_charged"] == 0  # no browser, no step
    assert first["credits_charged"] >= 2 and last["credits_charged"] >= 2  # a burner and a step each
    _rows_add_up(job)


async def test_url_rows_whose_page_is_not_there_end_no_target(shop: Site, home: Path) -> None:
    async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{shop.port}") as client:
        urls = [shop.url("/here"), shop.url("/gone-404"), shop.url("/gone-410")]
        batch = ok(await client.call_tool("batch", {"urls": urls}))
        job = await finished(client, batch["id"])
    assert job["result"] == {"total": 3, "completed": 1, "failed": 2}
    here, missing, gone = job["items"]
    assert here["status"] == "completed" and "error_code" not in here
    for row, code in ((missing, 404), (gone, 410)):
        assert row["status"] == "failed" and row["error_code"] == "NO_TARGET"
        assert f"HTTP {code}" in row["error_message"]
        assert row["result"]["status"] == code  # what the server sent instead is kept
        assert row["credits_charged"] >= 1
    _rows_add_up(job)


def judging(request: PolicyRequest) -> PolicyReply:
    """Gives up on every row; says the element is missing where the task names one that the page lacks."""
    task = request.observation.split("TASK:\n", 1)[1].split("\n", 1)[0]
    if "basket" in task:
        return tool("done", result="there is no basket button on this page", success=False, not_found=True)
    return tool("done", result="cannot do it", success=False)


async def test_task_rows_whose_page_or_element_is_missing_end_no_target(shop: Site, home: Path) -> None:
    rows = [
        {"instruction": "Read the heading", "url": shop.url("/gone-404")},
        {"instruction": "Click the basket button", "url": shop.url("/here")},
        {"instruction": "Read the heading", "url": shop.url("/here")},
    ]
    job = await _task_batch(shop, home, judging, rows)
    gone, no_button, gave_up = job["items"]
    assert gone["error_code"] == no_button["error_code"] == "NO_TARGET"
    assert "basket" in no_button["error_message"]
    assert gave_up["error_code"] == "STALLED"  # giving up is not the same as the target being absent
    _rows_add_up(job)
