"""The job engine's front: submit, read, long-poll and cancel jobs; runners are registered per kind.

Workers (engine/worker.py) claim what is submitted here; both sides meet only in SQLite and
the in-process event bus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from mcp_browsa.engine.context import Runner
from mcp_browsa.engine.outbox import Outbox, committing
from mcp_browsa.engine.requests import JobRequest
from mcp_browsa.errors import AgentNotRunning, BadRequest, InsufficientCredit, NotFound
from mcp_browsa.events import EngineEvent, EventBus
from mcp_browsa.models import TERMINAL, Job, JobStatus
from mcp_browsa.storage.db import Conn, Database
from mcp_browsa.storage.jobs import ROW_KINDS, FinishHook, JobRepo
from mcp_browsa.storage.ledger import LedgerRepo

__all__ = ["FinishHook", "JobEngine", "JobKind", "ProgressFn"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[Job], Awaitable[None]]

_UUID_CHARS = set("0123456789abcdef-")


def check_job_id(job_id: str) -> str:
    jid = job_id.strip().lower()
    if len(jid) != 36 or not set(jid) <= _UUID_CHARS or jid.count("-") != 4:
        raise BadRequest(f"job_id {job_id[:60]!r} is not a job id; job ids are UUIDs like 3f2b…-…, see list_jobs")
    return jid


@dataclass(frozen=True)
class JobKind:
    """What a job kind is: the request its params hold and the runner that carries it out."""

    request: type[JobRequest]
    runner: Runner


class JobEngine:
    def __init__(self, db: Database, bus: EventBus, *, poll_interval: float = 1.0) -> None:
        self.db = db
        self.bus = bus
        self.jobs = JobRepo(db)
        self.ledger = LedgerRepo(db)
        self.kinds: dict[str, JobKind] = {}
        self.finish_hooks: list[FinishHook] = []
        self.poll_interval = poll_interval

    def register(self, kind: str, runner: Runner, request: type[JobRequest] = JobRequest) -> None:
        """Jobs of `kind` store a `request` as their params and are run by `runner`, which reads it back typed."""
        self.kinds[kind] = JobKind(request, runner)

    @property
    def runners(self) -> dict[str, Runner]:
        return {kind: spec.runner for kind, spec in self.kinds.items()}

    async def submit(
        self,
        workspace_id: str,
        kind: str,
        params: JobRequest | dict[str, Any],
        *,
        request_id: str | None,
        progress_total: int = 0,
        items: list[dict[str, Any]] | None = None,
        agent_id: str | None = None,
        extra: Callable[[Conn, str], Awaitable[None]] | None = None,
    ) -> Job:
        """Queue a job. Refused with INSUFFICIENT_CREDIT when the balance is already 0."""
        spec = self.kinds.get(kind)
        if spec is None:
            raise BadRequest(f"no runner for job kind {kind!r}")
        if isinstance(params, JobRequest):
            if not isinstance(params, spec.request):
                raise TypeError(f"a {kind!r} job takes a {spec.request.__name__}, not a {type(params).__name__}")
            params = params.params()
        if agent_id is None and isinstance(params.get("identity_id"), str):
            agent_id = params["identity_id"].strip() or None  # every kind that runs on an identity names it here
        async with self.db.transaction() as conn:
            balance = await LedgerRepo.balance_in(conn, workspace_id)
            if balance <= 0:
                raise InsufficientCredit(
                    "the credit balance is 0; top up with `mcp-browsa credits add N` before starting new work",
                    balance=balance,
                )
            job_id = await JobRepo.insert(
                conn,
                workspace_id=workspace_id,
                kind=kind,
                params=params,
                request_id=request_id,
                progress_total=progress_total,
                agent_id=agent_id,
            )
            if items:
                await JobRepo.insert_items(conn, job_id, items)
            await JobRepo.add_event(conn, job_id, "job.queued", {"kind": kind})
            if extra is not None:
                await extra(conn, job_id)
        self.bus.work_available()
        job = await self.jobs.get(job_id)
        assert job is not None
        return job

    async def get(self, workspace_id: str, job_id: str, *, with_items: bool = True) -> Job:
        job = await self.jobs.get(check_job_id(job_id), workspace_id)
        if job is None:
            raise NotFound(f"job {job_id} not found; list_jobs shows the jobs you can see")
        if with_items and job.kind in ROW_KINDS:
            job.items = await self.jobs.items(job.id)
        return job

    async def wait(
        self,
        workspace_id: str,
        job_id: str,
        timeout: float,
        *,
        on_progress: ProgressFn | None = None,
        with_items: bool = True,
    ) -> Job:
        """Long-poll: return as soon as the job ends or needs input, or when `timeout` runs out."""
        deadline = time.monotonic() + max(0.0, timeout)
        job_id = check_job_id(job_id)
        change = self.bus.watch(job_id)  # armed before each read: a change right after the read still wakes us
        try:
            job = await self.get(workspace_id, job_id, with_items=False)
            last_seen = (job.status, job.step_count, job.progress_done, job.last_action)
            while job.status not in TERMINAL and job.status != JobStatus.INPUT_REQUIRED:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await self.bus.wait_job(job_id, min(remaining, self.poll_interval), watch=change)
                change = self.bus.watch(job_id)
                job = await self.get(workspace_id, job_id, with_items=False)
                seen = (job.status, job.step_count, job.progress_done, job.last_action)
                if on_progress is not None and seen != last_seen:
                    await on_progress(job)
                last_seen = seen
        finally:
            self.bus.unwatch(job_id, change)
        return await self.get(workspace_id, job_id, with_items=with_items)

    async def cancel(self, workspace_id: str, job_id: str) -> Job:
        job = await self.get(workspace_id, job_id, with_items=False)
        if job.status in TERMINAL:
            raise AgentNotRunning(
                f"job {job.id} already ended ({job.status}); nothing to cancel", job_id=job.id, status=job.status
            )
        await self.jobs.request_cancel(job.id)
        self.bus.job_changed(job.id)
        await self.bus.emit(EngineEvent("job.cancel_requested", workspace_id, {"job_id": job.id}, job_id=job.id))
        return await self.get(workspace_id, job.id)

    def outbox(self, *, durable: bool = False) -> AbstractAsyncContextManager[Outbox]:
        """A transaction whose events are written through the event hooks and announced once it commits."""
        return committing(self.db, self.bus, self.finish_hooks, durable=durable)

    async def finish_event(self, conn: Conn, event: EngineEvent) -> None:
        for hook in self.finish_hooks:
            await hook(conn, event)
