"""Agent work and process deaths: tasks pinned to the process holding their key, what a crash leaves behind.

A task is never re-run after a crash (it may have clicked "Buy"): it ends INTERRUPTED, as do the agent rows a
batch was running, while the batch's untouched rows run again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.config import load_settings
from mcp_browsa.engine.context import JobContext, Outcome
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.requests import TaskRequest
from mcp_browsa.engine.worker import WorkerPool
from mcp_browsa.events import EventBus
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from tests.agent.support import CALLER

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE


async def never(ctx: JobContext) -> Outcome:
    raise AssertionError("no runner runs in these tests")


def dead_owner() -> str:
    """A lease owner on this host whose process does not exist."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"{socket.gethostname()}:{pid}:deadbeef"
        except PermissionError:
            pass
        pid += 1


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[JobEngine]:
    db = Database(tmp_path / "browsa.db")
    await db.open()
    await LedgerRepo(db).ensure_workspace(WS, initial_credits=100)
    eng = JobEngine(db, EventBus())
    for kind in ("task", "batch"):
        eng.register(kind, never)
    try:
        yield eng
    finally:
        await db.close()


async def add(engine: JobEngine, kind: str, *, owner: str | None, items: list[dict[str, Any]] | None = None) -> str:
    async with engine.db.transaction() as conn:
        job_id = await JobRepo.insert(conn, workspace_id=WS, kind=kind, params={}, request_id=None)
        if items:
            await JobRepo.insert_items(conn, job_id, items)
        await conn.execute("UPDATE jobs SET lease_owner=? WHERE id=?", (owner, job_id))
    return job_id


async def test_a_pinned_task_is_claimed_only_by_its_own_worker(engine: JobEngine) -> None:
    pinned = await add(engine, "task", owner="host:1:mine")
    assert await engine.jobs.claim("host:2:other", 30) is None
    claimed = await engine.jobs.claim("host:1:mine", 30)
    assert claimed is not None and claimed.id == pinned


async def test_a_crash_ends_agent_work_interrupted_and_reruns_only_what_never_started(engine: JobEngine) -> None:
    dead = dead_owner()
    queued_task = await add(engine, "task", owner=dead)
    queued_batch = await add(engine, "batch", owner=dead, items=[{"kind": "task", "instruction": "a"}])
    running = await add(
        engine,
        "batch",
        owner=None,
        items=[
            {"kind": "task", "instruction": "clicking Buy"},
            {"kind": "url", "url": "http://x.test/"},
            {"kind": "task", "instruction": "not started"},
        ],
    )
    await engine.db.execute(
        "UPDATE jobs SET status='running', lease_owner=?, lease_token='t', lease_expires_at=9e12 WHERE id=?",
        (dead, running),
    )
    await engine.db.execute("UPDATE batch_items SET status='running' WHERE job_id=? AND idx IN (0, 1)", (running,))

    await WorkerPool(engine, slots=1, lease_seconds=30, sweep_interval=60).recover_dead()

    task = await engine.jobs.get(queued_task)
    assert task is not None and task.status == "failed" and task.error_code == "INTERRUPTED"
    row = await engine.db.fetchone("SELECT status, lease_owner FROM jobs WHERE id=?", (queued_batch,))
    assert row is not None and (row["status"], row["lease_owner"]) == ("queued", None)  # any worker may run it now
    batch = await engine.jobs.get(running)
    assert batch is not None and batch.status == "queued"
    items = await engine.jobs.items(running)
    assert [(i.status, i.error_code) for i in items] == [("failed", "INTERRUPTED"), ("queued", None), ("queued", None)]


async def test_a_task_whose_key_died_with_its_process_is_interrupted(tmp_path: Path) -> None:
    settings = load_settings({"BROWSA_HOME": str(tmp_path)})
    async with Browsa(settings).running(workers=False) as app:
        # A process that runs jobs and accepted this one, though its workers never got to it before it died.
        app.tasks.runs_jobs = True
        job = await app.run_task(
            CALLER, TaskRequest(task="Anything", llm="openai:gpt-4.1-mini", llm_api_key="sk-only-in-memory")
        )
        row = await app.db.fetchone("SELECT params, lease_owner FROM jobs WHERE id=?", (job.id,))
        assert row is not None and row["lease_owner"] == app.workers.owner
        assert "sk-only-in-memory" not in row["params"] and '"key_source":"call"' in row["params"]
        assert app.tasks.keys[job.id] == "sk-only-in-memory"
        app.tasks.keys.clear()  # what a restarted process knows
        claimed = await app.engine.jobs.claim(app.workers.owner, 30)
        assert claimed is not None
        outcome = await app.agents.run(JobContext(job=claimed, engine=app.engine))
    assert outcome.error_code == "INTERRUPTED"
    assert outcome.error_message is not None and "submit the task again" in outcome.error_message
