"""SQLite: one writer and one reader connection, `BEGIN IMMEDIATE` write transactions and migrations.

Several processes may share one data dir: WAL, `BEGIN IMMEDIATE` for every write, a busy timeout.
Durable transactions (ledger, idempotency) commit with `synchronous=FULL` so they survive power loss;
the rest use NORMAL, which in WAL mode survives a process crash and saves an fsync per commit.
A full, read-only or failing disk surfaces as StorageUnavailable naming the file, never as a raw SQLite error.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from mcp_browsa.errors import StorageUnavailable
from mcp_browsa.storage.migrate import migration_files, split_sql
from mcp_browsa.storage.notify import Hub
from mcp_browsa.storage.sql import Backend, Conn, Cursor, Notification, Row

__all__ = ["SqliteBackend", "storage_fault"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000

# SQLite result codes that blame the disk rather than the statement (primary codes; extended ones are masked),
# with the message text for Pythons whose sqlite3 errors carry no code.
_STORAGE_FAULTS: dict[int, tuple[str, str]] = {
    13: ("database or disk is full", "the disk is full; free some space"),
    8: ("readonly database", "the database is read-only (file permissions or a read-only mount)"),
    10: ("disk i/o error", "the disk fails (an I/O error; it may have gone read-only)"),
    14: ("unable to open database file", "the database file cannot be opened"),
}


def storage_fault(exc: BaseException, path: Path, *, writing: bool = True) -> StorageUnavailable | None:
    """The StorageUnavailable that `exc` amounts to, or None when it is not the disk's fault."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc).lower()
    for primary, (needle, meaning) in _STORAGE_FAULTS.items():
        if (code is not None and code & 0xFF == primary) or (code is None and needle in text):
            if writing:
                return StorageUnavailable(f"the data dir cannot be written: {meaning} ({path}); nothing was saved")
            return StorageUnavailable(f"the data dir cannot be read: {meaning} ({path})")
    return None


_ADD_COLUMN = re.compile(r"ALTER\s+TABLE\s+(?P<table>\w+)\s+ADD\s+COLUMN\s+(?P<column>\w+)\b", re.IGNORECASE)


class _Cursor(Cursor):
    def __init__(self, cur: aiosqlite.Cursor) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    async def fetchone(self) -> Row | None:
        return await self._cur.fetchone()

    async def fetchall(self) -> list[Row]:
        return list(await self._cur.fetchall())

    async def close(self) -> None:
        await self._cur.close()


class _Conn(Conn):
    kind = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__()
        self.raw = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return _Cursor(await self.raw.execute(sql, tuple(params)))

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, [tuple(p) for p in params])


class SqliteBackend(Backend):
    """Owns the connections. Writes go through `transaction()`; reads through `fetchall`."""

    kind = "sqlite"
    notifies_other_processes = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # One write transaction at a time per process; other processes wait on SQLite's lock.
        self._write_lock = anyio.Lock()
        self._writer_full = False
        self.hub = Hub()

    def describe(self) -> str:
        return str(self.path)

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
                for version, _name, sql in migration_files():
                    statements = split_sql(sql)
                    if version <= current and not all(_ADD_COLUMN.match(st) for st in statements):
                        continue
                    # A migration that only adds columns is checked even when its number is behind: two branches
                    # once both shipped a 0004, and a data dir that ran one of them is at 4 without the other's
                    # columns. A column that is already there is not added twice.
                    for statement in statements:
                        if not await self._has_column(statement):
                            await self._writer.execute(statement)
                    if version > current:
                        await self._writer.execute(f"PRAGMA user_version={version}")
                await self._writer.execute("COMMIT")
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise

    async def _has_column(self, statement: str) -> bool:
        """Whether `statement` adds a column that its table already has."""
        added = _ADD_COLUMN.match(statement)
        if added is None:
            return False
        assert self._writer is not None
        cur = await self._writer.execute(f"PRAGMA table_info({added['table']})")
        return any(str(r[1]) == added["column"] for r in await cur.fetchall())

    async def schema_version(self) -> int:
        rows = await self.fetchall("PRAGMA user_version", ())
        return int(rows[0][0]) if rows else 0

    async def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def transaction(self, *, durable: bool) -> AbstractAsyncContextManager[Conn]:
        return self._transaction(durable)

    @asynccontextmanager
    async def _transaction(self, durable: bool) -> AsyncIterator[Conn]:
        assert self._writer is not None, "database is not open"
        async with self._write_lock:
            conn = self._writer
            try:
                # Shielded: a BEGIN cancelled while queued still runs on the connection's thread afterwards, and
                # would leave a transaction nobody owns ("cannot start a transaction within a transaction").
                with anyio.CancelScope(shield=True):
                    # A transaction a failed ROLLBACK left open would make every later BEGIN fail.
                    await self._rollback(conn)
                    if durable != self._writer_full:
                        await conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                        self._writer_full = durable
                    await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                fault = storage_fault(exc, self.path)
                if fault is None:
                    raise
                raise fault from exc
            wrapped = _Conn(conn)
            try:
                yield wrapped
                with anyio.CancelScope(shield=True):
                    await conn.execute("COMMIT")
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self._rollback(conn)
                fault = storage_fault(exc, self.path)
                if fault is not None:
                    raise fault from exc
                raise
        self.hub.publish(wrapped.pending_notifications)

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        """Roll back what is open. SQLite itself rolls back on a full disk or an I/O error, and a second ROLLBACK
        would then raise "no transaction is active" over the error that matters."""
        if not conn.in_transaction:
            return
        try:
            await conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("rollback failed; the transaction is retried on the next write", exc_info=True)

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """One statement run to its end in a single hop to the reader's thread. Stepping a cursor across awaits
        let other coroutines' reads run inside its read transaction, on its snapshot: they missed writes
        committed meanwhile (a row just inserted was "not found")."""
        assert self._reader is not None, "database is not open"
        try:
            return list(await self._reader.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            fault = storage_fault(exc, self.path, writing=False)
            if fault is None:
                raise
            raise fault from exc

    async def integrity_check(self) -> str:
        rows = await self.fetchall("PRAGMA integrity_check", ())
        return str(rows[0][0]) if rows else "unknown"

    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        self.hub.publish(Notification(channel, payload) for payload in payloads)

    def listen(self, channels: Sequence[str]) -> AbstractAsyncContextManager[AsyncIterator[Notification]]:
        return self.hub.subscribe(channels)
