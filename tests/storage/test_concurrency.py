"""Several processes on one database, on SQLite and on PostgreSQL: each job is claimed and rescued once, an
idempotency key has one owner, charges never overspend, migrations run once, and wake-ups reach their listeners.

Each "process" is a Database of its own (its own connections, or its own pool); on PostgreSQL their transactions
really overlap, and what keeps them apart is row locks, SKIP LOCKED and unique keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest

from mcp_browsa.engine.context import progress_write
from mcp_browsa.errors import InsufficientCredit
from mcp_browsa.storage.db import LATEST_VERSION, Database
from mcp_browsa.storage.idempotency import IdempotencyRepo
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.leases import LeaseRepo
from mcp_browsa.storage.ledger import LedgerRepo

pytestmark = pytest.mark.anyio

WS = "ws_test"


@asynccontextmanager
async def processes(location: str | Path, n: int, *, credits: int = 0) -> AsyncIterator[list[Database]]:
    async with AsyncExitStack() as stack:
        opened = []
        for _ in range(n):
            db = Database(location)
            await db.open()
            stack.push_async_callback(db.close)
            opened.append(db)
        await LedgerRepo(opened[0]).ensure_workspace(WS, initial_credits=credits)
        yield opened


async def queue(db: Database, n: int) -> list[str]:
    async with db.transaction() as conn:
        return [
            await JobRepo.insert(conn, workspace_id=WS, kind="scrape", params={"i": i}, request_id=None)
            for i in range(n)
        ]


async def test_every_queued_job_is_claimed_once_by_many_claimers(database: str | Path) -> None:
    async with processes(database, 2) as dbs:
        queued = await queue(dbs[0], 60)
        claimed: list[tuple[str, str]] = []

        async def claimer(db: Database, name: str) -> None:
            while (job := await JobRepo(db).claim(name, 30)) is not None:
                claimed.append((job.id, name))

        async with anyio.create_task_group() as tg:
            for p, db in enumerate(dbs):
                for w in range(4):
                    tg.start_soon(claimer, db, f"host:{p}:{w}")
        assert sorted(job_id for job_id, _ in claimed) == sorted(queued)
        starts = await dbs[1].fetchall(
            "SELECT job_id, COUNT(*) AS n FROM job_events WHERE type='job.started' GROUP BY job_id"
        )
        assert {r["job_id"]: r["n"] for r in starts} == dict.fromkeys(queued, 1)
        rows = await dbs[1].fetchall("SELECT status, attempts FROM jobs")
        assert {(r["status"], r["attempts"]) for r in rows} == {("running", 1)}


async def test_expired_leases_are_rescued_once_when_every_process_sweeps(database: str | Path) -> None:
    async with processes(database, 3) as dbs:
        queued = await queue(dbs[0], 20)
        for _ in queued:
            assert await JobRepo(dbs[0]).claim("dead:1:x", 30) is not None
        await dbs[0].execute("UPDATE jobs SET lease_expires_at=0")
        rescued: list[str] = []

        async def sweep(db: Database) -> None:
            rescued.extend(job_id for job_id, _ws, _status in await LeaseRepo(db).recover_expired())

        async with anyio.create_task_group() as tg:
            for db in dbs:
                tg.start_soon(sweep, db)
        assert sorted(rescued) == sorted(queued)
        events = await dbs[0].fetchall("SELECT job_id FROM job_events WHERE type='job.recovered'")
        assert Counter(r["job_id"] for r in events) == dict.fromkeys(queued, 1)
        assert {r["status"] for r in await dbs[0].fetchall("SELECT status FROM jobs")} == {"queued"}


async def test_queued_jobs_pinned_to_a_silent_process_end_once_however_many_sweep(database: str | Path) -> None:
    async with processes(database, 3) as dbs:
        free = await queue(dbs[0], 2)
        async with dbs[0].transaction() as conn:
            pinned = []
            for i in range(10):  # agent tasks whose model key only front-a held
                job_id = await JobRepo.insert(conn, workspace_id=WS, kind="task", params={"i": i}, request_id=None)
                await JobRepo.pin(conn, job_id, "elsewhere:41:front-a", 30)
                pinned.append(job_id)
        # Renewed pins are left alone; the process then goes silent and its pins run out.
        await LeaseRepo(dbs[1]).renew_pins("elsewhere:41:front-a", 30)
        assert await LeaseRepo(dbs[1]).recover_expired() == []
        await dbs[0].execute("UPDATE jobs SET lease_expires_at=1 WHERE lease_owner IS NOT NULL")
        ended: list[tuple[str, str]] = []

        async def sweep(db: Database) -> None:
            ended.extend((job_id, status) for job_id, _ws, status in await LeaseRepo(db).recover_expired())

        async with anyio.create_task_group() as tg:
            for db in dbs:
                tg.start_soon(sweep, db)
        assert sorted(ended) == sorted((job_id, "failed") for job_id in pinned)
        events = await dbs[0].fetchall("SELECT job_id FROM job_events WHERE type='job.recovered'")
        assert Counter(r["job_id"] for r in events) == dict.fromkeys(pinned, 1)
        rows = await dbs[0].fetchall("SELECT id, status, error_code, error_message FROM jobs")
        for r in rows:
            if r["id"] in free:
                assert r["status"] == "queued"  # anyone may still run these
            else:
                assert (r["status"], r["error_code"]) == ("failed", "INTERRUPTED")
                assert "elsewhere:41:front-a" in r["error_message"] and "submit it again" in r["error_message"]


async def test_concurrent_charges_from_two_processes_never_overspend(database: str | Path) -> None:
    async with processes(database, 2, credits=50) as dbs:
        outcomes: list[bool] = []

        async def spend(db: Database) -> None:
            for _ in range(7):
                try:
                    async with db.transaction(durable=True) as conn:
                        await LedgerRepo.apply(conn, WS, -1, kind="charge", description="one")
                    outcomes.append(True)
                except InsufficientCredit:
                    outcomes.append(False)

        async with anyio.create_task_group() as tg:
            for db in dbs:
                for _ in range(5):  # five writers per process, so transactions overlap within a process too
                    tg.start_soon(spend, db)
        assert outcomes.count(True) == 50 and outcomes.count(False) == 20
        assert await LedgerRepo(dbs[1]).balance(WS) == 0
        rows = await dbs[1].fetchall("SELECT amount, balance_after FROM ledger WHERE workspace_id=? ORDER BY id", (WS,))
        running = 0
        for r in rows:
            running += r["amount"]
            assert r["balance_after"] == running


async def test_one_idempotency_key_has_one_owner_among_concurrent_calls(database: str | Path) -> None:
    async with processes(database, 2) as dbs:
        kinds: list[str] = []

        async def call(db: Database, n: int) -> None:
            claim = await IdempotencyRepo(db).reserve(
                WS, "key-1", "scrape", "hash", owner=f"caller-{n}", request_id=f"req-{n}", lease_seconds=30
            )
            kinds.append(claim.kind)

        async with anyio.create_task_group() as tg:
            for n in range(12):
                tg.start_soon(call, dbs[n % 2], n)
        assert sorted(kinds) == ["in_flight"] * 11 + ["owner"]


async def test_processes_starting_at_once_migrate_once(database: str | Path) -> None:
    dbs = [Database(database) for _ in range(3)]
    try:
        async with anyio.create_task_group() as tg:
            for db in dbs:
                tg.start_soon(db.open)
        assert [await db.schema_version() for db in dbs] == [LATEST_VERSION] * 3
    finally:
        for db in dbs:
            await db.close()


async def test_a_notification_is_delivered_on_commit_and_dropped_on_rollback(database: str | Path) -> None:
    async with processes(database, 2) as (sender, receiver):
        # PostgreSQL carries it to another process; SQLite to this process's listeners only.
        listener = receiver if sender.notifies_other_processes else sender
        got: list[str] = []
        async with listener.listen("job_queued") as notes:
            with pytest.raises(RuntimeError):
                async with sender.transaction() as conn:
                    conn.notify("job_queued", "rolled-back")
                    raise RuntimeError("abandon the transaction")
            async with sender.transaction() as conn:
                conn.notify("job_queued", "committed")
            await sender.notify("job_queued", "direct")
            with anyio.fail_after(10):
                async for note in notes:
                    if note.payload:  # an empty payload is a "look for yourself" after (re)connecting
                        got.append(note.payload)
                    if note.payload == "direct":
                        break
        assert got == ["committed", "direct"]


async def test_a_channel_name_that_is_not_an_identifier_is_refused(database: str | Path) -> None:
    async with processes(database, 1) as (db,):
        with pytest.raises(ValueError, match="channel"):
            await db.notify("jobs; DROP TABLE jobs", "")
        assert await db.fetchone("SELECT COUNT(*) FROM jobs") is not None


async def test_a_batchs_progress_never_goes_back_when_its_rows_commit_out_of_order(database: str | Path) -> None:
    # Rows of one batch take their counts in the order they finish, but commit in whatever order their
    # transactions end: the row holding count 1 may land after the one holding count 2.
    async with processes(database, 2) as dbs:
        (job_id,) = await queue(dbs[0], 1)
        for db, done, total in ((dbs[1], 2, 5), (dbs[0], 1, 3), (dbs[1], 3, None)):
            async with db.transaction() as conn:
                await progress_write(job_id, done, total, f"row {done}")(conn)
        row = await dbs[0].fetchone("SELECT progress_done, progress_total, last_action FROM jobs WHERE id=?", (job_id,))
        assert row is not None
        assert (row["progress_done"], row["progress_total"], row["last_action"]) == (3, 5, "row 3")
