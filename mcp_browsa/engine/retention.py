"""Retention: screenshot files (and their rows) older than BROWSA_SCREENSHOT_RETENTION_DAYS are deleted.

Runs at start-up and then hourly; files go first, rows after, so a crash in between leaves
only rows that point at nothing (the resource read reports them missing), never orphan files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anyio

from mcp_browsa.storage.db import Database

__all__ = ["purge_screenshots", "retention_loop"]

log = logging.getLogger(__name__)


async def purge_screenshots(db: Database, screenshots_dir: Path, days: int) -> int:
    """Delete screenshots older than `days`; returns how many files went."""
    if days <= 0:
        return 0
    cutoff = time.time() - days * 86400
    rows = await db.fetchall("SELECT id, path FROM screenshots WHERE created_at < ?", (cutoff,))
    removed = 0
    for row in rows:
        path = Path(row["path"])
        # Only files under our own screenshots dir: a row is data, not a licence to delete anything.
        if screenshots_dir in path.parents:
            try:
                await anyio.Path(path).unlink(missing_ok=True)
                removed += 1
            except OSError as exc:
                log.warning("could not delete old screenshot %s: %s", path, exc)
    if rows:
        ids = [row["id"] for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await db.execute(f"DELETE FROM screenshots WHERE id IN ({','.join('?' * len(chunk))})", chunk)
    await anyio.to_thread.run_sync(_remove_empty_dirs, screenshots_dir)
    return removed


def _remove_empty_dirs(root: Path) -> None:
    if root.is_dir():
        for job_dir in root.iterdir():
            if job_dir.is_dir() and not any(job_dir.iterdir()):
                job_dir.rmdir()


async def retention_loop(db: Database, screenshots_dir: Path, days: int, interval: float = 3600.0) -> None:
    while True:
        try:
            removed = await purge_screenshots(db, screenshots_dir, days)
            if removed:
                log.info("deleted %d screenshots older than %d days", removed, days)
        except Exception:
            log.exception("screenshot retention failed")
        await anyio.sleep(interval)
