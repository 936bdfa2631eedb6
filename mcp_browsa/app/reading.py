"""What callers ask about their work: jobs (long-polled), their screenshots and events, credits and capacity."""

from __future__ import annotations

import time
from typing import Any

from mcp_browsa.app.calls import Caller, with_hint
from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.browser.pool import BurnerPool
from mcp_browsa.engine.jobs import JobEngine, ProgressFn
from mcp_browsa.models import Capacity, Credits, Job, JobList, PriceTable
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.screenshots import ScreenshotRepo

__all__ = ["JobReading"]

STATUS_VIEW = ("id", "status", "kind", "progress_done", "progress_total")  # get_job(view="status")


class JobReading:
    """The reading half of Browsa: every read scoped to the caller's workspace."""

    db: Database
    engine: JobEngine
    pool: BurnerPool
    host: BrowserHost
    prices: PriceTable

    # -- jobs ---------------------------------------------------------------------------------

    async def get_job(
        self,
        caller: Caller,
        job_id: str,
        *,
        wait: float = 0,
        on_progress: ProgressFn | None = None,
        events_after: int | None = None,
        events_limit: int = 20,
    ) -> Job:
        """The job (long-polled with `wait`), its screenshots as resource URIs, and with `events_after` (an event
        id, 0 for the start) the next `events_limit` events of its timeline."""
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job_id, wait, on_progress=on_progress)
        else:
            job = await self.engine.get(caller.workspace_id, job_id)
        if job.live_url and job.items:  # a batch's running task rows: each its own browser in the job's view
            for item in job.items:
                if item.status == "running":
                    item.live_url = f"{job.live_url}?view=row-{item.index}"
        shots = await self.screenshot_files(job.id)
        if shots:
            job.screenshots = [f"browsa://jobs/{job.id}/screenshots/{n}" for n, _path in shots]
        if events_after is not None:
            job.events = await self.engine.jobs.events(job.id, after=max(0, events_after), limit=events_limit)
        return with_hint(job)

    async def job_status(
        self, caller: Caller, job_id: str, *, wait: float = 0, on_progress: ProgressFn | None = None
    ) -> dict[str, Any]:
        """The cheap poll: id, status, kind and progress only (no result, rows or screenshots are read)."""
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job_id, wait, on_progress=on_progress, with_items=False)
        else:
            job = await self.engine.get(caller.workspace_id, job_id, with_items=False)
        return job.model_dump(mode="json", include=set(STATUS_VIEW))

    async def list_jobs(
        self,
        caller: Caller,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobList:
        jobs, next_cursor, total = await self.engine.jobs.list_jobs(
            caller.workspace_id, status=status, kind=kind, limit=limit, cursor=cursor
        )
        return JobList(jobs=jobs, count=len(jobs), next_cursor=next_cursor, total=total)

    async def cancel_job(self, caller: Caller, job_id: str) -> Job:
        return await self.engine.cancel(caller.workspace_id, job_id)

    async def screenshot_files(self, job_id: str) -> list[tuple[int, str]]:
        return await ScreenshotRepo(self.db).files(job_id)

    # -- account ------------------------------------------------------------------------------

    async def credits(self, caller: Caller, *, limit: int = 10) -> Credits:
        ledger = self.engine.ledger
        return Credits(
            workspace_id=caller.workspace_id,
            balance=await ledger.balance(caller.workspace_id),
            prices=self.prices,
            ledger=await ledger.entries(caller.workspace_id, limit),
            usd_spent=await ledger.usd_spent(caller.workspace_id),
        )

    async def capacity(self) -> Capacity:
        counts = await self.engine.jobs.counts()
        oldest = await self.engine.jobs.oldest_queued()
        in_use = self.pool.in_use
        return Capacity(
            queued=counts.get("queued", 0),
            running=counts.get("running", 0),
            input_required=counts.get("input_required", 0),
            burners_in_use=in_use,
            burners_max=self.pool.max,
            utilization=round(in_use / self.pool.max, 3),
            oldest_queued_age_seconds=round(time.time() - oldest, 2) if oldest else None,
            browser=self.host.describe(),
            browser_contexts=self.host.open_contexts(),
            spares_ready=self.pool.spares,
        )
