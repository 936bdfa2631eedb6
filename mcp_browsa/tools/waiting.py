"""Waiting on a job inside a tool call: progress notifications, and asking the client's user when the job needs input.

A handshake-era client (2025-11-25 and before) gets an `elicitation/create` request in the middle of the call; a
2026-07-28 client gets an InputRequiredResult and calls again with the answer. A client without elicitation gets
the job in `input_required`, to answer with respond_to_job.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from mcp.server.elicitation import AcceptedElicitation, render_elicitation_schema
from mcp.server.mcpserver import Context
from mcp_types import (
    CallToolResult,
    ElicitationCapability,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
)
from pydantic import BaseModel, Field, ValidationError

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.engine.agent.human import ASKED_EVENT
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


def _elicitation(ctx: Context[Any, Any] | None) -> tuple[ElicitationCapability | None, bool]:
    """The client's elicitation capability, and whether a request can be sent to it in the middle of this call."""
    if ctx is None:
        return None, False
    try:
        caps = ctx.client_capabilities
        can_send = ctx.session.can_send_request
    except (ValueError, AttributeError):
        return None, False
    return (caps.elicitation if caps is not None else None), bool(can_send)


def elicitation_mode(ctx: Context[Any, Any] | None) -> ElicitMode | None:
    """How this call can ask its user a question, if at all (form mode, or URL mode for a job with a live view)."""
    elicitation, can_send = _elicitation(ctx)
    if elicitation is None:
        return None
    if can_send:
        return "request"
    if elicitation.form is None and elicitation.url is not None:
        return None  # URL mode only, and no request can be sent now
    if ctx is not None and (ctx.protocol_version or "") >= "2026-07-28":
        return "input_required"
    return None


def _modes(ctx: Context[Any, Any] | None) -> tuple[bool, bool]:
    """(form mode, URL mode): a client declaring neither (the 2025-06 shape, `elicitation: {}`) has form mode."""
    elicitation, _ = _elicitation(ctx)
    if elicitation is None:
        return False, False
    if elicitation.form is None and elicitation.url is None:
        return True, False
    return elicitation.form is not None, elicitation.url is not None


async def follow_job(
    app: Browsa,
    ctx: Context[Any, Any] | None,
    caller: Caller,
    job_id: str,
    *,
    until: float,
    events_after: int | None = None,
    events_limit: int = 20,
    asked: str | None = None,
) -> Job:
    """Long-poll the job until it ends or `until` (unix time), reporting progress; answer questions by elicitation.

    `asked`: a question the user is answering already (in the live view), waited for rather than asked again.
    """
    mode = elicitation_mode(ctx)
    report = progress_reporter(ctx)
    job = await app.get_job(caller, job_id)
    job_id = job.id
    sampler = round_trip_sampler(app, ctx, job_id)
    opened: str | None = None  # a URL-mode elicitation the user accepted: completed when the question is answered
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
            if opened is not None and (job.status != "input_required" or job.question != asked):
                await _completed(ctx, opened)
                opened = None
            if job.status != "input_required" or left <= 0:
                return job
            if asked is not None and job.question == asked:
                await app.bus.wait_job(job.id, 0.5)  # the answer is on its way to the task
                continue
            if mode != "request":
                return job
            asked_by = await _elicit(app, ctx, caller, job)
            if asked_by is None:
                return job
            asked = job.question
            opened = asked_by if asked_by != "form" else None


async def _elicit(app: Browsa, ctx: Context[Any, Any] | None, caller: Caller, job: Job) -> str | None:
    """Ask through `elicitation/create`: in URL mode, the job's live view, where the person acts and answers
    ("solve the CAPTCHA here"), when the question is about the page and the client opens URLs; else the form. "form" when a form answer was delivered, the elicitation id when
    the person accepted to open the live view, None when nobody answered."""
    assert ctx is not None
    form, url = _modes(ctx)
    question = job.question or "The task needs your input."
    try:
        with anyio.move_on_after(ELICIT_SECONDS):
            if url and job.live_url and await _needs_browser(app, job.id):
                elicitation_id = f"live-{uuid.uuid4()}"
                opened = await ctx.elicit_url(question, job.live_url, elicitation_id)
                if opened.action == "accept":
                    return elicitation_id
            if form:
                outcome = await ctx.elicit(question, HumanAnswerForm)
                if isinstance(outcome, AcceptedElicitation):
                    await app.respond_to_job(caller, job.id, outcome.data.answer, secret=outcome.data.secret)
                    return "form"
    except BrowsaError as exc:
        log.info("an elicited answer for job %s was not delivered: %s", job.id, exc.message)
    except Exception as exc:
        # A client that cannot take the request after all: the job waits in input_required instead.
        log.info("elicitation for job %s failed: %s", job.id, exc)
    return None


async def _needs_browser(app: Browsa, job_id: str) -> bool:
    """Whether the pending question asks the person to act on the page (a CAPTCHA): that one is sent as the live
    view's address; a plain question is better answered in a form (its text carries the address too)."""
    asked = await app.engine.jobs.last_event(job_id, ASKED_EVENT)
    return bool(asked is not None and asked.data.get("in_browser"))


async def _completed(ctx: Context[Any, Any] | None, elicitation_id: str) -> None:
    """Tell the client the live view it opened has done its part (the question was answered)."""
    try:
        if ctx is not None:
            await ctx.session.send_elicit_complete(elicitation_id, related_request_id=ctx.request_id)
    except Exception as exc:  # informational: the job goes on either way
        log.info("elicitation completion not sent: %s", exc)


def question_result(job: Job, until: float, *, live: bool = False) -> InputRequiredResult:
    """The 2026-07-28 way to ask: the client asks its user and calls again with the answer and this state. `live`:
    the user is sent to the job's live view (URL mode), where they act on the page and answer."""
    state = QuestionState(job.id, job.question or "", until)
    message = job.question or "The task needs your input."
    params: ElicitRequestFormParams | ElicitRequestURLParams
    if live and job.live_url:
        params = ElicitRequestURLParams(message=message, url=job.live_url)
    else:
        params = ElicitRequestFormParams(message=message, requested_schema=render_elicitation_schema(HumanAnswerForm))
    return InputRequiredResult(input_requests={_INPUT_KEY: ElicitRequest(params=params)}, request_state=state.dump())


async def _deliver(app: Browsa, ctx: Context[Any, Any], caller: Caller, state: QuestionState) -> bool:
    """Apply the answer a 2026-07-28 client sent back; False when its user declined or sent nothing usable."""
    reply = (ctx.input_responses or {}).get(_INPUT_KEY)
    if not isinstance(reply, ElicitResult) or reply.action != "accept":
        return False
    if not reply.content:
        return True  # URL mode: the user went to the live view and answers there
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
        live = _modes(ctx)[1] and bool(job.live_url) and await _needs_browser(app, job.id)
        return question_result(job, until, live=live)
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
    reply = (ctx.input_responses or {}).get(_INPUT_KEY)
    in_live_view = isinstance(reply, ElicitResult) and not reply.content
    job = await follow_job(
        app,
        ctx,
        caller,
        state.job_id,
        until=state.until,
        events_after=events_after,
        events_limit=events_limit,
        asked=state.question if in_live_view else None,
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
