"""Write-and-emit: the events of one transaction written in it, and announced on the bus only once it commits.

Whatever a change must leave behind in the same transaction (webhook outbox rows, a job's secret answers going
with it) is written by the engine's event hooks; listeners in this process hear of the change only after the
commit, so none of them acts on a change that was rolled back. Jobs ending and identities changing both go
through here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp_browsa.events import EngineEvent, EventBus
from mcp_browsa.storage.db import Conn, Database
from mcp_browsa.storage.jobs import FinishHook

__all__ = ["Outbox", "committing"]


class Outbox:
    """The events of the current transaction: written through the hooks now, announced after the commit."""

    def __init__(self, conn: Conn, hooks: Sequence[FinishHook]) -> None:
        self.conn = conn
        self.hooks = hooks
        self.events: list[EngineEvent] = []

    async def add(self, event: EngineEvent) -> None:
        for hook in self.hooks:
            await hook(self.conn, event)
        self.events.append(event)

    async def emit(self, workspace_id: str, type_: str, data: dict[str, Any], *, job_id: str | None = None) -> None:
        await self.add(EngineEvent(type_, workspace_id, data, job_id=job_id))


@asynccontextmanager
async def committing(
    db: Database, bus: EventBus, hooks: Sequence[FinishHook], *, durable: bool = False
) -> AsyncIterator[Outbox]:
    """A transaction whose events (`box.emit`) go out on `bus` once it has committed, and not at all otherwise."""
    async with db.transaction(durable=durable) as conn:
        box = Outbox(conn, hooks)
        yield box
    for event in box.events:
        await bus.emit(event)
