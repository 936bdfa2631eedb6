"""Job leases across processes: renewing the pins of queued jobs, giving up this process's leases at shutdown,
finding those of dead processes, and rescuing every job whose lease ran out.

A lease owner is "host:pid:nonce". A running job's lease is renewed by the worker running it; a queued job pinned
to one process (it needs what only that process holds in memory: the model key sent with the call, the calling
client's own model, a host-driven session) carries a lease too, renewed by that process while it lives. When
either runs out, whichever process sweeps first rescues the job, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp_browsa.storage.db import Conn, Database, now
from mcp_browsa.storage.jobs import READ_ONLY_KINDS, JobRepo

__all__ = ["EndHook", "LeaseRepo"]

# (conn, job_id, workspace_id, new_status) called inside the transaction that ends a rescued job.
EndHook = Callable[[Conn, str, str, str], Awaitable[None]]

_EXPIRE_CHUNK = 500  # ids per UPDATE, under SQLite's bound-parameter limit


def _interrupted(owner: str) -> str:
    return (
        f"the server process running this task ({owner}) stopped mid-run; agent tasks are not re-run automatically"
        " because they may have changed something (submit it again if that is safe)"
    )


def _session_gone(owner: str) -> str:
    return (
        f"the server process holding this session ({owner}) stopped, and the session ended with it; open_session again"
    )


def _owner_gone(owner: str) -> str:
    return (
        f"the server process that accepted this job ({owner}) stopped before the job could start, and only that"
        " process could run it (it held the model key sent with the call, or the calling client's own model, in"
        " its memory): submit it again"
    )


class LeaseRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def renew_pins(self, owner: str, lease_seconds: float) -> None:
        """Extend the leases of the queued jobs pinned to `owner`: while they are fresh, nobody ends them."""
        await self.db.execute(
            "UPDATE jobs SET lease_expires_at=? WHERE status='queued' AND lease_owner=?", (now() + lease_seconds, owner)
        )

    async def release(self, owner: str) -> None:
        """Expire now every lease `owner` holds on running or waiting work (a question, a person in control), and
        the queued jobs pinned to it (they need what only its memory held, a key or a client: the sweep ends them)."""
        await self.db.execute(
            "UPDATE jobs SET lease_expires_at=0 WHERE lease_owner=?"
            " AND status IN ('queued','running','input_required','human_control')",
            (owner,),
        )

    async def owners_on_host(self, host: str) -> list[tuple[str, str]]:
        """(job id, lease owner) of every unfinished job leased or pinned by a process on `host`."""
        rows = await self.db.fetchall(
            "SELECT id, lease_owner FROM jobs WHERE status IN ('queued','running','input_required','human_control')"
            " AND lease_owner LIKE ?",
            (host + ":%",),
        )
        return [(str(r["id"]), str(r["lease_owner"])) for r in rows]

    async def expire(self, job_ids: list[str]) -> None:
        for start in range(0, len(job_ids), _EXPIRE_CHUNK):
            chunk = job_ids[start : start + _EXPIRE_CHUNK]
            await self.db.execute(
                f"UPDATE jobs SET lease_expires_at=0 WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )

    async def recover_expired(self, on_end: EndHook | None = None) -> list[tuple[str, str, str]]:
        """Jobs whose lease ran out: read-only kinds go back to the queue, agent tasks fail INTERRUPTED, and so does
        a queued task or session pinned to a process that is gone (nobody else can run it).

        `on_end(conn, job_id, workspace_id, new_status)` runs in the same transaction for each job that ends
        here, so whatever announces a job's end (the webhook outbox) commits with it. Returns
        (job_id, workspace_id, new_status) per job.
        """
        touched: list[tuple[str, str, str]] = []
        t = now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT id, kind, status, workspace_id, cancel_requested, lease_owner FROM jobs"
                " WHERE status IN ('queued','running','input_required','human_control') AND lease_expires_at < ?"
                # Another process's sweeper may be rescuing the same jobs: each is rescued by one of them, once
                # (a row it locked is skipped here, and one it already rescued no longer matches).
                f"{conn.skip_locked}",
                (t,),
            )
            for row in await cur.fetchall():
                job_id, kind, owner = row["id"], row["kind"], str(row["lease_owner"] or "unknown")
                if row["cancel_requested"]:
                    new = "cancelled"
                    await conn.execute(
                        "UPDATE jobs SET status='cancelled', completed_at=?, lease_owner=NULL, lease_token=NULL,"
                        " lease_expires_at=NULL, live_url=NULL WHERE id=?",
                        (t, job_id),
                    )
                elif row["status"] == "queued" and kind not in READ_ONLY_KINDS:
                    # Pinned to a dead process, and what it needed died with it. (A read-only job pinned so, a batch
                    # with task rows on the call's key, goes back to the queue: its other rows run anywhere, and
                    # each task row ends INTERRUPTED by itself, finding no key.)
                    new = "failed"
                    message = _session_gone(owner) if kind == "session" else _owner_gone(owner)
                    await self._fail(conn, job_id, message, t)
                elif kind in READ_ONLY_KINDS:
                    new = "queued"
                    await self._requeue(conn, job_id, _interrupted(owner), t)
                else:
                    new = "failed"
                    await self._fail(
                        conn, job_id, _session_gone(owner) if kind == "session" else _interrupted(owner), t
                    )
                await JobRepo.add_event(conn, job_id, "job.recovered", {"new_status": new, "dead_owner": owner})
                if on_end is not None and new != "queued":
                    await on_end(conn, job_id, row["workspace_id"], new)
                touched.append((job_id, row["workspace_id"], new))
        return touched

    @staticmethod
    async def _requeue(conn: Conn, job_id: str, interrupted: str, t: float) -> None:
        # Agent task rows of a batch may have changed something: they end INTERRUPTED, never re-run.
        await _fail_rows(conn, job_id, interrupted, t, "status='running' AND json_extract(params, '$.kind')='task'")
        await conn.execute(
            "UPDATE jobs SET status='queued', lease_owner=NULL, lease_token=NULL, lease_expires_at=NULL,"
            " live_url=NULL WHERE id=?",
            (job_id,),
        )
        await conn.execute(
            "UPDATE batch_items SET status='queued', started_at=NULL WHERE job_id=? AND status='running'", (job_id,)
        )

    @staticmethod
    async def _fail(conn: Conn, job_id: str, message: str, t: float) -> None:
        await conn.execute(
            "UPDATE jobs SET status='failed', error_code='INTERRUPTED', completed_at=?, error_message=?,"
            " lease_owner=NULL, lease_token=NULL, lease_expires_at=NULL, live_url=NULL WHERE id=?",
            (t, message, job_id),
        )
        # A batch's rows end with it rather than staying queued in a job that is over.
        await _fail_rows(conn, job_id, message, t, "status IN ('queued','running')")


async def _fail_rows(conn: Conn, job_id: str, message: str, t: float, which: str) -> None:
    """End the batch rows of `job_id` that match `which` (a fixed condition, never user input) INTERRUPTED."""
    await conn.execute(
        "UPDATE batch_items SET status='failed', error_code='INTERRUPTED', error_message=?, completed_at=?"
        f" WHERE job_id=? AND {which}",
        (message, t, job_id),
    )
