"""Retention: screenshot files (and their rows) older than BROWSA_SCREENSHOT_RETENTION_DAYS are deleted, as are
webhook deliveries (with their attempts) that finished more than BROWSA_WEBHOOK_LOG_RETENTION_DAYS ago.

Runs at start-up and then hourly; files go first, rows after, so a crash in between leaves
only rows that point at nothing (the resource read reports them missing), never orphan files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anyio

from mcp_browsa.storage.db import Database
from mcp_browsa.storage.screenshots import ScreenshotRepo
from mcp_browsa.storage.webhooks import WebhookRepo

__all__ = ["purge_once", "purge_screenshots", "retention_loop"]

log = logging.getLogger(__name__)


async def purge_screenshots(db: Database, screenshots_dir: Path, days: int) -> int:
    """Delete screenshots older than `days`; returns how many files went."""
    if days <= 0:
        return 0
    cutoff = time.time() - days * 86400
    shots = ScreenshotRepo(db)
    rows = await shots.older_than(cutoff)
    removed = 0
    for _, raw in rows:
        path = Path(raw)
        # Only files under our own screenshots dir: a row is data, not a licence to delete anything.
        if screenshots_dir in path.parents:
            try:
                await anyio.Path(path).unlink(missing_ok=True)
                removed += 1
            except OSError as exc:
                log.warning("could not delete old screenshot %s: %s", path, exc)
    if rows:
        await shots.delete([row_id for row_id, _ in rows])
    await anyio.to_thread.run_sync(_remove_empty_dirs, screenshots_dir)
    return removed


def _remove_empty_dirs(root: Path) -> None:
    if root.is_dir():
        for job_dir in root.iterdir():
            if job_dir.is_dir() and not any(job_dir.iterdir()):
                job_dir.rmdir()


async def purge_once(db: Database, screenshots_dir: Path, screenshot_days: int, webhook_log_days: int) -> None:
    """One pass of every purge; a failing one is logged and the others still run."""
    try:
        removed = await purge_screenshots(db, screenshots_dir, screenshot_days)
        if removed:
            log.info("deleted %d screenshots older than %d days", removed, screenshot_days)
    except Exception:
        log.exception("screenshot retention failed")
    try:
        purged = await WebhookRepo(db).purge_finished(webhook_log_days)
        if purged:
            log.info("deleted %d webhook deliveries finished more than %d days ago", purged, webhook_log_days)
    except Exception:
        log.exception("webhook delivery log retention failed")


async def retention_loop(
    db: Database, screenshots_dir: Path, screenshot_days: int, webhook_log_days: int, interval: float = 3600.0
) -> None:
    while True:
        await purge_once(db, screenshots_dir, screenshot_days, webhook_log_days)
        await anyio.sleep(interval)
