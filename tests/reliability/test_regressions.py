"""Regression tests for what the reliability work found broken, each named after what broke, run without MCP
against the engine and storage directly (fast, and the fault is exact).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
import anyio
import pytest

from mcp_browsa.engine.context import JobContext, Outcome
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.worker import WorkerPool
from mcp_browsa.errors import StorageUnavailable
from mcp_browsa.events import EventBus
from mcp_browsa.models import JobStatus
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from mcp_browsa.storage.sqlite import SqliteBackend
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE


@asynccontextmanager
async def opened(location: str | Path) -> AsyncIterator[Database]:
    db = Database(location)
    await db.open()
    await LedgerRepo(db).ensure_workspace(WS, initial_credits=1000)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def db(database: str | Path) -> AsyncIterator[Database]:
    async with opened(database) as db:
        yield db


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """For faults of SQLite's own file (a full disk); PostgreSQL's disk is its server's."""
    async with opened(tmp_path / "browsa.db") as db:
        yield db


async def test_a_stalled_process_does_not_rescue_its_own_running_jobs(db: Database) -> None:
    # A process whose event loop stalled past its lease (a suspended laptop, a starved machine) found its own
    # running task expired, and its sweeper ended it INTERRUPTED while it was still running.
    release = anyio.Event()
    started = anyio.Event()

    async def task(ctx: JobContext) -> Outcome:
        started.set()
        await release.wait()
        return Outcome.ok({"final_result": "done"})

    engine = JobEngine(db, EventBus(), poll_interval=0.05)
    engine.register("task", task)
    workers = WorkerPool(engine, slots=1, lease_seconds=30, sweep_interval=0.05)
    job = await engine.submit(WS, "task", {}, request_id=None)
    async with anyio.create_task_group() as tg:
        await workers.run(tg)
        with anyio.fail_after(10):
            await started.wait()
        await db.execute("UPDATE jobs SET lease_expires_at=0 WHERE id=?", (job.id,))  # what the stall did

        async def lease() -> float:
            row = await db.fetchone("SELECT lease_expires_at FROM jobs WHERE id=?", (job.id,))
            return float(row[0] or 0) if row else 0.0

        async def renewed() -> bool:  # the sweeper renews it before it judges anyone's lease
            return await lease() >= time.time()

        await wait_until(renewed, "the running job's lease renewed", timeout=10, interval=0.02)
        assert (await engine.get(WS, job.id)).status == JobStatus.RUNNING
        release.set()
        with anyio.fail_after(10):
            done = await engine.wait(WS, job.id, 10)
        tg.cancel_scope.cancel()
    assert (done.status, done.error_code) == (JobStatus.COMPLETED, None)


async def test_a_row_just_written_is_read_back_while_other_reads_are_in_flight(db: Database) -> None:
    # Reads stepped their cursor across awaits on the one reader connection; a read that ran meanwhile shared
    # that cursor's snapshot and missed a write committed just before it (create_webhook: "webhook not found").
    stale = 0
    async with anyio.create_task_group() as tg:

        async def busy_reader() -> None:
            while True:
                await db.fetchall("SELECT * FROM ledger")

        for _ in range(4):
            tg.start_soon(busy_reader)
        for i in range(200):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO workspaces(id, name, balance, created_at) VALUES (?, 'x', 0, 0)", (f"w{i}",)
                )
            stale += await db.fetchone("SELECT 1 FROM workspaces WHERE id=?", (f"w{i}",)) is None
        tg.cancel_scope.cancel()
    assert stale == 0


async def test_a_full_disk_is_reported_as_storage_unavailable_not_as_a_rollback_error(sqlite_db: Database) -> None:
    # SQLite rolls a transaction back itself on SQLITE_FULL; the second ROLLBACK raised "cannot rollback - no
    # transaction is active" over the real error, and the caller saw an internal error with no cause.
    db = sqlite_db
    await _fill(db)
    with pytest.raises(StorageUnavailable, match="the disk is full"):
        await _big_write(db)


async def test_a_failed_write_does_not_wedge_the_writer(sqlite_db: Database) -> None:
    # After a write failed on a full disk, the next one must work as soon as there is room again.
    db = sqlite_db
    await _fill(db)
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await _big_write(db)
    await _unfill(db)
    assert await LedgerRepo(db).top_up(WS, 5) == 1005
    assert await db.integrity_check() == "ok"


async def _big_write(db: Database) -> None:
    """A write that needs pages the database does not have yet."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO workspaces(id, name, balance, created_at) VALUES ('ws_big', ?, 0, 0)", ("z" * 65536,)
        )


async def _fill(db: Database) -> int:
    """Cap the database at its current size, as a full disk would (SQLITE_FULL on the next page it needs)."""
    writer = _sqlite_writer(db)
    pages = (await (await writer.execute("PRAGMA page_count")).fetchone())[0]  # type: ignore[index]
    await writer.execute(f"PRAGMA max_page_count={pages}")
    return int(pages)


async def _unfill(db: Database) -> None:
    await _sqlite_writer(db).execute("PRAGMA max_page_count=1073741823")


def _sqlite_writer(db: Database) -> aiosqlite.Connection:
    assert isinstance(db.backend, SqliteBackend) and db.backend._writer is not None
    return db.backend._writer


def test_storage_faults_are_told_apart_from_statement_errors(tmp_path: Path) -> None:
    from mcp_browsa.storage.db import storage_fault

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    full.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    assert isinstance(storage_fault(full, tmp_path / "browsa.db"), StorageUnavailable)
    syntax = sqlite3.OperationalError("near 'SELEC': syntax error")
    syntax.sqlite_errorcode = 1  # type: ignore[attr-defined]
    assert storage_fault(syntax, tmp_path / "browsa.db") is None


def test_a_request_nested_too_deep_for_the_sdk_is_answered_with_an_envelope_not_dropped() -> None:
    # The SDK's stdio reader could not parse arguments nested ~200 deep and dropped the request without a word:
    # the client waited forever. Now the server answers it (a tool call with the envelope, anything else with a
    # JSON-RPC error), and leaves what the SDK can parse to the SDK.
    from mcp_types import JSONRPCError, JSONRPCResponse

    from mcp_browsa.stdio import refusal

    deep: object = "x"
    for _ in range(220):
        deep = [deep]
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "scrape", "arguments": {"u": deep}}}
    answer = refusal(json.dumps(call))
    assert answer is not None and isinstance(answer.message, JSONRPCResponse)
    assert answer.message.id == 7 and answer.message.result["isError"] is True
    envelope = json.loads(answer.message.result["content"][0]["text"])
    assert envelope["code"] == "BAD_REQUEST" and "nest deeper" in envelope["error"]
    other = refusal(json.dumps({**call, "method": "resources/read"}))
    assert other is not None and isinstance(other.message, JSONRPCError) and other.message.id == 7
    assert refusal(json.dumps({**call, "params": {"name": "scrape", "arguments": {"u": "x"}}})) is None
    assert refusal(json.dumps({"jsonrpc": "2.0", "method": "notifications/x", "params": {"d": deep}})) is None


def test_a_broken_ipv6_url_is_a_bad_request_not_an_internal_error() -> None:
    # urlsplit raises on "http://[::1" before any check ran; the tool call ended in INTERNAL_ERROR.
    from mcp_browsa.errors import BadRequest
    from mcp_browsa.validation import check_http_url

    with pytest.raises(BadRequest, match="is not a valid URL"):
        check_http_url("http://[::1")
