"""The SQLite connection pair (one writer, one reader), write transactions and migrations.

Several processes may share one data dir: WAL, `BEGIN IMMEDIATE` for every write, a busy timeout.
Durable transactions (ledger, idempotency) commit with `synchronous=FULL` so they survive power loss;
the rest use NORMAL, which in WAL mode survives a process crash and saves an fsync per commit.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

__all__ = ["Database", "Row", "dumps", "loads", "now"]

Row = sqlite3.Row
BUSY_TIMEOUT_MS = 15_000


def now() -> float:
    return time.time()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(raw: str | bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("mcp_browsa.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


LATEST_VERSION = max(v for v, _, _ in _migrations())


class Database:
    """Owns the connections. Writes go through `transaction()`; reads through `fetchone/fetchall`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # One write transaction at a time per process; other processes wait on SQLite's lock.
        self._write_lock = anyio.Lock()
        self._writer_full = False

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        mode = await (await self._writer.execute("PRAGMA journal_mode=WAL")).fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise RuntimeError(f"cannot enable WAL on {self.path}")
        await self._migrate()
        self._reader = await self._connect()

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def _migrate(self) -> None:
        assert self._writer is not None
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                row = await (await self._writer.execute("PRAGMA user_version")).fetchone()
                current = int(row[0]) if row else 0
                for version, _name, sql in _migrations():
                    if version <= current:
                        continue
                    for statement in _split_sql(sql):
                        await self._writer.execute(statement)
                    await self._writer.execute(f"PRAGMA user_version={version}")
                await self._writer.execute("COMMIT")
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """A `BEGIN IMMEDIATE` transaction: committed on exit, rolled back on any exception.

        `durable=True` (money, idempotency records) fsyncs the commit (synchronous=FULL).
        """
        assert self._writer is not None, "database is not open"
        async with self._write_lock:
            conn = self._writer
            if durable != self._writer_full:
                await conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._writer_full = durable
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await conn.execute("ROLLBACK")
                raise
            else:
                with anyio.CancelScope(shield=True):
                    await conn.execute("COMMIT")

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own write transaction; returns the number of rows changed."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, tuple(params))
            return cur.rowcount

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        assert self._reader is not None, "database is not open"
        cur = await self._reader.execute(sql, tuple(params))
        row = await cur.fetchone()
        await cur.close()
        return row  # type: ignore[no-any-return]

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        assert self._reader is not None, "database is not open"
        cur = await self._reader.execute(sql, tuple(params))
        rows = await cur.fetchall()
        await cur.close()
        return list(rows)

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "unknown"


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file; comments dropped (no triggers with inner semicolons here)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
