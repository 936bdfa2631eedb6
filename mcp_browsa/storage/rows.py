"""A batch or crawl job's rows while they run: started, finished with an outcome, the rest cancelled, counted.

Writes take the caller's connection, so a row's end commits with its charge and its job's progress.
"""

from __future__ import annotations

from typing import Any

from mcp_browsa.storage.db import Conn, Database, dumps, now

__all__ = ["BatchRowRepo"]

_ENDED = ("completed", "failed", "cancelled")


class BatchRowRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def start(conn: Conn, job_id: str, idx: int, started_at: float) -> None:
        await conn.execute(
            "UPDATE batch_items SET status='running', started_at=? WHERE job_id=? AND idx=?", (started_at, job_id, idx)
        )

    @staticmethod
    async def finish(
        conn: Conn,
        job_id: str,
        idx: int,
        *,
        status: str,
        result: dict[str, Any] | None,
        error_code: str | None,
        error_message: str | None,
    ) -> None:
        await conn.execute(
            "UPDATE batch_items SET status=?, result=?, error_code=?, error_message=?, completed_at=?"
            " WHERE job_id=? AND idx=?",
            (status, dumps(result) if result is not None else None, error_code, error_message, now(), job_id, idx),
        )

    @staticmethod
    async def cancel_rest(conn: Conn, job_id: str) -> None:
        """Every row not yet ended is cancelled (the job was)."""
        await conn.execute(
            "UPDATE batch_items SET status='cancelled', completed_at=? WHERE job_id=? AND status IN ('queued','running')",
            (now(), job_id),
        )

    async def ended(self, job_id: str) -> int:
        """How many of the job's rows have ended, however they ended."""
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM batch_items WHERE job_id=? AND status IN ({','.join('?' * len(_ENDED))})",
            (job_id, *_ENDED),
        )
        return int(row[0]) if row else 0
