"""What the reliability scenarios share: the data dir read from outside (ledger, job states, integrity), a
server's idle state, and a probe of how fast it answers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import psycopg
from mcp import Client

from mcp_browsa.storage.db import Row
from tests.reliability.faults import ProcSample, sample
from tests.reliability.pages import TINY
from tests.support.db import read_rows
from tests.support.mcp_server import call, ok
from tests.support.sites import Site
from tests.support.waits import wait_until

__all__ = [
    "Idle",
    "Ledger",
    "Prober",
    "db_state",
    "job_ids",
    "ledger",
    "probing",
    "query",
    "settled",
    "site_env",
    "tiny_scrape",
]


def site_env(site: Site, **extra: str) -> dict[str, str]:
    """Server environment that lets the browser reach this site's port on loopback, and nothing else private."""
    return {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}", **extra}


# -- what the data dir holds -------------------------------------------------------------------


def query(db: Path | str, sql: str, *args: Any) -> list[Row]:
    """Rows from the SQLite file `db`, or the PostgreSQL database the URL `db` names."""
    return read_rows(db, sql, *args)


def integrity(db: Path | str) -> str:
    """SQLite's integrity_check; on PostgreSQL, amcheck's verdict on every index of the schema."""
    if not isinstance(db, str):
        return str(query(db, "PRAGMA integrity_check")[0][0])
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            indexes = conn.execute(
                "SELECT c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND a.amname = 'btree'"
            ).fetchall()
            for (oid,) in indexes:
                conn.execute("SELECT bt_index_check(%s, true)", (oid,))
    except psycopg.Error as exc:
        return str(exc)
    return "ok"


@dataclass(frozen=True)
class Ledger:
    rows: list[tuple[int, str, int, int, str | None]]  # (id, kind, amount, balance_after, job_id)
    balance: int
    running_ok: bool  # each row's balance_after is the sum of the amounts up to it
    jobs_ok: bool  # every job's credits_charged is what its ledger rows charged

    @property
    def total(self) -> int:
        return sum(r[2] for r in self.rows)

    @property
    def consistent(self) -> bool:
        return self.running_ok and self.jobs_ok and self.total == self.balance


def ledger(db: Path | str) -> Ledger:
    rows = [
        (r["id"], r["kind"], r["amount"], r["balance_after"], r["job_id"])
        for r in query(db, "SELECT id, kind, amount, balance_after, job_id FROM ledger ORDER BY id")
    ]
    running, running_ok = 0, True
    for _id, _kind, amount, after, _job in rows:
        running += amount
        running_ok &= after == running
    [balance] = [r[0] for r in query(db, "SELECT balance FROM workspaces")]
    mismatched = query(
        db,
        "SELECT j.id FROM jobs j LEFT JOIN (SELECT job_id, -SUM(amount) AS charged FROM ledger"
        " WHERE job_id IS NOT NULL AND amount < 0 GROUP BY job_id) l ON l.job_id = j.id"
        " WHERE j.credits_charged != COALESCE(l.charged, 0)",
    )
    return Ledger(rows, int(balance), running_ok, not mismatched)


def job_ids(db: Path | str) -> set[str]:
    return {r[0] for r in query(db, "SELECT id FROM jobs")}


def db_state(db: Path | str) -> dict[str, Any]:
    """Integrity, job counts per status, and jobs that ended more than once (two end events)."""
    statuses = {r[0]: r[1] for r in query(db, "SELECT status, COUNT(*) FROM jobs GROUP BY status")}
    twice = query(
        db,
        "SELECT job_id FROM job_events WHERE type IN ('job.completed','job.failed','job.cancelled')"
        " GROUP BY job_id HAVING COUNT(*) > 1",
    )
    return {"integrity": integrity(db), "statuses": statuses, "ended_twice": [r[0] for r in twice]}


# -- is the server answering? ------------------------------------------------------------------


@dataclass
class Prober:
    """Latencies of a cheap tool call made every `interval` seconds while something else runs."""

    interval: float = 0.5
    latencies: list[float] = field(default_factory=list)
    samples: list[ProcSample] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    @property
    def peak_mib(self) -> float:
        return max((s.total_pss_mib for s in self.samples), default=0.0)


@asynccontextmanager
async def probing(client: Client, pid: int | None = None, interval: float = 0.5) -> AsyncIterator[Prober]:
    """Call `capacity` (and sample the server's processes) every `interval` seconds for the block's duration."""
    prober = Prober(interval)

    async def probe() -> None:
        while True:
            t0 = time.monotonic()
            ok(await call(client, "capacity"))
            prober.latencies.append(time.monotonic() - t0)
            if pid is not None:
                prober.samples.append(await anyio.to_thread.run_sync(sample, pid))
            await anyio.sleep(interval)  # the probe's cadence: it samples for as long as the block runs

    async with anyio.create_task_group() as tg:
        tg.start_soon(probe)
        yield prober
        tg.cancel_scope.cancel()


# -- idle state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Idle:
    """A server with nothing to do: its processes, and the contexts its browser holds (the warm spare)."""

    procs: ProcSample
    contexts: int  # capacity's browser_contexts: what Playwright holds open


async def settled(client: Client, pid: int, like: Idle | None = None, timeout: float = 30) -> Idle:
    """Wait until nothing runs or waits and the warm spare is ready (with `like`: no more contexts than then)."""
    last: list[Any] = []

    async def calm() -> bool:
        cap = ok(await call(client, "capacity"))
        last[:] = [Idle(await anyio.to_thread.run_sync(sample, pid), cap["browser_contexts"]), cap]
        if cap["burners_in_use"] or cap["running"] or cap["queued"] or not cap["spares_ready"]:
            return False
        return like is None or cap["browser_contexts"] <= like.contexts

    await wait_until(calm, lambda: f"the server idle again (last: {last})", timeout=timeout, interval=0.1)
    idle: Idle = last[0]
    if like is not None:
        # Closed contexts' renderers take a moment to exit, longer on a busy machine: give them that, then report
        # whatever is left. (Chromium may keep one spare renderer of its own, hence the one extra.)
        async def exited() -> bool:
            nonlocal idle
            idle = Idle(await anyio.to_thread.run_sync(sample, pid), idle.contexts)
            procs = idle.procs
            return procs.chromium <= like.procs.chromium + 1 and procs.renderers <= like.procs.renderers + 1

        with contextlib.suppress(AssertionError):  # the caller judges what is left
            await wait_until(exited, "closed contexts' renderers gone", timeout=30, interval=0.2)
    return idle


async def tiny_scrape(client: Client, site: Site, tag: str = "next") -> tuple[dict[str, Any], float]:
    """A plain small page, the way any next job would ask for one; the job and its wall time."""
    t0 = time.monotonic()
    job = ok(await call(client, "scrape", {"url": site.url(f"{TINY}?n={tag}")}))
    return job, time.monotonic() - t0
