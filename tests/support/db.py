"""A real, migrated database for tests that work on the storage layer directly, and reads from outside a server."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg

from mcp_browsa.storage.db import Database, Row
from mcp_browsa.storage.dialect import to_postgres
from mcp_browsa.storage.ledger import LedgerRepo
from mcp_browsa.storage.postgres import PgRow

__all__ = ["query", "read_rows", "workspace_db"]


@asynccontextmanager
async def workspace_db(where: Path | str, workspace: str, credits: int = 0) -> AsyncIterator[Database]:
    """The database at `where` (a folder, for its browsa.db, or a PostgreSQL URL), opened (so migrated) with one
    workspace holding `credits`; closed afterwards."""
    db = Database(where if isinstance(where, str) else where / "browsa.db")
    await db.open()
    try:
        await LedgerRepo(db).ensure_workspace(workspace, initial_credits=credits)
        yield db
    finally:
        await db.close()


def read_rows(location: Path | str, sql: str, *args: Any) -> list[Row]:
    """Rows of `sql` (SQLite dialect) read straight from the database at `location` (a SQLite file or a URL), on a
    connection of the test's own, as a server sharing it (or one that died) left them."""
    if isinstance(location, str):
        with psycopg.connect(location, autocommit=True) as pg, pg.cursor() as cur:
            cur.execute(to_postgres(sql), args)
            names = {c.name: i for i, c in enumerate(cur.description or ())}
            return [PgRow(values, names) for values in cur.fetchall()]
    conn = sqlite3.connect(location, timeout=15)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def query(home: Path | str, sql: str, *args: Any) -> list[Row]:
    """Rows of `sql` read from the data dir `home`'s browsa.db, or from the PostgreSQL database `home` names."""
    return read_rows(home if isinstance(home, str) else home / "browsa.db", sql, *args)
