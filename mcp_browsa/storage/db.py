"""The database the process uses, SQLite or PostgreSQL, behind one interface; helpers every repository shares.

`Database(location)`: a path is a SQLite file (the default, in the data dir); a `postgresql://` URL is a shared
PostgreSQL server (psycopg 3, a connection pool). Repositories write through `transaction()` and read through
`fetchone`/`fetchall` with SQLite-dialect SQL, and never learn which one they have (see `storage/sql.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from mcp_browsa.storage.migrate import LATEST_VERSION
from mcp_browsa.storage.sql import Backend, Conn, Kind, Notification, Row, check_channel
from mcp_browsa.storage.sqlite import SqliteBackend, storage_fault

__all__ = [
    "LATEST_VERSION",
    "Conn",
    "Database",
    "Notification",
    "Row",
    "dumps",
    "is_database_url",
    "loads",
    "now",
    "storage_fault",
    "update_by_id",
]

_URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | Path) -> bool:
    """Whether `location` names a PostgreSQL server rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(_URL_SCHEMES)


async def update_by_id(conn: Conn, table: str, row_id: str, fields: dict[str, Any], allowed: frozenset[str]) -> None:
    """`UPDATE table SET field=? … WHERE id=?`; a field outside `allowed` raises, so no name reaches SQL unchecked."""
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not {table} columns that may be set: {sorted(unknown)}")
    cols = ", ".join(f"{k}=?" for k in fields)
    await conn.execute(f"UPDATE {table} SET {cols} WHERE id=?", (*fields.values(), row_id))


def now() -> float:
    return time.time()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(raw: str | bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


class Database:
    """Owns the connections. Writes go through `transaction()`; reads through `fetchone/fetchall`."""

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self.backend: Backend
        if is_database_url(location):
            from mcp_browsa.storage.postgres import PostgresBackend  # psycopg loads only for a PostgreSQL URL

            self.backend = PostgresBackend(str(location))
        else:
            self.backend = SqliteBackend(Path(location))

    @property
    def kind(self) -> Kind:
        """ "sqlite" or "postgresql"."""
        return self.backend.kind

    @property
    def notifies_other_processes(self) -> bool:
        """True when `notify` reaches every process on this database (PostgreSQL); False: this process only,
        so work queued by another process is found by polling."""
        return self.backend.notifies_other_processes

    def describe(self) -> str:
        """Where the database is (a file, or a server and database name), never with a password."""
        return self.backend.describe()

    async def open(self) -> None:
        """Connect and bring the schema to LATEST_VERSION."""
        await self.backend.open()

    async def close(self) -> None:
        await self.backend.close()

    def transaction(self, *, durable: bool = False) -> AbstractAsyncContextManager[Conn]:
        """A write transaction: committed on exit, rolled back on any exception.

        `durable=True` (money, idempotency records) makes the commit survive power loss on SQLite (every
        PostgreSQL commit does).
        """
        return self.backend.transaction(durable=durable)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own write transaction; returns the number of rows changed."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, tuple(params))
            return cur.rowcount

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.backend.fetchall(sql, tuple(params))
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return await self.backend.fetchall(sql, tuple(params))

    async def schema_version(self) -> int:
        return await self.backend.schema_version()

    async def server_version(self) -> str:
        """The database software and its version, e.g. "SQLite 3.40.1" or "PostgreSQL 15.8"."""
        return await self.backend.server_version()

    async def integrity_check(self) -> str:
        """ "ok", or what the database found wrong with itself."""
        return await self.backend.integrity_check()

    # -- notifications: wake-ups for workers (see storage/sql.py) -------------------------------------------

    async def notify(self, channel: str, *payloads: str) -> None:
        """Wake listeners on `channel` now, once per payload (none: one empty payload), sent together. Inside a
        transaction, use `conn.notify` (sent when it commits)."""
        await self.backend.notify(check_channel(channel), payloads or ("",))

    @asynccontextmanager
    async def listen(self, *channels: str) -> AsyncIterator[AsyncIterator[Notification]]:
        """Listen on `channels` for the duration of the block; iterate what it yields to receive notifications.

        Listening has begun when the block is entered, so a state check made inside it cannot miss a
        notification sent after the check.
        """
        for channel in channels:
            check_channel(channel)
        async with self.backend.listen(channels) as notes:
            yield notes
