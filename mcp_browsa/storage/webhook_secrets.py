"""The workspace's webhook signing secret column, and how many endpoints are signed with it.

Making the secret is the caller's; this only stores the first one written and reads it back.
"""

from __future__ import annotations

from mcp_browsa.storage.db import Database

__all__ = ["WebhookSecretRepo"]


class WebhookSecretRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def keep_first(self, workspace_id: str, fresh: str) -> str | None:
        """Store `fresh` unless the workspace has a secret already; the secret it has now (None: no workspace).

        One transaction, so concurrent first calls all read back whichever was written first.
        """
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE workspaces SET webhook_secret=? WHERE id=? AND webhook_secret IS NULL", (fresh, workspace_id)
            )
            cur = await conn.execute("SELECT webhook_secret FROM workspaces WHERE id=?", (workspace_id,))
            row = await cur.fetchone()
        return None if row is None or row[0] is None else str(row[0])

    async def endpoints_using(self, workspace_id: str) -> int:
        """Webhooks of the workspace created without a secret of their own."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM webhooks WHERE workspace_id=? AND secret=''", (workspace_id,)
        )
        return int(row[0]) if row is not None else 0
