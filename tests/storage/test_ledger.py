"""The credits ledger on a real SQLite file and a real PostgreSQL database: every charge a row with its running
balance, atomic with what it pays for, never overspent, even by two processes at once.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from mcp_browsa.errors import InsufficientCredit
from mcp_browsa.storage.db import LATEST_VERSION, Database
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.ledger import LedgerRepo

pytestmark = pytest.mark.anyio

WS = "ws_test"


@pytest.fixture
async def db(database: str | Path) -> AsyncIterator[Database]:
    opened = Database(database)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def rows(db: Database, workspace: str = WS) -> list[tuple[str, int, int]]:
    found = await db.fetchall(
        "SELECT kind, amount, balance_after FROM ledger WHERE workspace_id=? ORDER BY id", (workspace,)
    )
    return [(r["kind"], r["amount"], r["balance_after"]) for r in found]


async def assert_consistent(db: Database, workspace: str = WS) -> None:
    """Each row's balance_after is the previous one plus its amount, and the balance is their sum."""
    running = 0
    for _kind, amount, after in await rows(db, workspace):
        running += amount
        assert after == running
    assert await LedgerRepo(db).balance(workspace) == running


async def charge(db: Database, amount: int, *, allow_partial: bool = False) -> int:
    async with db.transaction(durable=True) as conn:
        return await LedgerRepo.apply(
            conn, WS, -amount, kind="charge", description="test charge", allow_partial=allow_partial
        )


async def test_the_database_is_fully_migrated_and_sqlite_is_wal(database: str | Path) -> None:
    for _ in range(2):  # reopening applies nothing twice
        opened = Database(database)
        await opened.open()
        try:
            assert await opened.schema_version() == LATEST_VERSION
            if opened.kind == "sqlite":
                mode = await opened.fetchone("PRAGMA journal_mode")
                assert mode is not None and mode[0] == "wal"
        finally:
            await opened.close()


async def test_a_new_workspace_opens_with_one_grant_row(db: Database) -> None:
    ledger = LedgerRepo(db)
    await ledger.ensure_workspace(WS, initial_credits=100)
    await ledger.ensure_workspace(WS, initial_credits=100)
    assert await rows(db) == [("grant", 100, 100)]
    assert await ledger.balance(WS) == 100


async def test_two_processes_opening_one_workspace_grant_it_once(database: str | Path) -> None:
    first, second = Database(database), Database(database)
    await first.open()
    await second.open()
    try:

        async def open_workspace(database: Database) -> None:
            await LedgerRepo(database).ensure_workspace(WS, initial_credits=50)

        async with anyio.create_task_group() as tg:
            for database in (first, second):
                tg.start_soon(open_workspace, database)
        assert await rows(first) == [("grant", 50, 50)]
    finally:
        await first.close()
        await second.close()


async def test_the_running_balance_always_equals_the_sum_of_rows(db: Database) -> None:
    ledger = LedgerRepo(db)
    await ledger.ensure_workspace(WS, initial_credits=500)
    rng = random.Random(20240601)
    for _ in range(200):
        if rng.random() < 0.2:
            await ledger.top_up(WS, rng.randint(1, 50))
        else:
            try:
                await charge(db, rng.randint(1, 40), allow_partial=rng.random() < 0.3)
            except InsufficientCredit:
                pass
        await assert_consistent(db)


async def test_a_charge_beyond_the_balance_is_refused_and_writes_nothing(db: Database) -> None:
    ledger = LedgerRepo(db)
    await ledger.ensure_workspace(WS, initial_credits=10)
    with pytest.raises(InsufficientCredit) as refused:
        await charge(db, 11)
    assert refused.value.context["balance"] == 10
    assert "mcp-browsa credits add" in refused.value.message
    assert await rows(db) == [("grant", 10, 10)]
    assert await ledger.balance(WS) == 10


async def test_metered_time_takes_what_is_left_and_stops_at_zero(db: Database) -> None:
    await LedgerRepo(db).ensure_workspace(WS, initial_credits=3)
    assert await charge(db, 5, allow_partial=True) == -3
    assert await charge(db, 1, allow_partial=True) == 0  # nothing left: no empty row
    assert await rows(db) == [("grant", 3, 3), ("charge", -3, 0)]
    with pytest.raises(InsufficientCredit):
        await charge(db, 1)


async def test_a_charge_commits_or_rolls_back_with_what_it_pays_for(db: Database) -> None:
    ledger = LedgerRepo(db)
    await ledger.ensure_workspace(WS, initial_credits=100)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction(durable=True) as conn:
            job_id = await JobRepo.insert(conn, workspace_id=WS, kind="scrape", params={}, request_id=None)
            await LedgerRepo.apply(conn, WS, -7, kind="charge", description="burner", job_id=job_id)
            raise Boom
    assert await rows(db) == [("grant", 100, 100)]
    assert await db.fetchall("SELECT id FROM jobs") == []

    async with db.transaction(durable=True) as conn:
        job_id = await JobRepo.insert(conn, workspace_id=WS, kind="scrape", params={}, request_id=None)
        await LedgerRepo.apply(conn, WS, -7, kind="charge", description="burner", job_id=job_id)
    job = await JobRepo(db).get(job_id)
    assert job is not None and job.credits_charged == 7
    assert await rows(db) == [("grant", 100, 100), ("charge", -7, 93)]


async def test_two_processes_charging_at_once_never_overspend(database: str | Path) -> None:
    first, second = Database(database), Database(database)
    await first.open()
    await second.open()
    try:
        await LedgerRepo(first).ensure_workspace(WS, initial_credits=50)
        outcomes: list[bool] = []

        async def spend(database: Database) -> None:
            for _ in range(35):
                try:
                    async with database.transaction(durable=True) as conn:
                        await LedgerRepo.apply(conn, WS, -1, kind="charge", description="one")
                    outcomes.append(True)
                except InsufficientCredit:
                    outcomes.append(False)

        async with anyio.create_task_group() as tg:
            tg.start_soon(spend, first)
            tg.start_soon(spend, second)
        assert outcomes.count(True) == 50
        assert outcomes.count(False) == 20
        assert await LedgerRepo(second).balance(WS) == 0
        await assert_consistent(first)
    finally:
        await first.close()
        await second.close()


async def test_entries_are_newest_first_and_top_up_returns_the_new_balance(db: Database) -> None:
    ledger = LedgerRepo(db)
    await ledger.ensure_workspace(WS, initial_credits=5)
    assert await ledger.top_up(WS, 20, "from the test") == 25
    await charge(db, 2)
    entries = await ledger.entries(WS, limit=2)
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [("charge", -2, 23), ("topup", 20, 25)]
    assert entries[1].description == "from the test"
