"""The job engine without MCP: leases and their tokens, recovery of dead workers' jobs, claims shared by two
processes, long-poll wake-ups, cancellation, and credit checks that come before any browser starts.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import Settings, load_settings
from mcp_browsa.engine.context import JobContext, LeaseLost, Outcome
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.requests import ScrapeRequest, UrlBatchRequest
from mcp_browsa.engine.worker import WorkerPool
from mcp_browsa.errors import AgentNotRunning, BadRequest, InsufficientCredit, NotFound
from mcp_browsa.events import EventBus
from mcp_browsa.models import JobStatus
from mcp_browsa.storage.db import Database, dumps, loads
from mcp_browsa.storage.jobs import ClaimedJob, JobRepo
from mcp_browsa.storage.leases import LeaseRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE
LEASE = 30.0


async def idle_runner(ctx: JobContext) -> Outcome:
    raise AssertionError("these tests drive leases by hand; no runner should be called")


@pytest.fixture
async def db(database: str | Path) -> AsyncIterator[Database]:
    opened = Database(database)
    await opened.open()
    await LedgerRepo(opened).ensure_workspace(WS, initial_credits=100)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def engine(db: Database) -> JobEngine:
    eng = JobEngine(db, EventBus(), poll_interval=30)  # a slow poll: wake-ups must come from the event bus
    for kind in ("scrape", "batch", "task"):
        eng.register(kind, idle_runner)
    return eng


@pytest.fixture
def pages() -> Iterator[Site]:
    with serve_site() as site:
        yield site


async def add_job(db: Database, kind: str = "scrape", items: list[dict[str, Any]] | None = None) -> str:
    async with db.transaction() as conn:
        job_id = await JobRepo.insert(
            conn, workspace_id=WS, kind=kind, params={"url": "http://x.test/"}, request_id=None
        )
        if items:
            await JobRepo.insert_items(conn, job_id, items)
    return job_id


async def expire(db: Database, job_id: str) -> None:
    """What time does to a lease whose owner stopped renewing it."""
    await db.execute("UPDATE jobs SET lease_expires_at=0 WHERE id=?", (job_id,))


async def events(db: Database, job_id: str) -> list[str]:
    return [r["type"] for r in await db.fetchall("SELECT type FROM job_events WHERE job_id=? ORDER BY id", (job_id,))]


async def finish(db: Database, claimed: ClaimedJob, status: JobStatus = JobStatus.COMPLETED) -> bool:
    async with db.transaction() as conn:
        return await JobRepo.finish(conn, claimed.id, claimed.token, status, result={"by": claimed.token})


def settings_for(home: Path, **env: str) -> Settings:
    return load_settings({"BROWSA_HOME": str(home), "BROWSA_ALLOW_PRIVATE_NETWORK": "1", **env})


async def test_claims_take_the_oldest_queued_job_each_with_a_fresh_lease(db: Database) -> None:
    repo = JobRepo(db)
    older, newer = await add_job(db), await add_job(db)
    first = await repo.claim("worker-a", LEASE)
    second = await repo.claim("worker-a", LEASE)
    assert first is not None and second is not None
    assert (first.id, second.id) == (older, newer)
    assert first.token != second.token
    assert await repo.claim("worker-a", LEASE) is None
    row = await db.fetchone("SELECT * FROM jobs WHERE id=?", (older,))
    assert row is not None
    assert row["status"] == "running" and row["lease_owner"] == "worker-a" and row["attempts"] == 1
    assert time.time() + LEASE - 5 < row["lease_expires_at"] <= time.time() + LEASE
    assert await events(db, older) == ["job.started"]


async def test_heartbeats_extend_only_the_lease_named_by_its_token(db: Database) -> None:
    repo = JobRepo(db)
    await add_job(db)
    claimed = await repo.claim("worker-a", 5)
    assert claimed is not None
    assert await repo.heartbeat([(claimed.id, claimed.token)], LEASE) == set()
    row = await db.fetchone("SELECT lease_expires_at FROM jobs WHERE id=?", (claimed.id,))
    assert row is not None and row[0] > time.time() + LEASE - 5
    assert await repo.heartbeat([(claimed.id, "not-the-token")], LEASE) == {claimed.id}


async def test_a_rescued_job_is_completed_once_by_its_new_owner(db: Database, engine: JobEngine) -> None:
    repo = JobRepo(db)
    job_id = await add_job(db)
    slow = await repo.claim("worker-slow", LEASE)
    assert slow is not None
    await expire(db, job_id)
    assert await LeaseRepo(db).recover_expired() == [(job_id, WS, "queued")]
    rescuer = await repo.claim("worker-rescuer", LEASE)
    assert rescuer is not None and rescuer.id == job_id and rescuer.attempts == 2

    # The slow worker wakes up: every write it tries is refused by the token check.
    assert await repo.heartbeat([(slow.id, slow.token)], LEASE) == {job_id}
    with pytest.raises(LeaseLost):
        await JobContext(job=slow, engine=engine).progress(1, 1)
    assert await finish(db, slow) is False

    assert await finish(db, rescuer) is True
    assert await finish(db, rescuer) is False  # and never twice, even by the owner
    job = await repo.get(job_id)
    assert job is not None and job.status == "completed" and job.result == {"by": rescuer.token}
    assert await events(db, job_id) == ["job.started", "job.recovered", "job.started"]


async def test_recovery_requeues_read_only_work_and_keeps_finished_batch_rows(db: Database) -> None:
    repo = JobRepo(db)
    job_id = await add_job(db, "batch", items=[{"url": f"http://x.test/{i}"} for i in range(4)])
    claimed = await repo.claim("worker-a", LEASE)
    assert claimed is not None
    async with db.transaction() as conn:
        for idx in (0, 1):
            await conn.execute(
                "UPDATE batch_items SET status='completed', result=? WHERE job_id=? AND idx=?",
                (dumps({"row": idx}), job_id, idx),
            )
        await conn.execute("UPDATE batch_items SET status='running' WHERE job_id=? AND idx=2", (job_id,))

    assert await LeaseRepo(db).recover_expired() == []  # a live lease is left alone
    await expire(db, job_id)
    assert await LeaseRepo(db).recover_expired() == [(job_id, WS, "queued")]
    job = await repo.get(job_id)
    assert job is not None and job.status == "queued"
    items = await repo.items(job_id)
    assert [i.status for i in items] == ["completed", "completed", "queued", "queued"]
    assert [i.result for i in items[:2]] == [{"row": 0}, {"row": 1}]
    assert [idx for idx, _params in await repo.pending_items(job_id)] == [2, 3]


async def test_recovery_fails_an_agent_task_as_interrupted_instead_of_rerunning_it(db: Database) -> None:
    repo = JobRepo(db)
    job_id = await add_job(db, "task")
    assert await repo.claim("worker-a", LEASE) is not None
    await expire(db, job_id)
    assert await LeaseRepo(db).recover_expired() == [(job_id, WS, "failed")]
    job = await repo.get(job_id)
    assert job is not None and job.status == "failed" and job.error_code == "INTERRUPTED"
    assert "not re-run automatically" in (job.error_message or "")
    assert await repo.claim("worker-b", LEASE) is None


async def test_recovery_honours_a_cancel_requested_before_the_owner_died(db: Database) -> None:
    repo = JobRepo(db)
    job_id = await add_job(db)
    assert await repo.claim("worker-a", LEASE) is not None
    await repo.request_cancel(job_id)
    await expire(db, job_id)
    assert await LeaseRepo(db).recover_expired() == [(job_id, WS, "cancelled")]


async def test_a_dead_process_on_this_host_is_rescued_at_once(db: Database, engine: JobEngine) -> None:
    dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    dead_owner = f"{socket.gethostname()}:{int(dead.stdout)}:deadbeef"
    job_id = await add_job(db)
    claimed = await JobRepo(db).claim(dead_owner, 3600)  # its lease would run for another hour
    assert claimed is not None
    alive_owner = f"{socket.gethostname()}:{os.getpid()}:feedface"
    other = await add_job(db)
    assert await JobRepo(db).claim(alive_owner, 3600) is not None

    await WorkerPool(engine, slots=1, lease_seconds=LEASE, sweep_interval=5).recover_dead()
    statuses = {r["id"]: r["status"] for r in await db.fetchall("SELECT id, status FROM jobs")}
    assert statuses == {job_id: "queued", other: "running"}  # a live process keeps its job


async def test_two_processes_claiming_from_one_queue_take_each_job_once(tmp_path: Path, db: Database) -> None:
    ids = {await add_job(db) for _ in range(40)}
    second = Database(db.location)
    await second.open()
    taken: dict[str, list[str]] = {"a": [], "b": []}

    async def drain(name: str, database: Database) -> None:
        repo = JobRepo(database)
        while (claimed := await repo.claim(f"worker-{name}", LEASE)) is not None:
            taken[name].append(claimed.id)
            await anyio.sleep(0.005)  # time spent "working" on it, not a wait: lets the other process at the lock

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, "a", db)
            tg.start_soon(drain, "b", second)
    finally:
        await second.close()
    assert set(taken["a"]).isdisjoint(taken["b"])
    assert set(taken["a"]) | set(taken["b"]) == ids
    assert taken["a"] and taken["b"]
    attempts = await db.fetchall("SELECT DISTINCT attempts FROM jobs")
    assert [r[0] for r in attempts] == [1]


async def test_wait_returns_the_moment_the_job_ends(db: Database, engine: JobEngine) -> None:
    job = await engine.submit(WS, "scrape", {"url": "http://x.test/"}, request_id="req_test")
    claimed = await engine.jobs.claim("worker-a", LEASE)
    assert claimed is not None
    seen: list[str] = []

    async def progress(j: Any) -> None:
        seen.append(j.status)

    async def end_it_once_waited_on() -> None:
        await wait_until(lambda: job.id in engine.bus._waiters, "the waiter parked on the event bus", interval=0.01)
        ctx = JobContext(job=claimed, engine=engine)
        await ctx.progress(1, 1, last_action="half way")
        assert await finish(db, claimed)
        engine.bus.job_changed(job.id)

    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(end_it_once_waited_on)
        done = await engine.wait(WS, job.id, timeout=25, on_progress=progress)
    assert done.status == "completed"
    assert time.monotonic() - t0 < 5  # woken by the event, not by the 30 s poll
    assert seen and seen[-1] == "completed"


async def test_a_job_ending_between_the_read_and_the_wait_still_wakes_the_waiter(
    db: Database, engine: JobEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await engine.submit(WS, "scrape", {"url": "http://x.test/"}, request_id=None)
    claimed = await engine.jobs.claim("worker-a", LEASE)
    assert claimed is not None
    read = engine.get

    async def read_then_end(workspace_id: str, job_id: str, **kw: Any) -> Any:
        seen = await read(workspace_id, job_id, **kw)
        if seen.status == "running":  # the waiter saw it running; it ends before the waiter parks
            assert await finish(db, claimed)
            engine.bus.job_changed(job_id)
        return seen

    monkeypatch.setattr(engine, "get", read_then_end)
    t0 = time.monotonic()
    done = await engine.wait(WS, job.id, timeout=20)
    assert done.status == "completed"
    assert time.monotonic() - t0 < 5  # not the 20 s timeout: the wake-up was not lost


async def test_wait_gives_up_after_its_timeout(engine: JobEngine) -> None:
    job = await engine.submit(WS, "scrape", {"url": "http://x.test/"}, request_id=None)
    t0 = time.monotonic()
    still = await engine.wait(WS, job.id, timeout=0.5)
    assert still.status == "queued"
    assert 0.4 < time.monotonic() - t0 < 5


async def test_cancel_ends_a_queued_job_at_once_and_refuses_an_ended_one(engine: JobEngine) -> None:
    job = await engine.submit(WS, "scrape", {"url": "http://x.test/"}, request_id=None)
    cancelled = await engine.cancel(WS, job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.error_message == "cancelled before it started"
    with pytest.raises(AgentNotRunning) as again:
        await engine.cancel(WS, job.id)
    assert again.value.context == {"job_id": job.id, "status": "cancelled"}
    assert await engine.jobs.claim("worker-a", LEASE) is None


async def test_job_ids_are_checked_before_any_lookup(engine: JobEngine) -> None:
    with pytest.raises(BadRequest, match="is not a job id"):
        await engine.get(WS, "1; DROP TABLE jobs")
    with pytest.raises(NotFound, match="list_jobs"):
        await engine.get(WS, "00000000-0000-0000-0000-000000000000")
    job = await engine.submit(WS, "scrape", {}, request_id=None)
    with pytest.raises(NotFound):
        await engine.get("ws_someone_else", job.id)


async def test_a_zero_balance_refuses_work_before_any_browser_starts(
    tmp_path: Path, pages: Site, database_env: dict[str, str]
) -> None:
    settings = settings_for(tmp_path, BROWSA_INITIAL_CREDITS="0", BROWSA_WARM_SPARES="0", **database_env)
    async with Browsa(settings).running() as app:
        with pytest.raises(InsufficientCredit, match="credits add"):
            await app.scrape(
                Caller(), ScrapeRequest(url=pages.url("/foundation/details.html"), formats=["markdown"]), wait=10
            )
        with pytest.raises(InsufficientCredit):
            await app.batch_urls(
                Caller(), UrlBatchRequest(urls=[pages.url("/foundation/details.html")], formats=["markdown"])
            )
        assert app.host.launches == 0
        assert (await app.list_jobs(Caller())).count == 0
    assert pages.requests == []


async def test_credit_running_out_fails_the_next_job_before_its_browser_starts(
    tmp_path: Path, pages: Site, database_env: dict[str, str]
) -> None:
    settings = settings_for(
        tmp_path, BROWSA_INITIAL_CREDITS="1", BROWSA_WARM_SPARES="0", BROWSA_MAX_BURNERS="1", **database_env
    )
    async with Browsa(settings).running(workers=False) as app:
        first = await app.scrape(
            Caller(), ScrapeRequest(url=pages.url("/foundation/details.html?n=1"), formats=["markdown"])
        )
        second = await app.scrape(
            Caller(), ScrapeRequest(url=pages.url("/foundation/details.html?n=2"), formats=["markdown"])
        )
        assert app.tg is not None
        await app.workers.run(app.tg)
        first = await app.get_job(Caller(), first.id, wait=60)
        second = await app.get_job(Caller(), second.id, wait=60)
        assert first.status == "completed" and first.credits_charged == 1
        assert second.status == "failed" and second.error_code == "INSUFFICIENT_CREDIT"
        assert "credits add" in (second.error_message or "")
        assert app.host.launches == 1
        credits = await app.credits(Caller())
        assert credits.balance == 0 == sum(e.amount for e in credits.ledger)
    assert [path for _m, path in pages.requests if "n=2" in path] == []


async def test_a_browser_that_fails_to_start_is_upstream_unavailable_with_advice_and_costs_nothing(
    tmp_path: Path,
) -> None:
    # Answers `--version` like a Chromium (so discovery takes it) but dies when launched for real.
    broken = tmp_path / "not-chromium"
    broken.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "Chromium 156.0.8078.79" && exit 0\nexit 3\n')
    broken.chmod(0o755)
    settings = settings_for(tmp_path, BROWSA_CHROMIUM=str(broken), BROWSA_WARM_SPARES="0")
    async with Browsa(settings).running() as app:
        before = await app.credits(Caller())
        job = await app.scrape(
            Caller(), ScrapeRequest(url="http://127.0.0.1:9/never-loaded", formats=["markdown"]), wait=60
        )
        after = await app.credits(Caller())
    assert job.status == "failed"
    assert job.error_code == "UPSTREAM_UNAVAILABLE"
    assert "failed to start" in (job.error_message or "") and "mcp-browsa doctor" in (job.error_message or "")
    assert job.credits_charged == 0
    assert after.balance == before.balance and after.ledger == before.ledger  # nothing charged, nothing to refund


async def test_results_survive_a_reopen_of_the_database(tmp_path: Path, db: Database) -> None:
    job_id = await add_job(db)
    claimed = await JobRepo(db).claim("worker-a", LEASE)
    assert claimed is not None and await finish(db, claimed)
    await db.close()
    await db.open()
    row = await db.fetchone("SELECT status, result FROM jobs WHERE id=?", (job_id,))
    assert row is not None and row["status"] == "completed" and loads(row["result"]) == {"by": claimed.token}


async def test_clean_shutdown_gives_running_work_back_at_once(
    tmp_path: Path, database: str | Path, database_env: dict[str, str]
) -> None:
    """Regression: a job running at a clean shutdown stayed `running` until its lease ran out."""
    from tests.support.pages import GATED, add_pages

    with serve_site() as site:
        gate = add_pages(site)
        try:
            app = Browsa(settings_for(tmp_path, **database_env))
            async with app.running():
                job = await app.scrape(Caller(), ScrapeRequest(url=site.url(GATED), formats=["text"]))

                async def running() -> bool:
                    return (await app.get_job(Caller(), job.id)).status == "running"

                await wait_until(running, "the gated scrape running", timeout=60)
            async with Browsa(settings_for(tmp_path, **database_env)).running(workers=False) as after:
                again = await after.get_job(Caller(), job.id)
        finally:
            gate.set()
    assert again.status == "queued", "read-only work must go straight back to the queue"
    db = Database(database)
    await db.open()
    try:
        types = [r["type"] for r in await db.fetchall("SELECT type FROM job_events WHERE job_id=?", (job.id,))]
    finally:
        await db.close()
    assert "job.recovered" in types
