"""Idempotency keys: one job and one charge for concurrent duplicates, byte-for-byte replays, conflicts, takeover.

End to end through the real server (stdio and HTTP, real Chromium, local pages, the fake LLM vendor for agent
tasks): every work tool replays, a key lives 24 h and only in its workspace. Plus the reservation logic on a real
SQLite file: a caller that dies after creating its job is answered from that job, never with a second one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import closing
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult

from mcp_browsa.errors import BadRequest, IdempotencyConflict
from mcp_browsa.idempotent_calls import IdempotencyRunner
from mcp_browsa.models import Job
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.idempotency import IdempotencyRepo, params_hash
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from tests.support.db import workspace_db
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.http_keys import base_url, http_client, mint
from tests.support.mcp_server import envelope, finished, ok, spawn_http, stdio_client
from tests.support.sites import Site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE
PAGE = b"<html><head><title>Slow</title></head><body><h1>Slow page</h1></body></html>"
ARTICLE = "/foundation/article.html"


def slow_page(gate: threading.Event) -> Any:
    def handle(handler: SimpleHTTPRequestHandler) -> None:
        gate.wait(10)  # held until every duplicate call has been sent
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(PAGE)))
        handler.end_headers()
        handler.wfile.write(PAGE)

    return handle


def text(result: CallToolResult) -> str:
    assert not result.is_error, result.content
    return result.content[0].text  # type: ignore[union-attr]


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error and result.structured_content is not None, result.content
    return dict(result.structured_content)


def assert_replay(first: CallToolResult, again: CallToolResult) -> None:
    """`again` is `first` exactly, structured content, text and images, but for saying it is a replay."""
    assert again.structured_content is not None and again.structured_content.pop("idempotent_replay") is True
    assert again.structured_content == first.structured_content
    header, _, body = text(again).partition("\n")
    assert header.endswith(" · replayed")
    assert header.removesuffix(" · replayed") + ("\n" + body if body else "") == text(first)
    assert again.content[1:] == first.content[1:]  # screenshots as image content


async def first_and_replay(client: Client, tool: str, args: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Call `tool` twice with `args` (the second is a replay), then with `other` changes (a conflict)."""
    first = await client.call_tool(tool, args)
    assert_replay(first, await client.call_tool(tool, args))
    conflict = envelope(await client.call_tool(tool, {**args, **other}))
    assert conflict["code"] == "IDEMPOTENCY_CONFLICT", (tool, conflict)
    body: dict[str, Any] = structured(first)
    assert "idempotent_replay" not in body
    return body


async def test_duplicates_make_one_job_and_replays_are_exact(home: Path, site: Site) -> None:
    gate = threading.Event()
    site.routes["/slow"] = slow_page(gate)
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}"}
    args = {"url": site.url("/slow"), "formats": ["markdown", "links"], "idempotency_key": "order-42"}

    async with stdio_client(home, **env) as client:
        results: list[CallToolResult] = []

        async def call() -> None:
            results.append(await client.call_tool("scrape", args))

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(call)
            await wait_until(lambda: any(path == "/slow" for _m, path in site.requests), "the page requested")
            gate.set()

        bodies = [structured(r) for r in results]
        assert len({b["id"] for b in bodies}) == 1 and bodies[0]["status"] == "completed"
        assert sorted(bool(b.get("idempotent_replay")) for b in bodies) == [False] + [True] * 5
        assert [path for _m, path in site.requests].count("/slow") == 1
        job_id = bodies[0]["id"]
        jobs = (await client.call_tool("list_jobs", {})).structured_content or {}
        assert jobs["count"] == 1
        ledger = ((await client.call_tool("credits", {"ledger_rows": 50})).structured_content or {})["ledger"]
        assert [e["kind"] for e in ledger if e.get("job_id") == job_id] == ["charge"]

        first = next(r for r in results if "idempotent_replay" not in structured(r))
        assert_replay(first, await client.call_tool("scrape", args))

        other = await client.call_tool("scrape", {**args, "formats": ["html"]})
        assert envelope(other)["code"] == "IDEMPOTENCY_CONFLICT"
        other_tool = await client.call_tool("batch", {"urls": [args["url"]], "idempotency_key": "order-42"})
        assert envelope(other_tool)["code"] == "IDEMPOTENCY_CONFLICT"

        # A call refused before doing anything leaves the key free for the corrected call.
        bad = await client.call_tool("scrape", {"url": "ftp://example.com/x", "idempotency_key": "fix-me"})
        assert envelope(bad)["code"] == "BAD_REQUEST"
        fixed = structured(await client.call_tool("screenshot", {"url": args["url"], "idempotency_key": "fix-me"}))
        assert fixed["status"] == "completed" and "idempotent_replay" not in fixed

        batch_args = {"urls": [args["url"]] * 2, "idempotency_key": "batch-1"}
        batch_first = structured(await client.call_tool("batch", batch_args))
        batch_again = structured(await client.call_tool("batch", batch_args))
        assert batch_again["id"] == batch_first["id"] and batch_again["idempotent_replay"] is True

    # Stored in SQLite: a restarted server replays the same response.
    async with stdio_client(home, **env) as client:
        after = structured(await client.call_tool("scrape", args))
        assert after["id"] == job_id and after["idempotent_replay"] is True
        assert ((await client.call_tool("list_jobs", {"kind": "scrape"})).structured_content or {})["count"] == 1


async def test_every_work_tool_replays_its_first_response(home: Path, site: Site) -> None:
    url = site.url(ARTICLE)

    def policy(request: PolicyRequest) -> PolicyReply:
        # With a key on the server, extract reads its answer with the model too.
        if request.tools == ["answer"]:
            return PolicyReply.tool("answer", answer="Starter $9, Team $29")
        return PolicyReply.tool("done", result="read it")

    with FakeLLM(policy) as vendor:
        env = {**vendor.env(), "ANTHROPIC_API_KEY": "k", "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}"}
        async with stdio_client(home, **env) as client:
            task = await first_and_replay(
                client,
                "run_task",
                {"task": "Read the article", "initial_url": url, "idempotency_key": "task-1"},
                {"task": "Read the other article"},
            )
            extracted = await first_and_replay(
                client,
                "extract",
                {"url": url, "prompt": "the plan prices", "idempotency_key": "extract-1"},
                {"prompt": "the author"},
            )
            routed = await first_and_replay(
                client,
                "auto",
                {"task": f"go to {url}, click the details link and report its heading", "idempotency_key": "auto-1"},
                {"task": f"go to {url} and sign up"},
            )
            shot = await first_and_replay(
                client, "screenshot", {"url": url, "idempotency_key": "shot-1"}, {"full_page": False}
            )
            assert routed["routed_via"] == "task" and shot["screenshots"]

            # Three calls per tool and one job each: the replays and the conflicts started nothing.
            jobs = ok(await client.call_tool("list_jobs", {"limit": 50}))
            assert sorted(j["id"] for j in jobs["jobs"]) == sorted(b["id"] for b in (task, extracted, routed, shot))
            for job in (task, routed):
                assert (await finished(client, job["id"]))["status"] == "completed"
            # One model call per task and one for the extract: a replay never runs the work again.
            assert [r.tools == ["answer"] for r in vendor.policy_requests].count(False) == 2
            assert vendor.calls == 3


def expire(home: Path, workspace: str, key: str) -> None:
    """Move the stored record's expiry into the past, as 24 hours would."""
    with closing(sqlite3.connect(home / "browsa.db", timeout=30)) as db, db:
        moved = db.execute(
            "UPDATE idempotency_keys SET expires_at = ? WHERE workspace_id = ? AND key = ?",
            (time.time() - 1, workspace, key),
        ).rowcount
    assert moved == 1


async def test_a_key_lives_in_one_workspace_for_24_hours(home: Path, site: Site) -> None:
    args = {"url": site.url(ARTICLE), "formats": ["links"], "idempotency_key": "nightly-sync"}
    with spawn_http(home, BROWSA_WARM_SPARES="0", BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{site.port}") as server:
        acme, globex = mint(home, "acme"), mint(home, "globex")
        async with (
            http_client(base_url(server), acme) as a,
            http_client(base_url(server), globex) as b,
        ):
            in_acme, in_globex = ok(await a.call_tool("scrape", args)), ok(await b.call_tool("scrape", args))
            assert in_acme["id"] != in_globex["id"]
            assert "idempotent_replay" not in in_acme and "idempotent_replay" not in in_globex
            for client in (a, b):
                assert ok(await client.call_tool("list_jobs", {}))["count"] == 1

            expire(home, "acme", "nightly-sync")
            fresh = ok(await a.call_tool("scrape", args))
            assert fresh["id"] != in_acme["id"] and "idempotent_replay" not in fresh
            assert ok(await a.call_tool("scrape", args))["id"] == fresh["id"]  # the new record replays now
            assert ok(await a.call_tool("list_jobs", {}))["count"] == 2
            untouched = ok(await b.call_tool("scrape", args))
            assert untouched["id"] == in_globex["id"] and untouched["idempotent_replay"] is True


# -- the reservation logic on a real SQLite file -------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with workspace_db(tmp_path, WS, credits=10) as db:
        yield db


async def insert_job(db: Database, request_id: str) -> str:
    async with db.transaction() as conn:
        return await JobRepo.insert(conn, workspace_id=WS, kind="scrape", params={}, request_id=request_id)


async def test_concurrent_calls_in_one_process_run_once(db: Database) -> None:
    runner = IdempotencyRunner(db, owner="me", poll_interval=0.05)
    calls = made = 0

    async def work() -> Job:
        nonlocal calls
        calls += 1
        await wait_until(lambda: made == 10, "all ten calls made while the first one works")
        job = await JobRepo(db).get(await insert_job(db, "req_1"))
        assert job is not None
        return job

    async def recover(job_id: str) -> Job:
        raise AssertionError("no owner died here")

    results: list[Job] = []

    async def call() -> None:
        nonlocal made
        made += 1
        results.append(await runner.run(WS, "req_1", "scrape", "k", {"url": "u"}, work, model=Job, recover=recover))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(call)
    assert calls == 1 and len({r.id for r in results}) == 1
    assert sum(1 for r in results if r.idempotent_replay) == 9
    with pytest.raises(IdempotencyConflict):
        await runner.run(WS, "req_2", "scrape", "k", {"url": "other"}, work, model=Job, recover=recover)
    with pytest.raises(BadRequest):
        await runner.run(WS, "req_3", "scrape", "", {}, work, model=Job, recover=recover)


async def test_a_dead_owner_is_answered_from_its_job_not_run_again(db: Database) -> None:
    repo = IdempotencyRepo(db)
    phash = params_hash("run_task", {"task": "buy"})
    job_id = await insert_job(db, "req_dead")
    # The first caller reserved the key and created its job, then its process died (the lease is over).
    claim = await repo.reserve(WS, "buy-1", "run_task", phash, owner="dead", request_id="req_dead", lease_seconds=0)
    assert claim.kind == "owner"

    async def never() -> Job:
        raise AssertionError("the task must not run twice")

    async def recover(found: str) -> Job:
        job = await JobRepo(db).get(found)
        assert job is not None
        return job

    runner = IdempotencyRunner(db, owner="alive")
    taken = await runner.run(WS, "req_new", "run_task", "buy-1", {"task": "buy"}, never, model=Job, recover=recover)
    assert taken.id == job_id and taken.idempotent_replay is True
    again = await runner.run(WS, "req_x", "run_task", "buy-1", {"task": "buy"}, never, model=Job, recover=recover)
    assert again.id == job_id

    # Died before creating anything: the next caller runs the work itself, once.
    await repo.reserve(WS, "buy-2", "run_task", phash, owner="dead", request_id="req_gone", lease_seconds=0)
    ran: list[str] = []

    async def work() -> Job:
        ran.append("x")
        return await recover(await insert_job(db, "req_new2"))

    fresh = await runner.run(WS, "req_new2", "run_task", "buy-2", {"task": "buy"}, work, model=Job, recover=recover)
    assert ran == ["x"] and fresh.idempotent_replay is None

    # A failure before any job frees the key; a failure after the job leaves the key on that job.
    async def fails() -> Job:
        raise BadRequest("nope")

    with pytest.raises(BadRequest):
        await runner.run(WS, "req_f", "run_task", "buy-3", {"task": "buy"}, fails, model=Job, recover=recover)
    assert (await repo.state(WS, "buy-3"))[0] is False

    async def creates_then_fails() -> Job:
        await insert_job(db, "req_g")
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await runner.run(
            WS, "req_g", "run_task", "buy-4", {"task": "buy"}, creates_then_fails, model=Job, recover=recover
        )
    retried = await runner.run(WS, "req_h", "run_task", "buy-4", {"task": "buy"}, never, model=Job, recover=recover)
    assert retried.idempotent_replay is True and retried.id == await repo.job_for_request(WS, "req_g")
