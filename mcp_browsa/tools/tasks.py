"""Agent task tools: run_task (a browser agent driven by your LLM key) and respond_to_job (answer its questions).

run_task returns a job at once, or with `wait` follows it with progress notifications; a question the task asks
goes to the user by elicitation where the client supports it, else the job waits in input_required.
"""

import time
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import AllowedDomains, Country, IdentityRef, LlmKey, LlmSpec, MaxSteps, TaskRequest
from mcp_browsa.engine.requests.tasks import (
    AllowWrites,
    Fanout,
    MaxCredits,
    OsType,
    OutputSchema,
    Screenshots,
    StartUrl,
    SuccessCondition,
    TaskInput,
    TaskText,
    TaskTimeout,
)
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.jobs import JobId
from mcp_browsa.tools.quick import IdempotencyKey
from mcp_browsa.tools.results import job_result
from mcp_browsa.tools.sampling import model_choice
from mcp_browsa.tools.waiting import follow_job, job_call, resumed

__all__ = ["register"]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=True))
    async def run_task(
        task: TaskText,
        initial_url: StartUrl = None,
        llm: LlmSpec = None,
        llm_api_key: LlmKey = None,
        max_steps: MaxSteps = 20,
        output: OutputSchema = None,
        input: TaskInput = None,
        success_condition: SuccessCondition = None,
        timeout_seconds: TaskTimeout = 900,
        screenshots: Screenshots = None,
        fanout: Fanout = 1,
        max_credits: MaxCredits = None,
        allowed_domains: AllowedDomains = None,
        allow_writes: AllowWrites = True,
        os_type: OsType = None,
        country: Country = None,
        identity_id: IdentityRef = None,
        wait: Annotated[
            float,
            Field(
                ge=0,
                le=120,
                description="Seconds to follow the job (≤ 50: hosts cut calls near 60 s).",
            ),
        ] = 0,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job] | InputRequiredResult:
        """Run a browser agent on a task in plain English; returns a job to poll with get_job(job_id, wait=25).
        With no key it runs on your model (sampling), then only while you call with wait."""
        req = TaskRequest.pick(locals())
        caller = caller_for(ctx)
        again = await resumed(app, ctx, caller)
        if again is not None:
            return again
        until = time.time() + wait

        async def start() -> Job:
            model, sampler = model_choice(app, ctx, llm, llm_api_key)
            job = await app.run_task(caller, req.model_copy(update={"llm": model}), sampler=sampler)
            if wait <= 0:
                return job
            return await follow_job(app, ctx, caller, job.id, until=until)

        # The key stays out of the hash: it is not part of what makes two calls the same, and no hash of it is kept.
        job = await app.idempotent(caller, "run_task", idempotency_key, {**req.params(), "wait": wait}, start)
        return await job_call(app, ctx, caller, job, until=until)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=False, open_world_hint=True))
    async def respond_to_job(
        job_id: JobId,
        answer: Annotated[str, Field(min_length=1, max_length=10_000, description="The answer to the job's question.")],
        secret: Annotated[
            bool,
            Field(description="A password or code: vaulted, never shown to the model."),
        ] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Answer a job's question (input_required); the task resumes."""
        job = await app.respond_to_job(caller_for(ctx), job_id, answer, secret=secret)
        return await job_result(app, job)
