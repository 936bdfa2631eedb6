"""The in-process event bus: wakes waiters when a job changes and fans events out to listeners.

The database stays the source of truth; this only makes waiting cheap. With `connect(publish)` what happens
here is also signalled to the other processes sharing the database (storage/wakeups.py, or NOTIFY on
PostgreSQL), and what they signal comes back through `deliver`; the slow poll in the waiters is the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

__all__ = ["EngineEvent", "EventBus", "Listener", "Publish"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineEvent:
    type: str  # job.completed, job.failed, job.input_required, job.step, agent.provisioned, ...
    workspace_id: str
    data: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None


Listener = Callable[[EngineEvent], Awaitable[None]]
# Sends (kind, ref) to the other processes: "work" (a job is claimable), "job" (job `ref` changed: progress, an
# answer, its end), "cancel" (job `ref` is asked to stop), or a kind registered with `on_signal` ("webhook").
Publish = Callable[[str, str], None]


class EventBus:
    def __init__(self) -> None:
        self._waiters: dict[str, list[anyio.Event]] = {}
        self._queue_event = anyio.Event()
        self._listeners: list[Listener] = []
        self._publish: Publish | None = None
        self._signal_handlers: dict[str, Callable[[], None]] = {}

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -- other processes ------------------------------------------------------------------------

    def connect(self, publish: Publish | None) -> None:
        """Signal other processes through `publish` from now on (None: this process is alone again)."""
        self._publish = publish

    def on_signal(self, kind: str, handler: Callable[[], None]) -> None:
        """Run `handler` when this or another process calls `signal(kind)`."""
        self._signal_handlers[kind] = handler

    def signal(self, kind: str) -> None:
        handler = self._signal_handlers.get(kind)
        if handler is not None:
            handler()
        self._send(kind, "")

    def _send(self, kind: str, ref: str) -> None:
        if self._publish is not None:
            self._publish(kind, ref)

    async def deliver(self, kind: str, ref: str) -> None:
        """What another process signalled: wake the same waiters here, without signalling it back. Kind "any"
        (signals may have been lost) wakes every waiter, to look for itself."""
        if kind == "any":
            self._wake_claimers()
            for job_id in list(self._waiters):
                self._wake_waiters(job_id)
            for handler in list(self._signal_handlers.values()):
                handler()
        elif kind == "work":
            self._wake_claimers()
        elif kind == "job" and ref:
            self._wake_waiters(ref)
        elif kind == "cancel" and ref:
            self._wake_waiters(ref)
            await self._fan_out(EngineEvent("job.cancel_requested", "", {"job_id": ref}, job_id=ref))
        elif kind in self._signal_handlers:
            self._signal_handlers[kind]()

    # -- this process ---------------------------------------------------------------------------

    def job_changed(self, job_id: str) -> None:
        self._wake_waiters(job_id)
        self._send("job", job_id)

    def _wake_waiters(self, job_id: str) -> None:
        for ev in self._waiters.pop(job_id, []):
            ev.set()

    def work_available(self) -> None:
        self._wake_claimers()
        self._send("work", "")

    def _wake_claimers(self) -> None:
        self._queue_event.set()
        self._queue_event = anyio.Event()

    def work_signal(self) -> anyio.Event:
        """The event the next `work_available` (here or in another process) sets. Take it *before* looking at the
        queue and wait on it after finding nothing (`wait_for_work(..., signal)`), so work queued while the
        claim was under way is not missed until the slow poll."""
        return self._queue_event

    async def wait_for_work(self, timeout: float, signal: anyio.Event | None = None) -> None:
        with anyio.move_on_after(timeout):
            await (signal or self._queue_event).wait()

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
            if event.type == "job.cancel_requested":
                self._send("cancel", event.job_id)
        await self._fan_out(event)

    async def _fan_out(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:
                log.exception("event listener failed for %s", event.type)
