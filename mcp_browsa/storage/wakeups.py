"""Wake-ups across processes sharing one database: a job queued, a job changed or ended, an answer, a webhook due.

On PostgreSQL they are NOTIFYs on one channel, sent in one transaction per burst and received through the
process's one LISTEN connection (`Database.listen`). SQLite has no notifications. A signal is a row in
`wakeups`; each process watches `PRAGMA data_version` on its own connection (a counter in the shared-memory
header: no disk read while nothing changed) every few milliseconds and reads the new rows only when some other
connection committed. Signals sent meanwhile are
written together, so a burst of progress costs one commit. The table holds seconds of history; it is pruned as
it goes, and created here rather than by a migration because nothing in it outlives a restart.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
import anyio

from mcp_browsa.storage.db import Database
from mcp_browsa.storage.sqlite import BUSY_TIMEOUT_MS, storage_fault

__all__ = ["ANY", "CHANNEL", "Deliver", "NotifyWakeups", "SqliteWakeups", "Wakeups", "open_wakeups"]

log = logging.getLogger(__name__)

# (kind, ref): what another process said happened; see events.EventBus.deliver for the kinds.
Deliver = Callable[[str, str], Awaitable[None]]

CHANNEL = "browsa_wakeups"
ANY = "any"  # the kind delivered when signals may have been lost: every waiter looks again
_KEEP_SECONDS = 60.0  # a process that stalls longer than this catches up through its slow poll instead
_PRUNE_EVERY = 256  # signals written between two prunes
_RETRY_SECONDS = 5.0


class _Queue:
    """Signals waiting to be sent, deduplicated and in order; `publish` never blocks."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], None] = {}
        self._pending_event = anyio.Event()

    def publish(self, kind: str, ref: str = "") -> None:
        self._pending[(kind, ref)] = None
        self._pending_event.set()

    async def _next_batch(self) -> list[tuple[str, str]]:
        await self._pending_event.wait()
        self._pending_event = anyio.Event()
        batch, self._pending = list(self._pending), {}
        return batch


class NotifyWakeups(_Queue):
    """Signals as NOTIFYs on CHANNEL (payload "origin<TAB>kind<TAB>ref"), for a database that reaches every process."""

    def __init__(self, db: Database, origin: str) -> None:
        super().__init__()
        self.db = db
        self.origin = origin

    async def run(self, deliver: Deliver) -> None:
        while True:
            try:
                async with self.db.listen(CHANNEL) as notes, anyio.create_task_group() as tg:
                    tg.start_soon(self._send_loop)
                    async for note in notes:
                        # An empty payload: the database may have dropped signals (the LISTEN connection was
                        # down); ANY tells this process to look at everything again.
                        origin, _, rest = note.payload.partition("\t")
                        if not note.payload:
                            await deliver(ANY, "")
                        elif origin != self.origin:
                            kind, _, ref = rest.partition("\t")
                            await deliver(kind, ref)
            except Exception as exc:  # a lost connection: signals only cost latency meanwhile
                log.warning("cannot signal other processes yet: %s", exc)
            await anyio.sleep(_RETRY_SECONDS)

    async def _send_loop(self) -> None:
        while True:
            batch = await self._next_batch()
            # One statement per burst, so one round trip before other processes hear of it (a job queued is claimed
            # that much sooner); PostgreSQL folds identical payloads of one transaction into one.
            await self.db.notify(CHANNEL, *(f"{self.origin}\t{kind}\t{ref}" for kind, ref in batch))


class SqliteWakeups(_Queue):
    """Signals between the processes of one data dir; `publish` never blocks, `run` writes and watches."""

    def __init__(self, path: Path, origin: str, *, interval: float = 0.02) -> None:
        super().__init__()
        self.path = path
        self.origin = origin
        self.interval = interval
        self._written = 0

    async def run(self, deliver: Deliver) -> None:
        """Until cancelled: write what `publish` queued, and hand other processes' signals to `deliver`.

        A database that cannot be opened for this (a read-only disk) only costs latency: waiters poll slowly.
        """
        while True:
            try:
                async with _connect(self.path) as writer, _connect(self.path) as watcher:
                    await writer.execute(
                        "CREATE TABLE IF NOT EXISTS wakeups(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
                        " ref TEXT NOT NULL, origin TEXT NOT NULL, created_at REAL NOT NULL)"
                    )
                    [(last,)] = await watcher.execute_fetchall("SELECT COALESCE(MAX(id), 0) FROM wakeups")
                    await deliver(ANY, "")  # whatever was signalled before now (or while reconnecting) is unknown
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._write_loop, writer)
                        await self._watch_loop(watcher, int(last), deliver)
            except sqlite3.Error as exc:
                log.warning("cannot signal other processes yet: %s", exc)
            await anyio.sleep(_RETRY_SECONDS)

    async def _write_loop(self, conn: aiosqlite.Connection) -> None:
        while True:
            batch = await self._next_batch()
            try:
                await self._write(conn, batch)
            except sqlite3.Error as exc:
                # Lost signals only cost latency: every waiter also polls the database slowly.
                fault = storage_fault(exc, self.path)
                log.warning("could not signal other processes: %s", fault.message if fault else exc)
                await anyio.sleep(1)

    async def _write(self, conn: aiosqlite.Connection, batch: list[tuple[str, str]]) -> None:
        t = time.time()
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.executemany(
                "INSERT INTO wakeups(kind, ref, origin, created_at) VALUES (?,?,?,?)",
                [(kind, ref, self.origin, t) for kind, ref in batch],
            )
            self._written += len(batch)
            if self._written >= _PRUNE_EVERY:
                self._written = 0
                await conn.execute("DELETE FROM wakeups WHERE created_at < ?", (t - _KEEP_SECONDS,))
            await conn.execute("COMMIT")
        except BaseException:
            # A cancel that lands while COMMIT runs in aiosqlite's thread sees the transaction still open, and the
            # ROLLBACK then finds it committed: nothing to undo, and no reason to warn about it.
            with anyio.CancelScope(shield=True), contextlib.suppress(sqlite3.OperationalError):
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
            raise

    async def _watch_loop(self, conn: aiosqlite.Connection, last: int, deliver: Deliver) -> None:
        version = None
        while True:
            try:
                [(now_version,)] = await conn.execute_fetchall("PRAGMA data_version")
                if now_version != version:
                    version = now_version
                    rows = await conn.execute_fetchall(
                        "SELECT id, kind, ref, origin FROM wakeups WHERE id > ? ORDER BY id", (last,)
                    )
                    for r in rows:
                        last = int(r[0])
                        if r[3] != self.origin:
                            await deliver(str(r[1]), str(r[2]))
            except sqlite3.Error as exc:
                log.warning("could not read other processes' signals: %s", exc)
                await anyio.sleep(1)
            await anyio.sleep(self.interval)


@asynccontextmanager
async def _connect(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        yield conn
    finally:
        with anyio.CancelScope(shield=True):
            await conn.close()


Wakeups = NotifyWakeups | SqliteWakeups


def open_wakeups(db: Database, origin: str) -> Wakeups:
    """The wake-ups for the processes sharing `db`; `origin` names this one (its own signals are not read back)."""
    if db.notifies_other_processes:
        return NotifyWakeups(db, origin)
    return SqliteWakeups(Path(db.location), origin)
