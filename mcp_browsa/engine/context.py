"""What a runner gets while it works on one claimed job: events, progress, charges and cancellation.

Every write checks the lease token in the same transaction, so a worker that lost its lease
cannot touch the job any more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from mcp_browsa.engine.requests import JobRequest
from mcp_browsa.errors import BrowsaError, StorageUnavailable
from mcp_browsa.events import EngineEvent
from mcp_browsa.models import JobStatus
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.jobs import ClaimedJob, JobRepo
from mcp_browsa.storage.ledger import LedgerRepo
from mcp_browsa.storage.progress import JobProgressRepo

if TYPE_CHECKING:
    from mcp_browsa.engine.jobs import JobEngine

__all__ = ["JobContext", "LeaseLost", "Outcome", "Runner", "progress_write"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=JobRequest)

# The batch row the current task works on: its charges are added to that row as well as to the job. A context
# variable, because each row runs in its own task and the charges are made deep inside the runners.
_current_row: ContextVar[int | None] = ContextVar("browsa_batch_row", default=None)


class LeaseLost(Exception):
    """Another worker owns this job now (our lease expired); stop without writing anything."""


@dataclass
class Outcome:
    status: JobStatus
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def ok(cls, result: dict[str, Any]) -> Outcome:
        return cls(JobStatus.COMPLETED, result=result)

    @classmethod
    def fail(cls, code: str, message: str, result: dict[str, Any] | None = None) -> Outcome:
        return cls(JobStatus.FAILED, result=result, error_code=code, error_message=message)

    @classmethod
    def crashed(cls, exc: Exception, what: str) -> Outcome:
        """The one way a runner turns what it raised into an outcome: an expected failure (a BrowsaError: no
        credit left, a browser that will not start) keeps its code and advice; anything else is a bug, logged
        with its traceback as `what` crashed, and becomes INTERNAL_ERROR."""
        if isinstance(exc, BrowsaError):
            return cls.fail(exc.code, exc.message)
        log.error("%s crashed", what, exc_info=exc)
        return cls.fail("INTERNAL_ERROR", f"internal error: {type(exc).__name__}: {exc}")


def progress_write(
    job_id: str, done: int, total: int | None = None, last_action: str | None = None, *, steps: int | None = None
) -> Callable[[Conn], Awaitable[None]]:
    """The write that moves a job's progress (and its step count), for a transaction that also records what made it
    move."""

    async def update(conn: Conn) -> None:
        await JobProgressRepo.set_progress(conn, job_id, done, total, last_action, steps)

    return update


@dataclass
class JobContext:
    job: ClaimedJob
    engine: JobEngine
    cancel_event: anyio.Event = field(default_factory=anyio.Event)
    lost: bool = False
    request: JobRequest | None = None  # the params read through the kind's request model, set by the worker

    def read(self, model: type[R]) -> R:
        """The job's request as `model`: the one the worker read, or the stored params read now."""
        if not isinstance(self.request, model):
            self.request = model.stored(self.job.params)
        return self.request

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    @property
    def workspace_id(self) -> str:
        return self.job.workspace_id

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    async def write(
        self,
        fn: Callable[[Conn], Awaitable[Any]] | None = None,
        *,
        event: tuple[str, dict[str, Any]] | None = None,
        durable: bool = False,
    ) -> Any:
        """Run `fn(conn)` and/or record an event in one transaction, only while this worker owns the job."""
        async with self.engine.db.transaction(durable=durable) as conn:
            if not await JobRepo.owns(conn, self.job.id, self.job.token):
                self.lost = True
                raise LeaseLost(self.job.id)
            value = await fn(conn) if fn is not None else None
            if event is not None:
                await JobRepo.add_event(conn, self.job.id, event[0], event[1])
        self.engine.bus.job_changed(self.job.id)
        return value

    async def event(self, type_: str, data: dict[str, Any]) -> None:
        await self.write(event=(type_, data))

    async def progress(self, done: int, total: int | None = None, *, last_action: str | None = None) -> None:
        try:
            await self.write(progress_write(self.job.id, done, total, last_action))
        except StorageUnavailable as exc:
            # Progress only informs whoever is watching; the job's outcome, written when it ends, is what counts.
            log.warning("progress of job %s not recorded: %s", self.job.id, exc)

    async def set_fields(self, **fields: Any) -> None:
        """Update plain job columns (live_url, step_count, cost_usd, …) under the lease check."""

        async def update(conn: Conn) -> None:
            await JobProgressRepo.set_fields(conn, self.job.id, fields)

        await self.write(update)

    async def charge(
        self,
        amount: int,
        description: str,
        *,
        usd: float = 0.0,
        allow_partial: bool = False,
        event: tuple[str, dict[str, Any]] | None = None,
        also: Callable[[Conn], Awaitable[Any]] | None = None,
    ) -> int:
        """Charge credits with a ledger row, atomically with an optional event and extra writes."""

        async def apply(conn: Conn) -> int:
            applied = await LedgerRepo.apply(
                conn,
                self.job.workspace_id,
                -amount,
                kind="charge",
                description=description,
                job_id=self.job.id,
                usd=usd,
                allow_partial=allow_partial,
            )
            if also is not None:
                await also(conn)
            row = _current_row.get()
            if row is not None and applied:
                await JobRepo.add_item_credits(conn, self.job.id, row, -applied)
            return -applied

        return int(await self.write(apply, event=event, durable=True))

    @contextmanager
    def batch_row(self, idx: int) -> Iterator[None]:
        """Charges made inside this block are also counted on batch row `idx` (its own `credits_charged`)."""
        token = _current_row.set(idx)
        try:
            yield
        finally:
            _current_row.reset(token)

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        await self.engine.bus.emit(EngineEvent(type_, self.job.workspace_id, data, job_id=self.job.id))


Runner = Callable[[JobContext], Awaitable[Outcome]]
