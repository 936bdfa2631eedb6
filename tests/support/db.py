"""A real, migrated SQLite file for tests that work on the storage layer directly."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp_browsa.storage.db import Database
from mcp_browsa.storage.ledger import LedgerRepo

__all__ = ["query", "workspace_db"]


@asynccontextmanager
async def workspace_db(folder: Path, workspace: str, credits: int = 0) -> AsyncIterator[Database]:
    """`folder`/browsa.db, opened (so migrated) with one workspace holding `credits`; closed afterwards."""
    db = Database(folder / "browsa.db")
    await db.open()
    try:
        await LedgerRepo(db).ensure_workspace(workspace, initial_credits=credits)
        yield db
    finally:
        await db.close()


def query(home: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Rows of `sql` read straight from `home`/browsa.db, as a server sharing it (or one that died) left them."""
    conn = sqlite3.connect(home / "browsa.db", timeout=15)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()
