"""Running a call at most once per idempotency key: reserve, run, store the response, replay it for 24 h.

Used by every tool that creates work (scrape, extract, screenshot, batch, run_task, auto) through
`Browsa.idempotent`; the storage side is `storage/idempotency.py`. A tool adapter wraps its app call:

    caller = caller_for(ctx)
    job = await app.idempotent(caller, "run_task", idempotency_key, {"task": task, ...}, lambda: app.run_task(caller, ...))

`params` is every argument except the key (they decide IDEMPOTENCY_CONFLICT); the wrapped call must create its job
with `caller.request_id` (JobEngine.submit(request_id=…) does), which is how a retry after a crash finds that job
instead of creating another. A tool returning another model (e.g. auto's) passes `model=` (with an
`idempotent_replay` field) and `recover=` (build that model from a job id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from mcp_browsa.errors import TooManyRequests
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.idempotency import Claim, IdempotencyRepo, check_key, params_hash

__all__ = ["IdempotencyRunner", "Recover"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
# Builds the response from a job that a dead owner created but never answered for.
Recover = Callable[[str], Awaitable[M]]

PURGE_INTERVAL = 3600.0


class IdempotencyRunner:
    """One per process. `owner` names this process in reservations; leases are renewed while a call runs."""

    def __init__(
        self,
        db: Database,
        *,
        owner: str,
        lease_seconds: float = 30.0,
        wait_cap: float = 55.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.repo = IdempotencyRepo(db)
        self.owner = owner
        self.lease_seconds = lease_seconds
        # Hosts cut a tool call near 60 s: a duplicate that waits longer answers TOO_MANY_REQUESTS instead.
        self.wait_cap = wait_cap
        self.poll_interval = poll_interval
        self._settled: dict[tuple[str, str], anyio.Event] = {}
        self._last_purge = 0.0

    async def run(
        self,
        workspace_id: str,
        request_id: str | None,
        tool: str,
        key: str | None,
        params: Mapping[str, Any],
        fn: Callable[[], Awaitable[M]],
        *,
        model: type[M],
        recover: Recover[M],
    ) -> M:
        """`fn()` once per (workspace, key); every later call with the same parameters gets its stored response.

        The response model must have an `idempotent_replay: bool | None` field; replays set it to True.
        `request_id` must be the id the work is created with (jobs record it), so that a call taking over from
        a dead owner finds the job that owner created instead of creating a second one.
        """
        if key is None:
            return await fn()
        key = check_key(key)
        await self._maybe_purge()
        phash = params_hash(tool, params)
        deadline = time.monotonic() + self.wait_cap
        while True:
            claim = await self.repo.reserve(
                workspace_id,
                key,
                tool,
                phash,
                owner=self.owner,
                request_id=request_id,
                lease_seconds=self.lease_seconds,
            )
            if claim.kind == "stored":
                return _replay(model, claim)
            if claim.kind == "owner":
                if claim.job_id is not None:
                    return await self._answer_from_job(workspace_id, key, claim.job_id, model, recover)
                return await self._own(workspace_id, request_id, key, fn, recover)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TooManyRequests(
                    f"a call with idempotency_key {key[:80]!r} is still running; retry shortly to get its response",
                    retry_after=5.0,
                )
            await self._wait_settled(workspace_id, key, min(remaining, self.poll_interval))

    async def _own(
        self,
        workspace_id: str,
        request_id: str | None,
        key: str,
        fn: Callable[[], Awaitable[M]],
        recover: Recover[M],
    ) -> M:
        try:
            result = await self._with_heartbeat(workspace_id, key, fn)
            with anyio.CancelScope(shield=True):
                await self.repo.complete(workspace_id, key, self.owner, result.model_dump_json(exclude_none=True))
            return result
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._give_up(workspace_id, request_id, key)
            raise
        finally:
            self._settle(workspace_id, key)

    async def _with_heartbeat(self, workspace_id: str, key: str, fn: Callable[[], Awaitable[M]]) -> M:
        # fn's own exception is carried out of the task group by hand: a task group would wrap it in an
        # ExceptionGroup, and callers match on BrowsaError.
        failure: BaseException | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat, workspace_id, key)
            try:
                result = await fn()
            except BaseException as exc:
                failure = exc
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    async def _give_up(self, workspace_id: str, request_id: str | None, key: str) -> None:
        """The call failed or was cancelled. Without a job nothing happened: free the key for a clean retry.

        With a job (e.g. the client went away while waiting on it) the key must keep pointing at that job:
        expire the lease so the next call takes over and answers from it.
        """
        try:
            job_id = await self.repo.job_for_request(workspace_id, request_id) if request_id else None
            if job_id is None:
                await self.repo.release(workspace_id, key, self.owner)
            else:
                await self.repo.abandon(workspace_id, key, self.owner)
        except Exception:
            log.exception("could not release idempotency key %r; it frees itself when its lease ends", key)

    async def _answer_from_job(
        self, workspace_id: str, key: str, job_id: str, model: type[M], recover: Recover[M]
    ) -> M:
        try:
            response = (await recover(job_id)).model_dump_json(exclude_none=True)
            await self.repo.complete(workspace_id, key, self.owner, response)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.repo.abandon(workspace_id, key, self.owner)
            raise
        finally:
            self._settle(workspace_id, key)
        return _replay(model, Claim("stored", response=response))

    async def _heartbeat(self, workspace_id: str, key: str) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                if not await self.repo.heartbeat(workspace_id, key, self.owner, self.lease_seconds):
                    return
            except Exception:
                log.exception("renewing the lease of idempotency key %r failed", key)

    async def _wait_settled(self, workspace_id: str, key: str, timeout: float) -> None:
        """Wake when this process settles the key, or after `timeout` to look at other processes' work."""
        event = self._settled.setdefault((workspace_id, key), anyio.Event())
        with anyio.move_on_after(timeout):
            await event.wait()

    def _settle(self, workspace_id: str, key: str) -> None:
        event = self._settled.pop((workspace_id, key), None)
        if event is not None:
            event.set()

    async def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_INTERVAL:
            return
        self._last_purge = time.monotonic()
        try:
            await self.repo.purge_expired()
        except Exception:
            log.exception("purging expired idempotency keys failed")


def _replay(model: type[M], claim: Claim) -> M:
    assert claim.response is not None
    replay = model.model_validate_json(claim.response)
    # Pydantic models allow assignment; the field is part of the response model's declared shape.
    replay.idempotent_replay = True  # type: ignore[attr-defined]
    return replay
