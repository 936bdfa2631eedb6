"""Claim latency under concurrent claimers: 4 storage connections (as 4 worker processes would hold) taking jobs
from one queue at once, each claim timed. No browser: this measures the queue alone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio

from bench.common import stats_ms
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo

__all__ = ["claim_latency"]


def _database(folder: Path, url: str | None) -> Database:
    """One claimer's own connection(s), as a worker process would hold: a pool on PostgreSQL, a file on SQLite."""
    return Database(url if url else folder / "claims.db")


async def claim_latency(folder: Path, url: str | None, claimers: int, jobs: int) -> dict[str, Any]:
    dbs = [_database(folder, url) for _ in range(claimers)]
    for db in dbs:
        await db.open()
    try:
        await LedgerRepo(dbs[0]).ensure_workspace(DEFAULT_WORKSPACE, initial_credits=10)
        async with dbs[0].transaction() as conn:
            for i in range(jobs):
                await JobRepo.insert(
                    conn, workspace_id=DEFAULT_WORKSPACE, kind="scrape", params={"n": i}, request_id=None
                )
        samples: list[float] = []
        taken: list[str] = []

        async def claimer(n: int) -> None:
            repo = JobRepo(dbs[n])
            while True:
                t0 = time.perf_counter()
                got = await repo.claim(f"bench:{n}:c{n}", 60)
                samples.append(time.perf_counter() - t0)
                if got is None:
                    return
                taken.append(got.id)

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for n in range(claimers):
                tg.start_soon(claimer, n)
        wall = time.perf_counter() - t0
        assert len(taken) == len(set(taken)) == jobs, "a job was claimed twice, or one was missed"
        stats = stats_ms(samples)
        xs = sorted(samples)
        return {
            "database": "postgresql" if url else "sqlite",
            "claims": len(taken),
            "p50": stats["p50"],
            "p99": round(xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))] * 1000, 2),
            "max": stats["max"],
            "claims_per_s": round(len(taken) / wall, 1),
        }
    finally:
        for db in dbs:
            await db.close()
