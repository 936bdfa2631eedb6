"""Job leases across processes: giving up this process's leases at shutdown, and finding those of dead processes.

A lease owner is "host:pid:nonce"; an expired lease is what `JobRepo.recover_expired` rescues.
"""

from __future__ import annotations

from mcp_browsa.storage.db import Database

__all__ = ["LeaseRepo"]

_EXPIRE_CHUNK = 500  # ids per UPDATE, under SQLite's bound-parameter limit


class LeaseRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

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
