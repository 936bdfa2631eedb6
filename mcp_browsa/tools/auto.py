"""The `auto` tool: one plain-English request, routed to a scrape (no LLM, no key) or an agent task.

The routing itself is engine/router.py, which errs towards the agent: a wrong scrape is worse
than a slow task. The answer says which way it went and why.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import AllowedDomains, LlmKey, LlmSpec, ScrapeRequest, TaskRequest
from mcp_browsa.engine.router import route
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.quick import SYNC_WAIT_CAP, IdempotencyKey
from mcp_browsa.tools.results import job_result, progress_reporter, raise_if_failed
from mcp_browsa.tools.sampling import model_choice

__all__ = ["register"]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=True))
    async def auto(
        task: Annotated[
            str,
            Field(min_length=1, max_length=8000, description="The request in words, e.g. 'summarize https://x/post'."),
        ],
        llm: LlmSpec = None,
        llm_api_key: LlmKey = None,
        wait: Annotated[
            float,
            Field(
                ge=0,
                le=120,
                description="Seconds to wait for a task to end (≤ 50).",
            ),
        ] = 0,
        allowed_domains: AllowedDomains = None,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Do the request the cheapest safe way: one URL to read → scrape, else an agent task (routed_via)."""
        caller = caller_for(ctx)
        decision = route(task)
        params = {"task": task, "llm": llm, "wait": wait, "allowed_domains": allowed_domains}

        async def run() -> Job:
            if decision.kind == "scrape" and decision.url is not None:
                page = ScrapeRequest(
                    url=decision.url, formats=decision.formats or ["markdown"], allowed_domains=allowed_domains
                )
                job = await app.scrape(caller, page, wait=SYNC_WAIT_CAP)
            else:
                model, sampler = model_choice(app, ctx, llm, llm_api_key)
                req = TaskRequest(
                    task=task,
                    llm=model,
                    llm_api_key=llm_api_key,
                    initial_url=decision.url,
                    allowed_domains=allowed_domains,
                )
                job = await app.run_task(caller, req, sampler=sampler, wait=wait, on_progress=progress_reporter(ctx))
            job.routed_via = decision.kind
            job.routing_reason = decision.reason
            return job

        job = await app.idempotent(caller, "auto", idempotency_key, params, run)
        images = decision.kind == "scrape" and "screenshot" in decision.formats
        return await job_result(app, raise_if_failed(job) if decision.kind == "scrape" else job, images=images)
