"""Workers: claim queued jobs with a lease, keep it alive, run the kind's runner, write the end state.

Also the sweeper that rescues jobs whose owner died: read-only kinds go back to the queue,
agent tasks end INTERRUPTED (they may have clicked "Buy"; they are never silently re-run).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup
from pydantic import ValidationError

from mcp_browsa.engine.context import JobContext, LeaseLost, Outcome
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.errors import StorageUnavailable
from mcp_browsa.events import EngineEvent
from mcp_browsa.models import JobStatus
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.jobs import READ_ONLY_KINDS, ROW_KINDS, ClaimedJob, JobRepo
from mcp_browsa.storage.leases import LeaseRepo

__all__ = ["WorkerPool", "process_owner_id"]

log = logging.getLogger(__name__)

_EVENT_FOR = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}


def _rescued_event(job_id: str, workspace_id: str, new_status: str) -> EngineEvent:
    data: dict[str, Any] = {"job_id": job_id, "status": new_status}
    if new_status == "failed":
        data["error_code"] = "INTERRUPTED"
    return EngineEvent(f"job.{new_status}", workspace_id, data, job_id=job_id)


def _log_failure(what: str, exc: Exception) -> None:
    """A disk that refuses writes is an expected failure with its own clear message; anything else needs the trace."""
    if isinstance(exc, StorageUnavailable):
        log.warning("%s: %s", what, exc.message)
    else:
        log.error("%s", what, exc_info=exc)


def process_owner_id(name: str | None = None) -> str:
    """host:pid:name (a random name by default) — the pid lets a restart on this host rescue a dead process's jobs
    at once; the name is the operator's `--worker-id`, so logs and job events say which worker ran what."""
    return f"{socket.gethostname()}:{os.getpid()}:{name or uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Held:
    ctx: JobContext
    scope: anyio.CancelScope


class WorkerPool:
    def __init__(
        self,
        engine: JobEngine,
        *,
        slots: int,
        lease_seconds: float,
        sweep_interval: float,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.slots = slots
        self.lease_seconds = lease_seconds
        self.sweep_interval = sweep_interval
        self.owner = process_owner_id(name)
        self.held: dict[str, _Held] = {}
        self._claiming = anyio.CancelScope()
        self._claim_stopped = anyio.Event()
        self._claimed: set[str] = set()  # from the claim's commit until the job's end is written (or abandoned)
        self._idle = anyio.Event()
        # A semaphore, not a CapacityLimiter: the claim loop acquires and the job's own task releases.
        self._limiter = anyio.Semaphore(slots)
        engine.bus.subscribe(self._on_event)

    async def _on_event(self, event: EngineEvent) -> None:
        if event.type == "job.cancel_requested" and event.job_id in self.held:
            self._cancel_local(event.job_id)

    def _cancel_local(self, job_id: str) -> None:
        held = self.held.get(job_id)
        if held is None:
            return
        held.ctx.cancel_event.set()
        # Read-only work has nothing to wind down: stop it now. Agent tasks stop between steps.
        if held.ctx.job.kind in READ_ONLY_KINDS and held.ctx.job.kind not in ROW_KINDS:
            held.scope.cancel()

    async def release_all(self) -> None:
        """On a clean shutdown, give up every lease this process holds at once instead of letting it time out:
        read-only work goes straight back to the queue for a neighbour (or the next start), agent tasks end
        INTERRUPTED now rather than after a lease period."""
        with anyio.CancelScope(shield=True):
            try:
                await LeaseRepo(self.engine.db).release(self.owner)
                await self.recover_dead()
            except Exception as exc:
                _log_failure("releasing leases at shutdown failed; they will expire on their own", exc)

    async def recover_dead(self) -> None:
        """Expire the leases of dead processes on this host, then rescue every expired lease.

        Queued jobs pinned to a dead process (agent tasks whose key or client it held) end the same way, whether
        it ran on this host (its pid is gone) or another (it stopped renewing their pins).
        """
        leases = LeaseRepo(self.engine.db)
        dead = []
        for job_id, owner in await leases.owners_on_host(socket.gethostname()):
            parts = owner.split(":")
            if len(parts) >= 3 and parts[1].isdigit() and owner != self.owner:
                pid = int(parts[1])
                if pid != os.getpid() and not _pid_alive(pid):
                    dead.append(job_id)
        if dead:
            await leases.expire(dead)

        async def announce_end(conn: Conn, job_id: str, workspace_id: str, new_status: str) -> None:
            await self.engine.finish_event(conn, _rescued_event(job_id, workspace_id, new_status))

        for job_id, workspace_id, new_status in await leases.recover_expired(announce_end):
            log.warning("recovered job %s from a dead worker: now %s", job_id, new_status)
            if new_status in ("failed", "cancelled"):
                await self.engine.bus.emit(_rescued_event(job_id, workspace_id, new_status))
            else:
                self.engine.bus.job_changed(job_id)
        if await self.engine.jobs.next_queued_hint():
            self.engine.bus.work_available()

    async def run(self, tg: TaskGroup, *, claim: bool = True) -> None:
        """Start the claim loop, the heartbeat and the sweeper in `tg`; without `claim`, only the sweeper (a
        front-end that runs no browsers still rescues the jobs of workers that died)."""
        await self.recover_dead()
        if claim:
            tg.start_soon(self._claim_loop, tg)
            tg.start_soon(self._heartbeat_loop)
        else:
            self._claim_stopped.set()
        tg.start_soon(self._sweep_loop)

    async def drain(self, grace: float) -> int:
        """Stop claiming, and give the jobs running here up to `grace` seconds to end; returns how many are left.

        What is left is cancelled when the process leaves `Browsa.running`, and `release_all` hands it back.
        """
        with anyio.move_on_after(grace):
            await self.stop_claiming()
            while self._claimed:
                await self._idle.wait()
                self._idle = anyio.Event()
        return len(self._claimed)

    async def stop_claiming(self) -> None:
        """Claim nothing more; returns once a claim that was under way has returned (its job counts in `busy`)."""
        self._claiming.cancel()
        await self._claim_stopped.wait()

    @property
    def busy(self) -> int:
        """Jobs this process has claimed and not yet ended."""
        return len(self._claimed)

    async def _claim_loop(self, tg: TaskGroup) -> None:
        try:
            with self._claiming:
                await self._claim_forever(tg)
        finally:
            self._claim_stopped.set()

    async def _claim_forever(self, tg: TaskGroup) -> None:
        while True:
            await self._limiter.acquire()
            signal = self.engine.bus.work_signal()
            try:
                claimed = await self.engine.jobs.claim(self.owner, self.lease_seconds)
            except Exception as exc:
                self._limiter.release()
                _log_failure("claiming a job failed", exc)
                await anyio.sleep(1)
                continue
            if claimed is None:
                self._limiter.release()
                await self.engine.bus.wait_for_work(self.engine.poll_interval * 2, signal)
                continue
            self._claimed.add(claimed.id)
            tg.start_soon(self._run_job, claimed)

    async def _renew(self) -> None:
        """Extend the leases of the jobs running here, and of the queued jobs pinned here; stop work on any that
        another worker has taken over."""
        await LeaseRepo(self.engine.db).renew_pins(self.owner, self.lease_seconds)
        held = [(job_id, h.ctx.job.token) for job_id, h in self.held.items()]
        lost = await self.engine.jobs.heartbeat(held, self.lease_seconds)
        for job_id in lost:
            h = self.held.get(job_id)
            if h is not None:
                log.warning("lost the lease on job %s; stopping work on it", job_id)
                h.ctx.lost = True
                h.scope.cancel()

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                await self._renew()
                for job_id in list(self.held):
                    held = self.held.get(job_id)  # a job may end while this loop awaits
                    if held is not None and not held.ctx.cancelled and await self.engine.jobs.cancel_requested(job_id):
                        self._cancel_local(job_id)
            except Exception as exc:
                _log_failure("heartbeat failed", exc)

    async def _sweep_loop(self) -> None:
        while True:
            await anyio.sleep(self.sweep_interval)
            try:
                # A process that stalled past its leases (a suspended laptop, a starved machine) renews what it is
                # still running before judging leases, so it never rescues its own live jobs from itself.
                await self._renew()
                await self.recover_dead()
            except Exception as exc:
                _log_failure("sweeper failed", exc)

    async def _run_job(self, job: ClaimedJob) -> None:
        try:
            ctx = JobContext(job=job, engine=self.engine)
            with anyio.CancelScope() as scope:
                self.held[job.id] = _Held(ctx, scope)
                if await self.engine.jobs.cancel_requested(job.id):
                    ctx.cancel_event.set()
                outcome = await self._execute(ctx)
            if scope.cancelled_caught and not ctx.lost:
                outcome = Outcome(JobStatus.CANCELLED, error_message="cancelled while running")
            if not ctx.lost:
                await self._finish_patiently(ctx, outcome)
        except Exception:
            log.exception("finishing job %s failed", job.id)
        finally:
            self.held.pop(job.id, None)
            self._claimed.discard(job.id)
            self._limiter.release()
            self._idle.set()

    async def _execute(self, ctx: JobContext) -> Outcome:
        kind = self.engine.kinds.get(ctx.job.kind)
        if kind is None:
            return Outcome.fail("INTERNAL_ERROR", f"this server has no runner for {ctx.job.kind!r} jobs")
        if ctx.cancelled:
            return Outcome(JobStatus.CANCELLED, error_message="cancelled before it started")
        try:
            ctx.request = kind.request.stored(ctx.job.params)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "params"
            return Outcome.fail(
                "BAD_REQUEST", f"this {ctx.job.kind} job's stored {where} cannot be read: {problem['msg']}"
            )
        try:
            return await kind.runner(ctx)
        except LeaseLost:
            ctx.lost = True
            return Outcome.fail("INTERRUPTED", "lease lost")
        except Exception as exc:
            return Outcome.crashed(exc, f"job {ctx.job.id}")

    async def _finish_patiently(self, ctx: JobContext, outcome: Outcome) -> None:
        """Write the end state; while the disk refuses it (full, read-only), keep the outcome and try again.

        The job stays held meanwhile (its lease renewed whenever the disk allows), so a result is not thrown
        away, nor the job run again, because the disk filled up for a while.
        """
        delay = 0.5
        while True:
            try:
                await self._finish(ctx, outcome)
                return
            except StorageUnavailable as exc:
                log.warning("cannot record the end of job %s yet, retrying in %g s: %s", ctx.job.id, delay, exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _finish(self, ctx: JobContext, outcome: Outcome) -> None:
        event_type = _EVENT_FOR[outcome.status]
        data: dict[str, Any] = {"job_id": ctx.job.id, "kind": ctx.job.kind, "status": outcome.status.value}
        if outcome.error_code:
            data["error_code"] = outcome.error_code
            data["error_message"] = outcome.error_message
        event = EngineEvent(event_type, ctx.job.workspace_id, data, job_id=ctx.job.id)
        with anyio.CancelScope(shield=True):
            async with self.engine.outbox() as box:
                done = await JobRepo.finish(
                    box.conn,
                    ctx.job.id,
                    ctx.job.token,
                    outcome.status,
                    result=outcome.result,
                    error_code=outcome.error_code,
                    error_message=outcome.error_message,
                )
                if not done:
                    log.warning("job %s was taken over before it finished here; result dropped", ctx.job.id)
                    return
                await JobRepo.add_event(box.conn, ctx.job.id, event_type, data)
                await box.add(event)
