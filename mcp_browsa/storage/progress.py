"""A running job's visible state: progress, step counters and the question it waits on.

Writes take the caller's connection, so they share the transaction that checks the lease and records the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp_browsa.storage.db import Conn, Database, update_by_id

__all__ = ["JobProgressRepo", "StepCounts"]

# Columns a runner may set as they are; a name outside this set is a bug, never text spliced into SQL.
_SETTABLE = frozenset({"live_url", "last_action", "step_count", "cost_usd", "input_tokens", "output_tokens"})


@dataclass(frozen=True)
class StepCounts:
    """What one agent step adds to its job's counters."""

    input_tokens: int
    output_tokens: int
    usd: float
    last_action: str


class JobProgressRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def set_progress(
        conn: Conn,
        job_id: str,
        done: int,
        total: int | None,
        last_action: str | None,
        steps: int | None,
    ) -> None:
        # Never backwards: rows of one batch finish in parallel transactions, and on PostgreSQL the row that took
        # count 1 may commit after the one that took count 2; the later write must not undo the higher count (a crawl's total only grows too).
        await conn.execute(
            "UPDATE jobs SET progress_done=CASE WHEN progress_done > ? THEN progress_done ELSE ? END,"
            " progress_total=CASE WHEN progress_total > COALESCE(?, 0) THEN progress_total"
            " ELSE COALESCE(?, progress_total) END,"
            " last_action=COALESCE(?, last_action), step_count=COALESCE(?, step_count) WHERE id=?",
            (done, done, total, total, last_action, steps, job_id),
        )

    @staticmethod
    async def set_fields(conn: Conn, job_id: str, fields: dict[str, Any]) -> None:
        await update_by_id(conn, "jobs", job_id, fields, _SETTABLE)

    @staticmethod
    async def count_step(conn: Conn, job_id: str, counts: StepCounts, *, row: int | None, progress: int | None) -> None:
        """One more step on the job (and on batch row `row`); `progress` raises progress_done to at least it."""
        raise_progress = (
            ", progress_done=CASE WHEN progress_done > ? THEN progress_done ELSE ? END" if progress is not None else ""
        )
        args: list[Any] = [counts.input_tokens, counts.output_tokens, counts.usd, counts.last_action]
        if progress is not None:
            args += [progress, progress]
        await conn.execute(
            "UPDATE jobs SET step_count=step_count+1, input_tokens=input_tokens+?, output_tokens=output_tokens+?,"
            f" cost_usd=cost_usd+?, last_action=?{raise_progress} WHERE id=?",
            (*args, job_id),
        )
        if row is not None:
            await conn.execute("UPDATE batch_items SET step_count=step_count+1 WHERE job_id=? AND idx=?", (job_id, row))

    @staticmethod
    async def add_model_usage(conn: Conn, job_id: str, input_tokens: int, output_tokens: int, usd: float) -> None:
        """A model call that is not an agent step (extraction): its tokens and cost, without a step."""
        await conn.execute(
            "UPDATE jobs SET input_tokens=input_tokens+?, output_tokens=output_tokens+?, cost_usd=cost_usd+? WHERE id=?",
            (input_tokens, output_tokens, usd, job_id),
        )

    async def credit_room(self, job_id: str) -> tuple[int, int] | None:
        """(workspace balance, credits this job was charged so far); None when the job is gone."""
        row = await self.db.fetchone(
            "SELECT w.balance AS balance, j.credits_charged AS charged FROM jobs j JOIN workspaces w"
            " ON w.id = j.workspace_id WHERE j.id=?",
            (job_id,),
        )
        return None if row is None else (int(row["balance"]), int(row["charged"]))

    async def status(self, job_id: str) -> str | None:
        row = await self.db.fetchone("SELECT status FROM jobs WHERE id=?", (job_id,))
        return None if row is None else str(row["status"])

    # -- a question to a human --------------------------------------------------------------------------------

    @staticmethod
    async def ask(conn: Conn, job_id: str, question: str, last_action: str) -> None:
        await conn.execute(
            "UPDATE jobs SET status='input_required', question=?, answer=NULL, last_action=? WHERE id=?",
            (question, last_action, job_id),
        )

    @staticmethod
    async def store_answer(conn: Conn, job_id: str, answer: str) -> bool:
        """Leave the answer for the waiting worker; False when the job is not waiting or was answered already."""
        cur = await conn.execute(
            "UPDATE jobs SET answer=? WHERE id=? AND status='input_required' AND answer IS NULL", (answer, job_id)
        )
        return cur.rowcount == 1

    async def answer(self, job_id: str) -> str | None:
        row = await self.db.fetchone("SELECT answer FROM jobs WHERE id=?", (job_id,))
        return None if row is None or row["answer"] is None else str(row["answer"])

    @staticmethod
    async def hand_control(conn: Conn, job_id: str, *, to_person: bool) -> None:
        """A person took the running job's browser (`human_control`), or gave it back (`running`); a job waiting
        for an answer stays `input_required` either way."""
        if to_person:
            await conn.execute("UPDATE jobs SET status='human_control' WHERE id=? AND status='running'", (job_id,))
        else:
            await conn.execute("UPDATE jobs SET status='running' WHERE id=? AND status='human_control'", (job_id,))

    @staticmethod
    async def resume(conn: Conn, job_id: str) -> None:
        """Back to running after a question, answered or not."""
        await conn.execute(
            "UPDATE jobs SET status='running', question=NULL, answer=NULL WHERE id=? AND status='input_required'",
            (job_id,),
        )
