"""A crawl's rows in SQLite: the batch rows it has discovered so far, and the ones it adds as it goes.

Rows a finished page discovers are written in the transaction that finishes it, so a crawl that stops at any
moment resumes with exactly the pages it had found, and never loads a finished one again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp_browsa.storage.db import Conn, Database, dumps, loads

__all__ = ["CrawlRepo", "CrawlRow"]

CrawlRow = tuple[int, str, dict[str, Any]]  # (index, status, params)


class CrawlRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def rows(self, job_id: str) -> list[CrawlRow]:
        found = await self.db.fetchall(
            "SELECT idx, status, params FROM batch_items WHERE job_id=? ORDER BY idx", (job_id,)
        )
        return [(int(r["idx"]), str(r["status"]), loads(r["params"]) or {}) for r in found]

    @staticmethod
    def add_rows(job_id: str, first_index: int, rows: list[dict[str, Any]]) -> Callable[[Conn], Awaitable[None]]:
        """The write that appends `rows` (queued) from `first_index` on; nothing when there are none."""

        async def write(conn: Conn) -> None:
            if rows:
                await conn.executemany(
                    "INSERT INTO batch_items(job_id, idx, params, status) VALUES (?,?,?, 'queued')",
                    [(job_id, first_index + i, dumps(p)) for i, p in enumerate(rows)],
                )

        return write
