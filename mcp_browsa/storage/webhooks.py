"""Webhooks, the outbox and the delivery log in the database: endpoints per workspace, leased claims, recorded attempts.

A delivery is claimed with a lease (owner + expiry) so two processes on one data dir never send the same row at
once, and a crashed sender's rows are picked up again when the lease runs out. Finished rows and their attempts are
purged once they are older than the retention; pending ones never are.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import anyio

from mcp_browsa.errors import NotFound
from mcp_browsa.models.webhooks import DeliveryAttempt, Webhook
from mcp_browsa.storage.db import Conn, Database, Row, dumps, loads, now
from mcp_browsa.storage.paging import fetch_page

__all__ = ["PURGE_CHUNK", "WORKSPACE_SIGNED", "AttemptOutcome", "ClaimedDelivery", "WebhookRepo"]

# The `secret` of an endpoint signed with its workspace's secret (the column predates the choice and is NOT NULL).
WORKSPACE_SIGNED = ""

# Rows deleted per write transaction: a large backlog is purged in many short locks, not one long one.
PURGE_CHUNK = 500

# The outbox has no finished_at column, but every way a row ends writes a time in the transaction that ends it:
# `record` sets delivered_at on success and logs the attempt that gave up, and a 410 sets the endpoint's disabled_at
# as it cancels that endpoint's pending rows (which may never have been attempted). created_at stands in for a
# finished row that has none of these, so no finished row is kept forever.
_FINISHED_AT = (
    "COALESCE(CASE o.status"
    " WHEN 'delivered' THEN o.delivered_at"
    " WHEN 'failed' THEN (SELECT MAX(d.created_at) FROM webhook_deliveries d WHERE d.outbox_id = o.id)"
    " WHEN 'cancelled' THEN (SELECT w.disabled_at FROM webhooks w WHERE w.id = o.webhook_id)"
    " END, o.created_at)"
)


@dataclass(frozen=True)
class ClaimedDelivery:
    """One outbox row this process holds, with what is needed to send it."""

    id: int
    webhook_id: str
    event_id: str
    event_type: str
    body: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt produced, and what to do with the row next."""

    status_code: int | None
    error: str | None
    duration_ms: int
    delivered: bool = False
    gone: bool = False  # 410: disable the endpoint
    retry_in: float | None = None  # None with neither flag: give up


def _webhook(row: Row) -> Webhook:
    return Webhook(
        id=row["id"],
        url=row["url"],
        events=loads(row["events"]) or [],
        status="disabled" if row["disabled_at"] is not None else "active",
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        signed_with="workspace" if row["secret"] == WORKSPACE_SIGNED else "endpoint",
    )


class WebhookRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- endpoints ------------------------------------------------------------------------------

    async def create(self, workspace_id: str, url: str, events: list[str], secret: str) -> Webhook:
        hook_id = "wh_" + secrets.token_hex(10)
        await self.db.execute(
            "INSERT INTO webhooks(id, workspace_id, url, events, secret, created_at) VALUES (?,?,?,?,?,?)",
            (hook_id, workspace_id, url, dumps(events), secret, now()),
        )
        return await self.get(workspace_id, hook_id)

    async def get(self, workspace_id: str, webhook_id: str) -> Webhook:
        row = await self.db.fetchone(
            "SELECT * FROM webhooks WHERE id=? AND workspace_id=?", (webhook_id.strip(), workspace_id)
        )
        if row is None:
            raise NotFound(f"webhook {webhook_id[:80]!r} not found; list_webhooks shows the webhooks you can see")
        return _webhook(row)

    async def list_for(self, workspace_id: str) -> list[Webhook]:
        rows = await self.db.fetchall(
            "SELECT * FROM webhooks WHERE workspace_id=? ORDER BY created_at DESC, id", (workspace_id,)
        )
        return [_webhook(r) for r in rows]

    async def delete(self, workspace_id: str, webhook_id: str) -> None:
        """Delete the endpoint with its outbox rows and delivery log, in one transaction."""
        hook = await self.get(workspace_id, webhook_id)
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id=?", (hook.id,))
            await conn.execute("DELETE FROM webhook_outbox WHERE webhook_id=?", (hook.id,))
            await conn.execute("DELETE FROM webhooks WHERE id=? AND workspace_id=?", (hook.id, workspace_id))

    # -- delivery log ---------------------------------------------------------------------------

    async def attempts(
        self, webhook_id: str, limit: int, cursor: str | None = None
    ) -> tuple[list[DeliveryAttempt], str | None, int]:
        """(attempts newest first, the next page's cursor or None, how many are logged)."""
        page = await fetch_page(
            self.db,
            name="deliveries",
            select="d.*, o.event_type, o.status AS delivery_status FROM webhook_deliveries d"
            " JOIN webhook_outbox o ON o.id = d.outbox_id",
            filters={"d.webhook_id": webhook_id},
            key=(("d.id", int),),
            limit=limit,
            cursor=cursor,
        )
        attempts = [
            DeliveryAttempt(
                id=r["id"],
                event_id=r["event_id"],
                event_type=r["event_type"],
                attempt=r["attempt"],
                created_at=r["created_at"],
                status_code=r["status_code"],
                error=r["error"],
                duration_ms=r["duration_ms"],
                delivery_status=r["delivery_status"],
            )
            for r in page.rows
        ]
        return attempts, page.next_cursor, page.total

    async def pending_count(self, webhook_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM webhook_outbox WHERE webhook_id=? AND status='pending'", (webhook_id,)
        )
        return int(row[0]) if row else 0

    async def next_attempt_at(self, outbox_id: int) -> float | None:
        row = await self.db.fetchone(
            "SELECT next_attempt_at FROM webhook_outbox WHERE id=? AND status='pending'", (outbox_id,)
        )
        return float(row[0]) if row else None

    # -- retention ------------------------------------------------------------------------------

    async def purge_finished(self, days: int, *, chunk: int = PURGE_CHUNK) -> int:
        """Delete outbox rows that finished more than `days` ago, with their attempts; 0 keeps all.

        Returns how many outbox rows went. Pending rows stay whatever their age: they are still to be sent.
        """
        if days <= 0:
            return 0
        cutoff = now() - days * 86400
        purged = 0
        while True:
            removed = await self._purge_chunk(cutoff, chunk)
            purged += removed
            if removed < chunk:
                return purged
            # Other processes on this data dir poll for SQLite's lock; a pause between chunks lets them take it.
            await anyio.sleep(0.01)

    async def _purge_chunk(self, cutoff: float, limit: int) -> int:
        # Chosen inside the write transaction, so a row cannot change between being picked and being deleted.
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT o.id FROM webhook_outbox o WHERE o.status IN ('delivered', 'failed', 'cancelled')"
                f" AND {_FINISHED_AT} < ? ORDER BY o.id LIMIT ?",
                (cutoff, limit),
            )
            ids = [int(r["id"]) for r in await cur.fetchall()]
            if ids:
                marks = ",".join("?" * len(ids))
                # Attempts first: they reference their outbox row.
                await conn.execute(f"DELETE FROM webhook_deliveries WHERE outbox_id IN ({marks})", ids)
                await conn.execute(f"DELETE FROM webhook_outbox WHERE id IN ({marks})", ids)
            return len(ids)

    # -- outbox claims --------------------------------------------------------------------------

    async def next_due(self) -> float | None:
        """When the earliest claimable row becomes due (a read: idle polling takes no write lock)."""
        row = await self.db.fetchone(
            "SELECT MIN(CASE WHEN next_attempt_at > COALESCE(lease_expires_at, 0) THEN next_attempt_at"
            " ELSE lease_expires_at END) FROM webhook_outbox WHERE status='pending'"
        )
        return float(row[0]) if row and row[0] is not None else None

    async def claim(self, owner: str, lease_seconds: float, *, limit: int = 1) -> list[ClaimedDelivery]:
        """Lease up to `limit` due rows of active webhooks to `owner`."""
        t = now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE webhook_outbox SET lease_owner=?, lease_expires_at=? WHERE id IN ("
                " SELECT o.id FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id"
                " WHERE o.status='pending' AND (o.lease_expires_at IS NULL OR o.lease_expires_at < ?)"
                " AND o.next_attempt_at <= ? AND w.disabled_at IS NULL ORDER BY o.next_attempt_at, o.id LIMIT ?"
                f"{' FOR UPDATE OF o SKIP LOCKED' if conn.skip_locked else ''})"
                " RETURNING id",
                (owner, t + lease_seconds, t, t, limit),
            )
            ids = [int(r["id"]) for r in await cur.fetchall()]
            return await self._claimed(conn, ids)

    async def claim_event(
        self, conn: Conn, event_id: str, webhook_id: str, owner: str, lease_seconds: float
    ) -> ClaimedDelivery | None:
        """Inside the transaction that enqueued it, lease an event's row to `owner` before any worker can see it."""
        cur = await conn.execute(
            "UPDATE webhook_outbox SET lease_owner=?, lease_expires_at=? WHERE event_id=? AND webhook_id=?"
            " AND status='pending' RETURNING id",
            (owner, now() + lease_seconds, event_id, webhook_id),
        )
        found = await self._claimed(conn, [int(r["id"]) for r in await cur.fetchall()])
        return found[0] if found else None

    @staticmethod
    async def _claimed(conn: Conn, ids: list[int]) -> list[ClaimedDelivery]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        cur = await conn.execute(
            "SELECT o.id, o.webhook_id, o.event_id, o.event_type, o.body, o.attempts, w.url,"
            " COALESCE(NULLIF(w.secret, ''), s.webhook_secret) AS secret"
            " FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id JOIN workspaces s ON s.id = w.workspace_id"
            f" WHERE o.id IN ({marks}) ORDER BY o.id",
            ids,
        )
        rows = await cur.fetchall()
        return [
            ClaimedDelivery(
                id=r["id"],
                webhook_id=r["webhook_id"],
                event_id=r["event_id"],
                event_type=r["event_type"],
                body=r["body"],
                attempts=r["attempts"],
                url=r["url"],
                secret=r["secret"],
            )
            for r in rows
        ]

    async def release(self, outbox_id: int, owner: str) -> None:
        """Give a claimed row back unattempted (this process is stopping); it stays due."""
        await self.db.execute(
            "UPDATE webhook_outbox SET lease_owner=NULL, lease_expires_at=NULL WHERE id=? AND lease_owner=?",
            (outbox_id, owner),
        )

    async def record(self, claimed: ClaimedDelivery, owner: str, outcome: AttemptOutcome) -> int | None:
        """Log the attempt and move the row on (delivered, rescheduled, failed; 410 disables the endpoint).

        Returns the attempt number, or None when the row is no longer ours (deleted, or our lease ran out
        and another process took it), in which case nothing is written.
        """
        t = now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT attempts FROM webhook_outbox WHERE id=? AND lease_owner=? AND status='pending'{conn.for_update}",
                (claimed.id, owner),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            attempt = int(row["attempts"]) + 1
            await conn.execute(
                "INSERT INTO webhook_deliveries(outbox_id, webhook_id, event_id, attempt, created_at, status_code,"
                " error, duration_ms) VALUES (?,?,?,?,?,?,?,?)",
                (
                    claimed.id,
                    claimed.webhook_id,
                    claimed.event_id,
                    attempt,
                    t,
                    outcome.status_code,
                    outcome.error,
                    outcome.duration_ms,
                ),
            )
            if outcome.delivered:
                status, next_at = "delivered", None
            elif outcome.gone or outcome.retry_in is None:
                status, next_at = "failed", None
            else:
                status, next_at = "pending", t + outcome.retry_in
            await conn.execute(
                "UPDATE webhook_outbox SET status=?, attempts=?, next_attempt_at=COALESCE(?, next_attempt_at),"
                " delivered_at=?, lease_owner=NULL, lease_expires_at=NULL WHERE id=?",
                (status, attempt, next_at, t if outcome.delivered else None, claimed.id),
            )
            if outcome.gone:
                await conn.execute(
                    "UPDATE webhooks SET disabled_at=?, disabled_reason=? WHERE id=? AND disabled_at IS NULL",
                    (t, "the endpoint answered 410 Gone", claimed.webhook_id),
                )
                await conn.execute(
                    "UPDATE webhook_outbox SET status='cancelled', lease_owner=NULL, lease_expires_at=NULL"
                    " WHERE webhook_id=? AND status='pending'",
                    (claimed.webhook_id,),
                )
        return attempt
