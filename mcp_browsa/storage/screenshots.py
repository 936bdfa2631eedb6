"""Screenshot rows: which numbered PNG belongs to which job, where it lies, and when it may go.

The files themselves are written by the engine; these rows are how a job's pictures are listed and purged.
"""

from __future__ import annotations

from pathlib import Path

from mcp_browsa.storage.db import Conn, Database, now

__all__ = ["ScreenshotRepo"]

_DELETE_CHUNK = 500  # ids per DELETE, under SQLite's bound-parameter limit


class ScreenshotRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def record(conn: Conn, job_id: str, n: int, path: Path, url: str) -> None:
        """Screenshot `n` of the job, in the caller's transaction (a retaken number replaces its row)."""
        await conn.execute(
            "INSERT INTO screenshots(job_id, n, path, url, created_at) VALUES (?,?,?,?,?) ON CONFLICT(job_id, n)"
            " DO UPDATE SET path=excluded.path, url=excluded.url, created_at=excluded.created_at",
            (job_id, n, str(path), url, now()),
        )

    async def next_number(self, job_id: str) -> int:
        row = await self.db.fetchone("SELECT COALESCE(MAX(n), 0) + 1 FROM screenshots WHERE job_id=?", (job_id,))
        return int(row[0]) if row else 1

    async def files(self, job_id: str) -> list[tuple[int, str]]:
        """(n, path) of each of the job's screenshots, in order."""
        rows = await self.db.fetchall("SELECT n, path FROM screenshots WHERE job_id=? ORDER BY n", (job_id,))
        return [(int(r["n"]), str(r["path"])) for r in rows]

    async def older_than(self, cutoff: float) -> list[tuple[int, str]]:
        """(row id, path) of every screenshot taken before `cutoff` (epoch seconds)."""
        rows = await self.db.fetchall("SELECT id, path FROM screenshots WHERE created_at < ?", (cutoff,))
        return [(int(r["id"]), str(r["path"])) for r in rows]

    async def delete(self, ids: list[int]) -> None:
        for start in range(0, len(ids), _DELETE_CHUNK):
            chunk = ids[start : start + _DELETE_CHUNK]
            await self.db.execute(f"DELETE FROM screenshots WHERE id IN ({','.join('?' * len(chunk))})", chunk)
