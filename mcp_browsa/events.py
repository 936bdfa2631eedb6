"""The in-process event bus: wakes waiters when a job changes and fans events out to listeners.

The database stays the source of truth; this only makes waiting cheap. Other processes' changes
are noticed by the slow poll in the waiters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

__all__ = ["EngineEvent", "EventBus", "Listener"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineEvent:
    type: str  # job.completed, job.failed, job.input_required, job.step, agent.provisioned, ...
    workspace_id: str
    data: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None


Listener = Callable[[EngineEvent], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._waiters: dict[str, list[anyio.Event]] = {}
        self._queue_event = anyio.Event()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def job_changed(self, job_id: str) -> None:
        for ev in self._waiters.pop(job_id, []):
            ev.set()

    def work_available(self) -> None:
        self._queue_event.set()
        self._queue_event = anyio.Event()

    async def wait_for_work(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self._queue_event.wait()

    def watch(self, job_id: str) -> anyio.Event:
        """An event the next `job_changed(job_id)` sets. Take it *before* reading the job, then wait on it
        (`wait_job(..., watch=ev)`), so a change between the read and the wait is not missed."""
        ev = anyio.Event()
        self._waiters.setdefault(job_id, []).append(ev)
        return ev

    def unwatch(self, job_id: str, ev: anyio.Event) -> None:
        waiters = self._waiters.get(job_id)
        if waiters and ev in waiters:
            waiters.remove(ev)
            if not waiters:
                del self._waiters[job_id]

    async def wait_job(self, job_id: str, timeout: float, *, watch: anyio.Event | None = None) -> None:
        """Return when `job_changed(job_id)` fires (since `watch` was taken, if given) or the timeout passes."""
        ev = watch if watch is not None else self.watch(job_id)
        try:
            with anyio.move_on_after(timeout):
                await ev.wait()
        finally:
            self.unwatch(job_id, ev)

    async def emit(self, event: EngineEvent) -> None:
        if event.job_id:
            self.job_changed(event.job_id)
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:
                log.exception("event listener failed for %s", event.type)
