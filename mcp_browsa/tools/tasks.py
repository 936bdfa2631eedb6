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
from mcp_browsa.engine.agent_tasks import MAX_FANOUT, MAX_STEPS, MAX_TASK_CHARS, MAX_TASK_SECONDS, ScreenshotOptions
from mcp_browsa.identities.models import OsTypeName
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.jobs import JobId
from mcp_browsa.tools.params import LlmKey, LlmSpec
from mcp_browsa.tools.quick import AllowedDomains, IdempotencyKey
from mcp_browsa.tools.results import job_result
from mcp_browsa.tools.waiting import QuestionState, follow_job, job_call, resume

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
            Field(description="JSON Schema the result's `data` must match; a non-matching answer is sent back to fix."),
        ] = None,
        input: Annotated[
            dict[str, Any] | None,
            Field(
                description="Values the task may use (form fields, search terms). The model sees them; for passwords"
                " write {{secret:NAME}} and keep the value in the vault."
            ),
        ] = None,
        success_condition: Annotated[
            str | None,
            Field(
                max_length=2000,
                description="What must hold on the final page, e.g. 'the page says the order was placed'. Checked by"
                " a separate model call that sees only the condition, the result and the final page.",
            ),
        ] = None,
        timeout_seconds: Annotated[
            float,
            Field(
                ge=10,
                le=MAX_TASK_SECONDS,
                description="Wallclock limit, up to 3 h (time waiting for your answers not counted).",
            ),
        ] = 900,
        screenshots: Annotated[
            ScreenshotOptions | None,
            Field(description="When to take screenshots: final_only (default), every_step or on_navigation."),
        ] = None,
        fanout: Annotated[
            int,
            Field(
                ge=1,
                le=MAX_FANOUT,
                description="Race this many browsers on the task; the first success wins, the rest are cancelled.",
            ),
        ] = 1,
        max_credits: Annotated[
            int | None, Field(ge=1, description="Stop (INSUFFICIENT_CREDIT) before this task costs more credits.")
        ] = None,
        allowed_domains: AllowedDomains = None,
        allow_writes: Annotated[
            bool, Field(description="Let the agent submit forms and send writes (POST, PUT, …). Off: read only.")
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
                description="Seconds to follow the job before returning (progress is reported meanwhile). Keep ≤ 50"
                " and poll get_job: hosts cut calls near 60 s.",
            ),
        ] = 0,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job] | InputRequiredResult:
        """Run a browser agent on a task in plain English, with your own LLM key; returns a job.

        Poll it with get_job(job_id, wait=25) until it ends: the result is in `result.final_result` (and
        `result.data` when `output` is given). If the job turns `input_required`, its `question` is for the user:
        answer with respond_to_job. Failures carry error_code STALLED, LOOP, BLOCKED, CAPTCHA, TIMEOUT,
        INVALID_API_KEY, RATE_LIMIT, LLM_ERROR or INSUFFICIENT_CREDIT.
        """
        caller = caller_for(ctx)
        state = QuestionState.parse(ctx)
        if state is not None and ctx is not None:
            return await resume(app, ctx, caller, state)
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
            job = await app.run_task(
                caller,
                task,
                llm=llm,
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
            Field(
                description="A password or code: sealed in the vault for this job, typed by the agent as a"
                " placeholder, never stored in clear or shown to the model."
            ),
        ] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Answer the question of a job in `input_required`; the task resumes with it.

        A job not waiting for an answer gives AGENT_NOT_RUNNING. Then poll get_job as before.
        """
        job = await app.respond_to_job(caller_for(ctx), job_id, answer, secret=secret)
        return await job_result(app, job)
