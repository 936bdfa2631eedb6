"""The webhook outbox's SQL: who subscribes to a workspace's events, and one row per event per webhook.

Called inside the transaction of the change an event reports, so an event is stored if and only if its change
committed; `webhooks.events` decides what an event says, this only reads and writes the rows.
"""

from __future__ import annotations

from typing import Any

from mcp_browsa.models import Job
from mcp_browsa.storage.db import Conn, loads
from mcp_browsa.storage.jobs import job_from_row

__all__ = ["OutboxRepo"]


class OutboxRepo:
    @staticmethod
    async def subscribers(conn: Conn, workspace_id: str, webhook_id: str | None = None) -> list[tuple[str, Any]]:
        """(webhook id, its subscribed event types) of the workspace's active webhooks, or of just `webhook_id`."""
        sql = "SELECT id, events FROM webhooks WHERE workspace_id=? AND disabled_at IS NULL"
        args: list[Any] = [workspace_id]
        if webhook_id is not None:
            sql += " AND id=?"
            args.append(webhook_id)
        cur = await conn.execute(sql, args)
        return [(str(r["id"]), loads(r["events"])) for r in await cur.fetchall()]

    @staticmethod
    async def anyone_listening(conn: Conn, workspace_id: str) -> bool:
        cur = await conn.execute("SELECT 1 FROM webhooks WHERE workspace_id=? AND disabled_at IS NULL", (workspace_id,))
        return await cur.fetchone() is not None

    @staticmethod
    async def add(conn: Conn, webhook_ids: list[str], event_id: str, event_type: str, body: str, at: float) -> None:
        """One pending delivery of the event per webhook, due now."""
        await conn.executemany(
            "INSERT INTO webhook_outbox(webhook_id, event_id, event_type, body, status, next_attempt_at, created_at)"
            " VALUES (?,?,?,?, 'pending', ?, ?)",
            [(hook, event_id, event_type, body, at, at) for hook in webhook_ids],
        )

    @staticmethod
    async def job(conn: Conn, job_id: str) -> tuple[Job, dict[str, Any]] | None:
        """The job as the caller's transaction sees it, with its params; None when it does not exist."""
        cur = await conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,))
        row = await cur.fetchone()
        return None if row is None else (job_from_row(row), loads(row["params"]) or {})
