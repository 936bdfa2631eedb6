"""Jobs, batch rows and job events in the database: creation, leases, completion and recovery.

A claim hands out a fresh lease token; completion and heartbeats check it, so a job rescued
from a dead (or merely slow) worker is never completed twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mcp_browsa.events import EngineEvent
from mcp_browsa.models import TERMINAL, BatchItem, Job, JobEvent, JobStatus
from mcp_browsa.storage.db import Conn, Database, Row, dumps, loads, now
from mcp_browsa.storage.job_rows import ClaimedJob, duration_ms, job_from_row
from mcp_browsa.storage.paging import fetch_page

# Called inside the transaction that ends a job (the webhook outbox writes its rows there).
FinishHook = Callable[[Conn, EngineEvent], Awaitable[None]]

__all__ = ["READ_ONLY_KINDS", "ROW_KINDS", "ClaimedJob", "FinishHook", "JobRepo", "job_from_row"]

# Kinds that never change anything outside the browser: safe to run again after a crash.
READ_ONLY_KINDS = ("scrape", "extract", "screenshot", "batch", "crawl", "map")
# Kinds whose work is rows (batch_items): they stop between rows when cancelled, and show their rows.
ROW_KINDS = ("batch", "crawl")
_ACTIVE = ("queued", "running", "input_required", "human_control")
_CLAIM_ONE_TRIP = (
    "WITH claimed AS (UPDATE jobs SET status='running', lease_owner=?, lease_token=?, lease_expires_at=?,"
    " started_at=COALESCE(started_at, ?), attempts=attempts+1"
    " WHERE id=(SELECT id FROM jobs WHERE status='queued' AND (lease_owner IS NULL OR lease_owner=?)"
    " ORDER BY created_at, rowid LIMIT 1 FOR UPDATE SKIP LOCKED) AND status='queued' RETURNING *),"
    " started AS (INSERT INTO job_events(job_id, type, created_at, data) SELECT id, 'job.started', ?,"
    " jsonb_build_object('attempt', attempts, 'worker', ?::text)::text FROM claimed)"
    " SELECT * FROM claimed"
)


class JobRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- creation and reads -------------------------------------------------------------------

    @staticmethod
    async def insert(
        conn: Conn,
        *,
        workspace_id: str,
        kind: str,
        params: dict[str, Any],
        request_id: str | None,
        progress_total: int = 0,
        job_id: str | None = None,
        agent_id: str | None = None,
    ) -> str:
        job_id = job_id or str(uuid.uuid4())
        await conn.execute(
            "INSERT INTO jobs(id, workspace_id, kind, status, params, progress_total, created_at, request_id, agent_id)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (job_id, workspace_id, kind, "queued", dumps(params), progress_total, now(), request_id, agent_id),
        )
        return job_id

    @staticmethod
    async def pin(conn: Conn, job_id: str, owner: str, lease_seconds: float) -> None:
        """Let only worker `owner` claim the queued job (it holds what the job needs in its memory).

        The pin is a lease like a running job's: `owner` renews it while it lives (`LeaseRepo.renew_pins`), and
        once it runs out the sweep of any process ends the job, which nobody else can run.
        """
        await conn.execute(
            "UPDATE jobs SET lease_owner=?, lease_expires_at=? WHERE id=?", (owner, now() + lease_seconds, job_id)
        )

    @staticmethod
    async def insert_items(conn: Conn, job_id: str, items: list[dict[str, Any]]) -> None:
        await conn.executemany(
            "INSERT INTO batch_items(job_id, idx, params, status) VALUES (?,?,?, 'queued')",
            [(job_id, i, dumps(p)) for i, p in enumerate(items)],
        )

    @staticmethod
    async def add_item_credits(conn: Conn, job_id: str, idx: int, amount: int) -> None:
        await conn.execute(
            "UPDATE batch_items SET credits_charged = credits_charged + ? WHERE job_id=? AND idx=?",
            (amount, job_id, idx),
        )

    async def get(self, job_id: str, workspace_id: str | None = None) -> Job | None:
        if workspace_id is None:
            row = await self.db.fetchone("SELECT * FROM jobs WHERE id=?", (job_id,))
        else:
            row = await self.db.fetchone("SELECT * FROM jobs WHERE id=? AND workspace_id=?", (job_id, workspace_id))
        return job_from_row(row) if row else None

    async def params(self, job_id: str) -> dict[str, Any]:
        row = await self.db.fetchone("SELECT params FROM jobs WHERE id=?", (job_id,))
        return (loads(row["params"]) or {}) if row else {}

    async def mark_async(self, job_id: str) -> None:
        """The call that started this job returned without its result: announce its end like any async job's."""
        await self.db.execute("UPDATE jobs SET params=json_set(params, '$.sync', json('false')) WHERE id=?", (job_id,))

    async def list_jobs(
        self,
        workspace_id: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> tuple[list[Job], str | None, int]:
        """(jobs newest first, the next page's cursor or None, how many match)."""
        page = await fetch_page(
            self.db,
            name="jobs",
            select="* FROM jobs",
            filters={"workspace_id": workspace_id, "status": status or None, "kind": kind or None},
            key=(("created_at", float), ("rowid", int)),
            limit=limit,
            cursor=cursor,
        )
        return [job_from_row(r) for r in page.rows], page.next_cursor, page.total

    async def targets(self, job_ids: list[str]) -> dict[str, str]:
        """What each job was about, in a few words: its URL, its task, or how many rows a batch has."""
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = await self.db.fetchall(f"SELECT id, kind, params FROM jobs WHERE id IN ({marks})", job_ids)
        out: dict[str, str] = {}
        for r in rows:
            p = loads(r["params"]) or {}
            if r["kind"] == "batch":
                what = "tasks" if p.get("tasks") else "URLs"
                out[r["id"]] = f"{p.get('count', '?')} {what}"
            else:
                out[r["id"]] = str(p.get("url") or p.get("task") or p.get("initial_url") or p.get("service") or "")
        return out

    async def items(self, job_id: str) -> list[BatchItem]:
        rows = await self.db.fetchall("SELECT * FROM batch_items WHERE job_id=? ORDER BY idx", (job_id,))
        out = []
        for r in rows:
            params = loads(r["params"]) or {}
            out.append(
                BatchItem(
                    index=r["idx"],
                    url=params.get("url"),
                    status=JobStatus(r["status"]),
                    result=loads(r["result"]),
                    error_code=r["error_code"],
                    error_message=r["error_message"],
                    credits_charged=r["credits_charged"],
                    duration_ms=duration_ms(r["started_at"], r["completed_at"]),
                )
            )
        return out

    async def pending_items(self, job_id: str) -> list[tuple[int, dict[str, Any]]]:
        rows = await self.db.fetchall(
            "SELECT idx, params FROM batch_items WHERE job_id=? AND status NOT IN ('completed','failed','cancelled')"
            " ORDER BY idx",
            (job_id,),
        )
        return [(r["idx"], loads(r["params"]) or {}) for r in rows]

    async def events(self, job_id: str, *, after: int = 0, limit: int = 50) -> list[JobEvent]:
        rows = await self.db.fetchall(
            "SELECT * FROM job_events WHERE job_id=? AND id>? ORDER BY id LIMIT ?", (job_id, after, limit)
        )
        return [
            JobEvent(id=r["id"], type=r["type"], created_at=r["created_at"], data=loads(r["data"]) or {}) for r in rows
        ]

    async def last_event(self, job_id: str, type_: str) -> JobEvent | None:
        """The newest event of one type (the question a waiting job asked, say)."""
        r = await self.db.fetchone(
            "SELECT * FROM job_events WHERE job_id=? AND type=? ORDER BY id DESC LIMIT 1", (job_id, type_)
        )
        if r is None:
            return None
        return JobEvent(id=r["id"], type=r["type"], created_at=r["created_at"], data=loads(r["data"]) or {})

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('queued','running','input_required','human_control') GROUP BY status"
        )
        return {r["status"]: int(r["n"]) for r in rows}

    async def oldest_queued(self) -> float | None:
        row = await self.db.fetchone("SELECT MIN(created_at) FROM jobs WHERE status='queued'")
        return float(row[0]) if row and row[0] is not None else None

    async def lease_owner(self, job_id: str) -> str | None:
        """The process holding (or pinned to) the job, or None."""
        row = await self.db.fetchone("SELECT lease_owner FROM jobs WHERE id=?", (job_id,))
        return str(row["lease_owner"]) if row and row["lease_owner"] else None

    async def next_queued_hint(self) -> bool:
        return await self.db.fetchone("SELECT 1 FROM jobs WHERE status='queued' LIMIT 1") is not None

    # -- events -------------------------------------------------------------------------------

    @staticmethod
    async def add_event(conn: Conn, job_id: str, type_: str, data: dict[str, Any]) -> int:
        cur = await conn.execute(
            "INSERT INTO job_events(job_id, type, created_at, data) VALUES (?,?,?,?) RETURNING id",
            (job_id, type_, now(), dumps(data)),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    # -- leases -------------------------------------------------------------------------------

    async def claim(self, owner: str, lease_seconds: float) -> ClaimedJob | None:
        """Take the oldest queued job with a fresh lease, or None when the queue is empty.

        A queued job may be pinned to one worker (its lease_owner is set): agent tasks whose API key only that
        process holds in memory. Other workers pass over it.
        """
        token = uuid.uuid4().hex
        t = now()
        if self.db.notifies_other_processes:
            # PostgreSQL: the claim and its job.started event in one statement, one round trip (a transaction
            # took four) between an idle worker's wake-up and its job.
            row = await self.db.fetchone(_CLAIM_ONE_TRIP, (owner, token, t + lease_seconds, t, owner, t, owner))
            return ClaimedJob(row, token) if row is not None else None
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE jobs SET status='running', lease_owner=?, lease_token=?, lease_expires_at=?,"
                " started_at=COALESCE(started_at, ?), attempts=attempts+1"
                " WHERE id=(SELECT id FROM jobs WHERE status='queued' AND (lease_owner IS NULL OR lease_owner=?)"
                f" ORDER BY created_at, rowid LIMIT 1{conn.skip_locked}) AND status='queued'"
                " RETURNING *",
                (owner, token, t + lease_seconds, t, owner),
            )
            row = await cur.fetchone()
            await cur.close()
            if row is None:
                return None
            await self.add_event(conn, row["id"], "job.started", {"attempt": row["attempts"], "worker": owner})
        return ClaimedJob(row, token)

    async def heartbeat(self, job_ids_tokens: list[tuple[str, str]], lease_seconds: float) -> set[str]:
        """Extend leases; returns the ids this worker no longer owns (it must stop working on them)."""
        lost: set[str] = set()
        if not job_ids_tokens:
            return lost
        async with self.db.transaction() as conn:
            for job_id, token in job_ids_tokens:
                cur = await conn.execute(
                    "UPDATE jobs SET lease_expires_at=? WHERE id=? AND lease_token=? AND status IN ('running','input_required','human_control')",
                    (now() + lease_seconds, job_id, token),
                )
                if cur.rowcount == 0:
                    lost.add(job_id)
        return lost

    @staticmethod
    async def owns(conn: Conn, job_id: str, token: str) -> bool:
        cur = await conn.execute("SELECT 1 FROM jobs WHERE id=? AND lease_token=?", (job_id, token))
        return await cur.fetchone() is not None

    @staticmethod
    async def finish(
        conn: Conn,
        job_id: str,
        token: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """Write the end state if this worker still owns the job; False means someone else does."""
        assert status in TERMINAL
        cur = await conn.execute(
            "UPDATE jobs SET status=?, result=?, error_code=?, error_message=?, completed_at=?, question=NULL,"
            " lease_owner=NULL, lease_token=NULL, lease_expires_at=NULL, live_url=NULL"
            " WHERE id=? AND lease_token=? AND status IN ('running','input_required','human_control')",
            (
                status.value,
                dumps(result) if result is not None else None,
                error_code,
                error_message,
                now(),
                job_id,
                token,
            ),
        )
        if cur.rowcount != 1:
            return False
        if status != JobStatus.COMPLETED:
            # A batch that fails or stops as a whole (say its browser cannot start) ends the rows it never reached,
            # rather than leaving them queued in a job that is over.
            await conn.execute(
                "UPDATE batch_items SET status=?, error_code=?, error_message=?, completed_at=?"
                " WHERE job_id=? AND status IN ('queued','running')",
                (status.value, error_code, error_message, now(), job_id),
            )
        return True

    async def request_cancel(self, job_id: str) -> Row | None:
        """Mark a job for cancellation. A queued job is cancelled at once; returns the row before."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(f"SELECT * FROM jobs WHERE id=?{conn.for_update}", (job_id,))
            row = await cur.fetchone()
            if row is None or row["status"] not in _ACTIVE:
                return row
            if row["status"] == "queued":
                await conn.execute(
                    "UPDATE jobs SET status='cancelled', completed_at=?, cancel_requested=1,"
                    " error_message='cancelled before it started' WHERE id=?",
                    (now(), job_id),
                )
                await conn.execute(
                    "UPDATE batch_items SET status='cancelled' WHERE job_id=? AND status='queued'", (job_id,)
                )
            else:
                await conn.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
            await self.add_event(conn, job_id, "job.cancel_requested", {"status_before": row["status"]})
            return row

    async def cancel_requested(self, job_id: str) -> bool:
        row = await self.db.fetchone("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,))
        return bool(row and row["cancel_requested"])
