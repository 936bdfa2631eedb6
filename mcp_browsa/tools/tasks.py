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
from mcp_browsa.engine.agent.tasks import MAX_FANOUT, MAX_STEPS, MAX_TASK_CHARS, MAX_TASK_SECONDS, ScreenshotOptions
from mcp_browsa.identities.models import OsTypeName
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.jobs import JobId
from mcp_browsa.tools.params import LlmKey, LlmSpec
from mcp_browsa.tools.quick import AllowedDomains, IdempotencyKey
from mcp_browsa.tools.results import job_result
from mcp_browsa.tools.sampling import model_choice
from mcp_browsa.tools.waiting import follow_job, job_call, resumed

__all__ = ["register"]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=True))
    async def run_task(
        task: Annotated[
            str, Field(min_length=1, max_length=MAX_TASK_CHARS, description="What the browser should do, in words.")
        ],
        initial_url: Annotated[str | None, Field(max_length=4096, description="Page to start on (http/https).")] = None,
        llm: LlmSpec = None,
        llm_api_key: LlmKey = None,
        max_steps: Annotated[
            int, Field(ge=1, le=MAX_STEPS, description="Most steps (one model call + one action each).")
        ] = 20,
        output: Annotated[
            dict[str, Any] | None,
            Field(description="JSON Schema the result's `data` must match."),
        ] = None,
        input: Annotated[
            dict[str, Any] | None,
            Field(description="Values the task may use ({{secret:NAME}} for vaulted ones)."),
        ] = None,
        success_condition: Annotated[
            str | None,
            Field(
                max_length=2000,
                description="What the final page must show (a model checks it).",
            ),
        ] = None,
        timeout_seconds: Annotated[
            float, Field(ge=10, le=MAX_TASK_SECONDS, description="Wallclock limit, up to 3 h (answer waits excluded).")
        ] = 900,
        screenshots: Annotated[
            ScreenshotOptions | None,
            Field(description="When to take screenshots (default final_only)."),
        ] = None,
        fanout: Annotated[
            int,
            Field(
                ge=1,
                le=MAX_FANOUT,
                description="Race this many browsers; the first success wins.",
            ),
        ] = 1,
        max_credits: Annotated[int | None, Field(ge=1, description="Credit cap for this task.")] = None,
        allowed_domains: AllowedDomains = None,
        allow_writes: Annotated[
            bool, Field(description="Let the agent submit forms (POST, PUT, …); off: read only.")
        ] = True,
        os_type: Annotated[OsTypeName | None, Field(description="Operating system the browser presents.")] = None,
        country: Annotated[
            str | None, Field(min_length=2, max_length=2, description="ISO country code for locale and time zone.")
        ] = None,
        identity_id: Annotated[
            str | None, Field(max_length=100, description="Run on this persistent identity (its logins kept).")
        ] = None,
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
        caller = caller_for(ctx)
        again = await resumed(app, ctx, caller)
        if again is not None:
            return again
        until = time.time() + wait
        params = {
            "task": task,
            "initial_url": initial_url,
            "llm": llm,
            "max_steps": max_steps,
            "output": output,
            "input": input,
            "success_condition": success_condition,
            "timeout_seconds": timeout_seconds,
            "screenshots": screenshots.model_dump() if screenshots else None,
            "fanout": fanout,
            "max_credits": max_credits,
            "allowed_domains": allowed_domains,
            "allow_writes": allow_writes,
            "os_type": os_type,
            "country": country,
            "identity_id": identity_id,
            "wait": wait,
        }  # the key stays out: it is not part of what makes two calls the same, and no hash of it is kept

        async def start() -> Job:
            model, sampler = model_choice(app, ctx, llm, llm_api_key)
            job = await app.run_task(
                caller,
                task,
                llm=model,
                sampler=sampler,
                llm_api_key=llm_api_key,
                initial_url=initial_url,
                max_steps=max_steps,
                output=output,
                input=input,
                success_condition=success_condition,
                timeout_seconds=timeout_seconds,
                screenshots=screenshots,
                fanout=fanout,
                max_credits=max_credits,
                allowed_domains=allowed_domains,
                allow_writes=allow_writes,
                os_type=os_type,
                country=country,
                identity_id=identity_id,
            )
            if wait <= 0:
                return job
            return await follow_job(app, ctx, caller, job.id, until=until)

        job = await app.idempotent(caller, "run_task", idempotency_key, params, start)
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
