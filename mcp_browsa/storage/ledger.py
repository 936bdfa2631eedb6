"""Workspaces, balances and the credits ledger: every charge a row with its running balance.

Charges are made inside the caller's transaction so a charge and the state change it pays for
commit together or not at all.
"""

from __future__ import annotations

from mcp_browsa.errors import InsufficientCredit, NotFound
from mcp_browsa.models import LedgerEntry
from mcp_browsa.storage.db import Conn, Database, now

__all__ = ["DEFAULT_WORKSPACE", "LedgerRepo"]

DEFAULT_WORKSPACE = "ws_default"


class LedgerRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def workspace_exists(self, workspace_id: str) -> bool:
        return await self.db.fetchone("SELECT 1 FROM workspaces WHERE id=?", (workspace_id,)) is not None

    async def ensure_workspace(self, workspace_id: str, *, initial_credits: int, name: str | None = None) -> None:
        """Create the workspace with its opening grant if it does not exist yet (idempotent)."""
        if await self.workspace_exists(workspace_id):
            return
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO workspaces(id, name, balance, created_at) VALUES (?,?,?,?)",
                (workspace_id, name or workspace_id, 0, now()),
            )
            if cur.rowcount and initial_credits:
                await self.apply(conn, workspace_id, initial_credits, kind="grant", description="opening balance")

    async def balance(self, workspace_id: str) -> int:
        row = await self.db.fetchone("SELECT balance FROM workspaces WHERE id=?", (workspace_id,))
        if row is None:
            raise NotFound(f"workspace {workspace_id!r} not found")
        return int(row["balance"])

    @staticmethod
    async def balance_in(conn: Conn, workspace_id: str) -> int:
        """The balance as the caller's transaction sees it; NotFound when the workspace does not exist."""
        # Locked until the caller's transaction ends: concurrent charges to one workspace queue on its row.
        cur = await conn.execute(f"SELECT balance FROM workspaces WHERE id=?{conn.for_update}", (workspace_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"workspace {workspace_id!r} not found")
        return int(row[0])

    @staticmethod
    async def apply(
        conn: Conn,
        workspace_id: str,
        amount: int,
        *,
        kind: str,
        description: str,
        job_id: str | None = None,
        agent_id: str | None = None,
        usd: float = 0.0,
        allow_partial: bool = False,
    ) -> int:
        """Move the balance by `amount` and write the ledger row; returns the amount actually applied.

        A charge larger than the balance raises InsufficientCredit, unless `allow_partial`, when it
        takes what is left (used for metered time already consumed, which cannot be refused).
        """
        balance = await LedgerRepo.balance_in(conn, workspace_id)
        if amount < 0 and balance + amount < 0:
            if not allow_partial:
                raise InsufficientCredit(
                    f"this needs {-amount} credits but the balance is {balance}; top up with `mcp-browsa credits add N`",
                    balance=balance,
                )
            amount = -balance
        if amount == 0 and kind == "charge":
            return 0
        new_balance = balance + amount
        await conn.execute("UPDATE workspaces SET balance=? WHERE id=?", (new_balance, workspace_id))
        await conn.execute(
            "INSERT INTO ledger(workspace_id, created_at, kind, amount, balance_after, job_id, agent_id, usd, description)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (workspace_id, now(), kind, amount, new_balance, job_id, agent_id, usd, description),
        )
        if job_id is not None and amount < 0:
            await conn.execute("UPDATE jobs SET credits_charged = credits_charged + ? WHERE id=?", (-amount, job_id))
        return amount

    async def top_up(self, workspace_id: str, amount: int, description: str = "top-up") -> int:
        async with self.db.transaction(durable=True) as conn:
            await self.apply(conn, workspace_id, amount, kind="topup", description=description)
        return await self.balance(workspace_id)

    async def entries(self, workspace_id: str, limit: int = 20) -> list[LedgerEntry]:
        rows = await self.db.fetchall(
            "SELECT * FROM ledger WHERE workspace_id=? ORDER BY id DESC LIMIT ?", (workspace_id, limit)
        )
        return [LedgerEntry.model_validate(dict(r)) for r in rows]

    async def usd_spent(self, workspace_id: str) -> float:
        row = await self.db.fetchone("SELECT COALESCE(SUM(usd),0) FROM ledger WHERE workspace_id=?", (workspace_id,))
        return float(row[0]) if row else 0.0
