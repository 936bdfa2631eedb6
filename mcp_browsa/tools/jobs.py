"""Job tools: get_job (long-poll with progress), list_jobs and cancel_job.

A host that cuts calls at ~60 s polls get_job with wait ≤ 50; it returns the moment the job ends.
"""

import json
import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.models import Job, JobList
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.params import Cursor
from mcp_browsa.tools.results import job_result, progress_reporter
from mcp_browsa.tools.waiting import QuestionState, follow_job, job_call, resume

__all__ = ["JobId", "register"]

JobId = Annotated[str, Field(min_length=1, max_length=100, description="The job id (UUID) a tool returned.")]
Status = Literal["queued", "running", "input_required", "completed", "failed", "cancelled"]
Kind = Literal["task", "scrape", "extract", "screenshot", "batch", "login", "crawl", "map"]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def get_job(
        job_id: JobId,
        wait: Annotated[
            float,
            Field(
                ge=0, le=120, description="Seconds to wait for the job to end (returns as soon as it does). Keep ≤ 50."
            ),
        ] = 25,
        include_screenshots: Annotated[bool, Field(description="Attach the job's screenshots as images.")] = False,
        events_after: Annotated[
            int | None,
            Field(
                ge=0,
                description="Include the step timeline: events after this event id (0 = from the start). Page"
                " through it by passing the last id you got.",
            ),
        ] = None,
        events_limit: Annotated[int, Field(ge=1, le=200, description="Most events per call.")] = 20,
        view: Annotated[
            Literal["full", "status"],
            Field(description="status: only {id, status, kind, progress_done, progress_total}, a cheap poll."),
        ] = "full",
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job] | InputRequiredResult:
        """Get a job's status and result, waiting up to `wait` seconds for it to finish.

        Sends progress notifications (step N of max, last action) while waiting. Poll again if still running.
        A task in input_required has a `question`: your client may be asked it directly; else use respond_to_job.
        Screenshots are listed as resources (browsa://jobs/{id}/screenshots/{n}).
        """
        caller = caller_for(ctx)
        if view == "status":
            brief = await app.job_status(caller, job_id, wait=wait, on_progress=progress_reporter(ctx))
            return CallToolResult(content=[TextContent(type="text", text=json.dumps(brief))], structured_content=brief)
        state = QuestionState.parse(ctx)
        if state is not None and ctx is not None:
            return await resume(
                app,
                ctx,
                caller,
                state,
                images=include_screenshots,
                events_after=events_after,
                events_limit=events_limit,
            )
        until = time.time() + wait
        job = await follow_job(
            app, ctx, caller, job_id, until=until, events_after=events_after, events_limit=events_limit
        )
        return await job_call(app, ctx, caller, job, until=until, images=include_screenshots)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_jobs(
        status: Annotated[Status | None, Field(description="Only jobs in this status.")] = None,
        kind: Annotated[Kind | None, Field(description="Only jobs of this kind.")] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="How many, newest first.")] = 20,
        cursor: Cursor = None,
        ctx: Context[Any, Any] | None = None,
    ) -> JobList:
        """List jobs, newest first, a page at a time (`next_cursor`), with the `total` that match."""
        return await app.list_jobs(caller_for(ctx), status=status, kind=kind, limit=limit, cursor=cursor)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
    async def cancel_job(job_id: JobId, ctx: Context[Any, Any] | None = None) -> Annotated[CallToolResult, Job]:
        """Cancel a queued or running job. Agent tasks stop between steps; you pay only for steps taken.

        A job that already ended gives AGENT_NOT_RUNNING.
        """
        return await job_result(app, await app.cancel_job(caller_for(ctx), job_id))
