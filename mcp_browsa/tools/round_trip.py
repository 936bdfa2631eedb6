"""The client's model for a 2026-07-28 client, which has no back-channel: model calls ride its calls in flight.

The job's loop asks `RoundTripSampler.create_message` and waits. A run_task or get_job call of the client that is
waiting on the job sees the request, returns it as an InputRequiredResult (`input_requests["sample"]` is the
`sampling/createMessage` request), and the client calls again with its model's answer, which `deliver` hands to
the loop before the call goes on waiting. A job whose client stops calling for `IDLE_SECONDS` fails LLM_ERROR.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    CreateMessageResultWithTools,
    InputRequiredResult,
)

from mcp_browsa.llm.base import LLMError

__all__ = ["IDLE_SECONDS", "RoundTripSampler", "SampleState", "echoed_state", "sample_request", "wait_job_or_sample"]

IDLE_SECONDS = 300.0
STATE_TAG = "mcp-browsa/job-sample/v1"
_INPUT_KEY = "sample"


@dataclass
class _Pending:
    token: str
    params: CreateMessageRequestParams
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: CreateMessageResultWithTools | None = None


class RoundTripSampler:
    """One job's model calls, waiting for a call of its client to carry them out and bring the answer back."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self.pending: _Pending | None = None
        self._posted = anyio.Event()

    async def create_message(self, params: CreateMessageRequestParams) -> CreateMessageResultWithTools:
        pending = _Pending(secrets.token_hex(8), params)
        self.pending = pending
        self._posted.set()
        self._posted = anyio.Event()
        with anyio.move_on_after(self.idle_seconds):
            await pending.answered.wait()
        if self.pending is pending:
            self.pending = None
        if pending.answer is None:
            raise LLMError(
                "LLM_ERROR",
                f'no call from the client serving this job\'s model (llm="client") came in {self.idle_seconds:g} s;'
                " without a back-channel the job advances only while the client calls run_task or get_job with wait",
            )
        return pending.answer

    async def next_request(self, timeout: float) -> _Pending | None:
        """The request waiting for the client now, or the next one posted within `timeout` seconds."""
        if self.pending is None:
            posted = self._posted
            with anyio.move_on_after(max(0.0, timeout)):
                await posted.wait()
        return self.pending

    def answer(self, token: str, result: CreateMessageResult | CreateMessageResultWithTools) -> bool:
        pending = self.pending
        if pending is None or pending.token != token:
            return False  # a stale or repeated answer: the loop asked something else since
        pending.answer = CreateMessageResultWithTools.model_validate(result.model_dump(by_alias=True))
        self.pending = None
        pending.answered.set()
        return True


def echoed_state(ctx: Context[Any, Any] | None, tag: str) -> dict[str, Any] | None:
    """The request_state a 2026-07-28 client echoed back, when it is ours and tagged `tag`."""
    raw = ctx.request_state if ctx is not None else None
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("tag") == tag else None


@dataclass(frozen=True)
class SampleState:
    """Echoed back by the client with its model's answer: which job, which request, and when the wait ends."""

    job_id: str
    token: str
    until: float  # unix time

    def dump(self) -> str:
        return json.dumps({"tag": STATE_TAG, "job_id": self.job_id, "token": self.token, "until": self.until})

    @classmethod
    def parse(cls, ctx: Context[Any, Any] | None) -> SampleState | None:
        data = echoed_state(ctx, STATE_TAG)
        try:
            return cls(str(data["job_id"]), str(data["token"]), float(data["until"])) if data else None
        except (ValueError, KeyError, TypeError):
            return None

    def deliver(self, ctx: Context[Any, Any], sampler: RoundTripSampler | None) -> None:
        """Hand the client's answer to the job's loop (ignored when the loop no longer waits for it)."""
        reply = (ctx.input_responses or {}).get(_INPUT_KEY)
        if sampler is not None and isinstance(reply, CreateMessageResult | CreateMessageResultWithTools):
            sampler.answer(self.token, reply)


def sample_request(job_id: str, pending: _Pending, until: float) -> InputRequiredResult:
    """The job's model call as the client must make it, and the state to send back with the answer."""
    state = SampleState(job_id, pending.token, max(until, time.time() + 1))
    return InputRequiredResult(
        input_requests={_INPUT_KEY: CreateMessageRequest(params=pending.params)}, request_state=state.dump()
    )


async def wait_job_or_sample(sampler: RoundTripSampler, wait_job: Any, timeout: float) -> tuple[Any, bool]:
    """(what `wait_job()` returned, or None, and whether a model call is waiting for the client), whichever
    comes first within `timeout` seconds: the job ending or needing input, or the job's loop asking its model."""
    done: list[Any] = []
    if sampler.pending is not None:
        return None, True
    with anyio.move_on_after(max(0.0, timeout)):
        async with anyio.create_task_group() as tg:

            async def job_side() -> None:
                done.append(await wait_job())
                tg.cancel_scope.cancel()

            async def sample_side() -> None:
                if await sampler.next_request(timeout) is not None:
                    tg.cancel_scope.cancel()

            tg.start_soon(job_side)
            tg.start_soon(sample_side)
    return (done[0] if done else None), sampler.pending is not None
