"""The `vault_secrets` table: sealed secret values per (workspace, name), and nothing in clear.

This layer stores and returns opaque (nonce, ciphertext) pairs; sealing and opening belong to mcp_browsa/workspace_secrets.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_browsa.storage.db import Conn, Database, now

__all__ = ["SealedSecret", "SecretInfo", "VaultRepo"]


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: its name and times, never its value."""

    name: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class SealedSecret:
    name: str
    nonce: bytes
    ciphertext: bytes


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class VaultRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, workspace_id: str, name: str, nonce: bytes, ciphertext: bytes) -> bool:
        """Insert or replace one sealed value; True when the name was new."""
        t = now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM vault_secrets WHERE workspace_id=? AND name=?", (workspace_id, name)
            )
            existed = await cur.fetchone() is not None
            await conn.execute(
                "INSERT INTO vault_secrets(workspace_id, name, nonce, ciphertext, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(workspace_id, name)"
                " DO UPDATE SET nonce=excluded.nonce, ciphertext=excluded.ciphertext, updated_at=excluded.updated_at",
                (workspace_id, name, nonce, ciphertext, t, t),
            )
        return not existed

    async def get(self, workspace_id: str, name: str) -> SealedSecret | None:
        row = await self.db.fetchone(
            "SELECT name, nonce, ciphertext FROM vault_secrets WHERE workspace_id=? AND name=?", (workspace_id, name)
        )
        return None if row is None else SealedSecret(row["name"], bytes(row["nonce"]), bytes(row["ciphertext"]))

    async def sealed(self, workspace_id: str, *, prefix: str | None = None) -> list[SealedSecret]:
        """Every sealed value of a workspace, or only the names starting with `prefix`."""
        if prefix is None:
            rows = await self.db.fetchall(
                "SELECT name, nonce, ciphertext FROM vault_secrets WHERE workspace_id=? ORDER BY name", (workspace_id,)
            )
        else:
            rows = await self.db.fetchall(
                "SELECT name, nonce, ciphertext FROM vault_secrets WHERE workspace_id=? AND name LIKE ? ESCAPE '\\'"
                " ORDER BY name",
                (workspace_id, _like_prefix(prefix)),
            )
        return [SealedSecret(r["name"], bytes(r["nonce"]), bytes(r["ciphertext"])) for r in rows]

    async def list_names(self, workspace_id: str, *, hide_prefix: str | None = None) -> list[SecretInfo]:
        rows = await self.db.fetchall(
            "SELECT name, created_at, updated_at FROM vault_secrets WHERE workspace_id=? ORDER BY name", (workspace_id,)
        )
        return [
            SecretInfo(r["name"], float(r["created_at"]), float(r["updated_at"]))
            for r in rows
            if hide_prefix is None or not str(r["name"]).startswith(hide_prefix)
        ]

    async def delete(self, workspace_id: str, name: str) -> bool:
        return (
            await self.db.execute("DELETE FROM vault_secrets WHERE workspace_id=? AND name=?", (workspace_id, name)) > 0
        )

    @staticmethod
    async def delete_prefix_in(conn: Conn, workspace_id: str, prefix: str) -> int:
        """Delete every name starting with `prefix`, inside the caller's transaction."""
        cur = await conn.execute(
            "DELETE FROM vault_secrets WHERE workspace_id=? AND name LIKE ? ESCAPE '\\'",
            (workspace_id, _like_prefix(prefix)),
        )
        return cur.rowcount
