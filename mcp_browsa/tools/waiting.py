"""Waiting on a job inside a tool call: progress notifications, and asking the client's user when the job needs input.

A handshake-era client (2025-11-25 and before) gets an `elicitation/create` request in the middle of the call; a
2026-07-28 client gets an InputRequiredResult and calls again with the answer. A client without elicitation gets
the job in `input_required`, to answer with respond_to_job.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from mcp.server.elicitation import AcceptedElicitation, render_elicitation_schema
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from pydantic import BaseModel, Field, ValidationError

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.errors import BrowsaError
from mcp_browsa.models import Job
from mcp_browsa.tools.results import job_result, progress_reporter
from mcp_browsa.tools.round_trip import RoundTripSampler, SampleState, echoed_state, sample_request, wait_job_or_sample
from mcp_browsa.tools.sampling import sampling_mode

__all__ = [
    "HumanAnswerForm",
    "QuestionState",
    "elicitation_mode",
    "follow_job",
    "job_call",
    "question_result",
    "resume",
    "resume_sample",
    "resumed",
    "round_trip_sampler",
]

log = logging.getLogger(__name__)

ElicitMode = Literal["request", "input_required"]
STATE_TAG = "mcp-browsa/job-question/v1"
ELICIT_SECONDS = 600.0  # a person typing an answer; past this the job stays in input_required
_INPUT_KEY = "answer"


class HumanAnswerForm(BaseModel):
    """What the user fills in when a running task asks them something."""

    answer: str = Field(description="Your answer to the task's question.")
    secret: bool = Field(
        False, description="Tick for a password or code: it is sealed in the vault and never shown to the model."
    )


@dataclass(frozen=True)
class QuestionState:
    """Echoed back by a 2026-07-28 client with its answer: which job asked what, and when the wait ends."""

    job_id: str
    question: str
    until: float  # unix time

    def dump(self) -> str:
        return json.dumps({"tag": STATE_TAG, "job_id": self.job_id, "question": self.question, "until": self.until})

    @classmethod
    def parse(cls, ctx: Context[Any, Any] | None) -> QuestionState | None:
        data = echoed_state(ctx, STATE_TAG)
        try:
            return cls(str(data["job_id"]), str(data["question"]), float(data["until"])) if data else None
        except (ValueError, KeyError, TypeError):
            return None  # not ours: the job is looked up in the caller's workspace anyway


def elicitation_mode(ctx: Context[Any, Any] | None) -> ElicitMode | None:
    """How this call can ask its user a question, if at all."""
    if ctx is None:
        return None
    try:
        caps = ctx.client_capabilities
        can_send = ctx.session.can_send_request
    except (ValueError, AttributeError):
        return None
    elicitation = caps.elicitation if caps is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return None  # no elicitation, or URL mode only
    if can_send:
        return "request"
    if (ctx.protocol_version or "") >= "2026-07-28":
        return "input_required"
    return None


async def follow_job(
    app: Browsa,
    ctx: Context[Any, Any] | None,
    caller: Caller,
    job_id: str,
    *,
    until: float,
    events_after: int | None = None,
    events_limit: int = 20,
) -> Job:
    """Long-poll the job until it ends or `until` (unix time), reporting progress; answer questions by elicitation."""
    mode = elicitation_mode(ctx)
    report = progress_reporter(ctx)
    job = await app.get_job(caller, job_id)
    job_id = job.id
    sampler = round_trip_sampler(app, ctx, job_id)
    asked: str | None = None
    waiting: AbstractContextManager[None] = app.tasks.human_waiting(job.id) if mode else nullcontext()
    with waiting:
        while True:
            left = until - time.time()

            async def wait_job(left: float = left) -> Job:
                return await app.get_job(
                    caller,
                    job_id,
                    wait=max(0.0, left),
                    on_progress=report,
                    events_after=events_after,
                    events_limit=events_limit,
                )

            if sampler is not None:  # the job's model is this client's: its model calls end the wait too
                got, asking = await wait_job_or_sample(sampler, wait_job, left)
                if asking or got is None:
                    return await app.get_job(caller, job.id, events_after=events_after, events_limit=events_limit)
                job = got
            else:
                job = await wait_job()
            if job.status != "input_required" or mode != "request" or left <= 0:
                return job
            if asked is not None and job.question == asked:
                await app.bus.wait_job(job.id, 0.5)  # our answer is on its way to the task
                continue
            if not await _elicit(app, ctx, caller, job):
                return job
            asked = job.question


async def _elicit(app: Browsa, ctx: Context[Any, Any] | None, caller: Caller, job: Job) -> bool:
    """Ask through `elicitation/create`; True when an answer was delivered."""
    assert ctx is not None
    try:
        with anyio.move_on_after(ELICIT_SECONDS):
            outcome = await ctx.elicit(job.question or "The task needs your input.", HumanAnswerForm)
            if isinstance(outcome, AcceptedElicitation):
                await app.respond_to_job(caller, job.id, outcome.data.answer, secret=outcome.data.secret)
                return True
    except BrowsaError as exc:
        log.info("an elicited answer for job %s was not delivered: %s", job.id, exc.message)
    except Exception as exc:
        # A client that cannot take the request after all: the job waits in input_required instead.
        log.info("elicitation for job %s failed: %s", job.id, exc)
    return False


def question_result(job: Job, until: float) -> InputRequiredResult:
    """The 2026-07-28 way to ask: the client asks its user and calls again with the answer and this state."""
    state = QuestionState(job.id, job.question or "", until)
    form = ElicitRequestFormParams(
        message=job.question or "The task needs your input.",
        requested_schema=render_elicitation_schema(HumanAnswerForm),
    )
    return InputRequiredResult(input_requests={_INPUT_KEY: ElicitRequest(params=form)}, request_state=state.dump())


async def _deliver(app: Browsa, ctx: Context[Any, Any], caller: Caller, state: QuestionState) -> bool:
    """Apply the answer a 2026-07-28 client sent back; False when its user declined or sent nothing usable."""
    reply = (ctx.input_responses or {}).get(_INPUT_KEY)
    if not isinstance(reply, ElicitResult) or reply.action != "accept" or not reply.content:
        return False
    try:
        form = HumanAnswerForm.model_validate(reply.content)
    except ValidationError:
        return False
    job = await app.get_job(caller, state.job_id)
    if job.status == "input_required" and job.question == state.question:
        try:
            await app.respond_to_job(caller, job.id, form.answer, secret=form.secret)
        except BrowsaError as exc:
            log.info("an elicited answer for job %s was not delivered: %s", job.id, exc.message)
    return True


async def job_call(
    app: Browsa,
    ctx: Context[Any, Any] | None,
    caller: Caller,
    job: Job,
    *,
    until: float,
    images: bool = False,
) -> CallToolResult | InputRequiredResult:
    """What a waiting tool answers: the job, or (2026-07-28 clients) the job's question to put to the user, or
    its model call for the client's model to answer."""
    sampler = round_trip_sampler(app, ctx, job.id)
    if sampler is not None and sampler.pending is not None and until > time.time():
        return sample_request(job.id, sampler.pending, until)
    if (
        job.status == "input_required"
        and not job.idempotent_replay
        and elicitation_mode(ctx) == "input_required"
        and until > time.time()
    ):
        return question_result(job, until)
    return await job_result(app, job, images=images)


def round_trip_sampler(app: Browsa, ctx: Context[Any, Any] | None, job_id: str) -> RoundTripSampler | None:
    """The job's sampler when the job runs on a 2026-07-28 client's model and this call can answer for it."""
    sampler = app.tasks.samplers.get(job_id)
    if isinstance(sampler, RoundTripSampler) and sampling_mode(ctx) == "round_trip":
        return sampler
    return None


async def resume_sample(
    app: Browsa,
    ctx: Context[Any, Any],
    caller: Caller,
    state: SampleState,
    *,
    images: bool = False,
    events_after: int | None = None,
    events_limit: int = 20,
) -> CallToolResult | InputRequiredResult:
    """A retried call carrying the client model's answer: hand it to the job, then wait on as before."""
    job = await app.get_job(caller, state.job_id)  # the caller's workspace only
    state.deliver(ctx, round_trip_sampler(app, ctx, job.id))
    job = await follow_job(
        app, ctx, caller, job.id, until=state.until, events_after=events_after, events_limit=events_limit
    )
    return await job_call(app, ctx, caller, job, until=state.until, images=images)


async def resume(
    app: Browsa,
    ctx: Context[Any, Any],
    caller: Caller,
    state: QuestionState,
    *,
    images: bool = False,
    events_after: int | None = None,
    events_limit: int = 20,
) -> CallToolResult | InputRequiredResult:
    """A retried call carrying the user's answer: deliver it, then keep waiting until the original deadline."""
    if not await _deliver(app, ctx, caller, state):
        job = await app.get_job(caller, state.job_id, events_after=events_after, events_limit=events_limit)
        return await job_result(app, job, images=images)
    job = await follow_job(
        app, ctx, caller, state.job_id, until=state.until, events_after=events_after, events_limit=events_limit
    )
    return await job_call(app, ctx, caller, job, until=state.until, images=images)


async def resumed(
    app: Browsa,
    ctx: Context[Any, Any] | None,
    caller: Caller,
    *,
    images: bool = False,
    events_after: int | None = None,
    events_limit: int = 20,
) -> CallToolResult | InputRequiredResult | None:
    """A retried call of a 2026-07-28 client (a user's answer, or its model's), carried on; None for a new call."""
    if ctx is None:
        return None
    question = QuestionState.parse(ctx)
    if question is not None:
        return await resume(
            app, ctx, caller, question, images=images, events_after=events_after, events_limit=events_limit
        )
    sample = SampleState.parse(ctx)
    if sample is not None:
        return await resume_sample(
            app, ctx, caller, sample, images=images, events_after=events_after, events_limit=events_limit
        )
    return None
