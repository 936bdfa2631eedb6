"""Wake-ups between processes sharing one database: what one publishes, the others receive, and never itself.

Each side opens the database on its own, as two processes would (on SQLite, its own connections to the file; on
PostgreSQL, its own pool and LISTEN connection).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from mcp_browsa.events import EngineEvent, EventBus
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.wakeups import ANY, open_wakeups

pytestmark = pytest.mark.anyio


class _Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.warm = 0
        self._changed = anyio.Event()

    async def deliver(self, kind: str, ref: str) -> None:
        if kind == "work" or kind == ANY:  # the warm-up's, and "look again" when a side (re)connects
            self.warm += 1
        else:
            self.got.append((kind, ref))
        self._changed.set()

    async def until(self, count: int) -> list[tuple[str, str]]:
        with anyio.fail_after(15):
            while len(self.got) < count:
                await self._changed.wait()
                self._changed = anyio.Event()
        return self.got


async def _opened(location: str | Path) -> Database:
    db = Database(location)
    await db.open()
    return db


async def test_a_signal_reaches_the_other_process_once_and_not_its_sender(database: str | Path) -> None:
    one, two = await _opened(database), await _opened(database)
    a, b = open_wakeups(one, "host:1:a"), open_wakeups(two, "host:2:b")
    at_a, at_b = _Inbox(), _Inbox()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run, at_a.deliver)
            tg.start_soon(b.run, at_b.deliver)
            # Until b listens, what a sends may pass unheard: a slow poll covers that gap in the server.
            with anyio.fail_after(15):
                while not at_b.warm:
                    a.publish("work", "")
                    await anyio.sleep(0.05)
            a.publish("job", "job-1")
            a.publish("job", "job-1")  # queued twice before it goes out: sent once
            a.publish("cancel", "job-2")
            assert await at_b.until(2) == [("job", "job-1"), ("cancel", "job-2")]
            b.publish("webhook", "")
            assert await at_a.until(1) == [("webhook", "")]
            # Sent after b's webhook went out, so b would have heard that first, had it heard itself.
            a.publish("job", "job-5")
            assert await at_b.until(3) == [("job", "job-1"), ("cancel", "job-2"), ("job", "job-5")]
            tg.cancel_scope.cancel()
    finally:
        await one.close()
        await two.close()


async def test_the_bus_passes_other_processes_signals_to_the_same_waiters(tmp_path: Path) -> None:
    bus, sent = EventBus(), []
    bus.connect(lambda kind, ref: sent.append((kind, ref)))
    woken: list[str] = []
    bus.on_signal("webhook", lambda: woken.append("webhook"))
    cancelled: list[EngineEvent] = []

    async def listener(event: EngineEvent) -> None:
        cancelled.append(event)

    bus.subscribe(listener)
    watch = bus.watch("job-1")
    await bus.deliver("job", "job-1")
    assert watch.is_set()
    await bus.deliver("webhook", "")
    await bus.deliver("cancel", "job-2")
    assert woken == ["webhook"]
    other = bus.watch("job-4")
    await bus.deliver("any", "")  # signals may have been lost: everyone looks again
    assert other.is_set() and woken == ["webhook", "webhook"]
    assert [(e.type, e.job_id) for e in cancelled] == [("job.cancel_requested", "job-2")]
    assert sent == []  # what came from elsewhere is not sent back out

    bus.job_changed("job-3")
    bus.work_available()
    bus.signal("webhook")
    assert sent == [("job", "job-3"), ("work", ""), ("webhook", "")]
