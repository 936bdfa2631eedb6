"""Wake-ups across processes and machines sharing one PostgreSQL: LISTEN/NOTIFY on one channel.

Each process keeps two connections of its own outside the pool: one LISTENs (a pooled connection would lose its
LISTEN when handed back), one sends. Signals queued meanwhile go out in one transaction; PostgreSQL folds
identical payloads of one transaction into one notification. A payload is "origin kind ref" (tab-separated), so
a process skips its own. A dropped connection is reopened; signals lost meanwhile only cost latency, since every
waiter also polls the database slowly.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import psycopg

from mcp_browsa.storage.wakeups import Deliver

__all__ = ["CHANNEL", "PgWakeups"]

log = logging.getLogger(__name__)

CHANNEL = "browsa_wakeups"
_RETRY_SECONDS = 2.0


class PgWakeups:
    """The PostgreSQL twin of `SqliteWakeups`: `publish` never blocks, `run` sends and listens."""

    def __init__(self, url: str, origin: str) -> None:
        self.url = url
        self.origin = origin
        self._pending: dict[tuple[str, str], None] = {}
        self._pending_event = anyio.Event()

    def publish(self, kind: str, ref: str = "") -> None:
        self._pending[(kind, ref)] = None
        self._pending_event.set()

    async def run(self, deliver: Deliver) -> None:
        while True:
            try:
                listener = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                sender = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                try:
                    await listener.execute(f"LISTEN {CHANNEL}")
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._send_loop, sender)
                        await self._listen(listener, deliver)
                finally:
                    with anyio.CancelScope(shield=True):
                        await listener.close()
                        await sender.close()
            except psycopg.Error as exc:
                log.warning("cannot signal other processes through PostgreSQL yet: %s", exc)
            await anyio.sleep(_RETRY_SECONDS)

    async def _listen(self, conn: psycopg.AsyncConnection[Any], deliver: Deliver) -> None:
        async for note in conn.notifies():
            origin, _, rest = note.payload.partition("\t")
            if origin == self.origin:
                continue
            kind, _, ref = rest.partition("\t")
            await deliver(kind, ref)

    async def _send_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            await self._pending_event.wait()
            self._pending_event = anyio.Event()
            batch, self._pending = list(self._pending), {}
            async with conn.transaction():
                for kind, ref in batch:
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.origin}\t{kind}\t{ref}"))
