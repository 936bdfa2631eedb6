"""act(instruction=…) and observe(instruction=…) on a session: the host's words resolved by a model.

The model is the server's (a configured key) or the calling client's own through MCP sampling; one call
resolves the instruction on the current observation (engine/agent/instruction.py), then the session performs the
chosen action as if the host had named it, and the result says which action that was. Each model call is
charged to the session's job as an agent step and recorded in its timeline. A 2026-07-28 client, which has no
back-channel, gets the model call as the InputRequiredResult of its act/observe call and calls again with the
answer. `with_model` serves `extract(session_id=…)` with a model the same way.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import anyio
from mcp.server.mcpserver import Context
from mcp_types import CreateMessageRequest, CreateMessageResult, CreateMessageResultWithTools, InputRequiredResult

from mcp_browsa.app import Browsa
from mcp_browsa.engine.agent.instruction import InstructionUnresolved, matching_elements, only_elements, resolve_action
from mcp_browsa.engine.extraction import ExtractionFailed
from mcp_browsa.engine.model_charges import ChargedModel
from mcp_browsa.errors import BadRequest, UpstreamUnavailable
from mcp_browsa.llm import make_chat_model, parse_llm_spec
from mcp_browsa.llm.base import ChatModel, ClosableChatModel, LLMError
from mcp_browsa.llm.sampling import CLIENT_LLM, SamplingChatModel
from mcp_browsa.server import caller_for
from mcp_browsa.sessions import StepResult
from mcp_browsa.tools.round_trip import RoundTripSampler, echoed_state, wait_job_or_sample
from mcp_browsa.tools.sampling import ConnectionSampler, sampling_mode

__all__ = ["has_model", "instructed_act", "instructed_observe", "with_model"]

T = TypeVar("T")
STATE_TAG = "mcp-browsa/instruction-sample/v1"
_INPUT_KEY = "sample"
ROUND_TRIP_IDLE = 120.0  # a resolution waits this long for its client to come back with the model's answer
FOLLOW_SECONDS = 45.0  # one call waits this long before handing back a bare retry (hosts cut calls near 60 s)

NO_MODEL = (
    "{tool} needs a model: configure an API key on the server, or use a client that lends its own model (MCP"
    " sampling with tools)"
)
NO_MODEL_ACT = NO_MODEL + "; otherwise give `action` and its arguments, using the [N] indices of the observation"


def _wants_client(llm: str | None) -> bool:
    return llm is not None and llm.strip() == CLIENT_LLM


def has_model(app: Browsa, ctx: Context[Any, Any] | None, llm: str | None = None, api_key: str | None = None) -> bool:
    """Whether the call names a model or key, the server has a key, or the client can lend its model."""
    return bool(llm or (api_key or "").strip()) or app.tasks.has_key(None) or sampling_mode(ctx) is not None


async def _model(
    app: Browsa, ctx: Context[Any, Any] | None, llm: str | None, api_key: str | None
) -> ClosableChatModel | None:
    """The named or the server's model when there is a key for it, else the client's through its back-channel;
    None for neither."""
    if not _wants_client(llm) and (llm is not None or (api_key or "").strip() or app.tasks.has_key(None)):
        local = caller_for(ctx).local
        named, key, _source = await app.tasks.llm(llm, api_key, local=local)
        spec = parse_llm_spec(named)
        guard = app.tasks.guard_for(spec, local=local)
        check = guard.check if guard is not None else None
        return await anyio.to_thread.run_sync(lambda: make_chat_model(spec, key, check=check))
    if ctx is not None and sampling_mode(ctx) == "request":
        return SamplingChatModel(ConnectionSampler(ctx.session))
    return None


def _refusal(tool: str, exc: BaseException) -> BaseException:
    if isinstance(exc, LLMError):
        return UpstreamUnavailable(f"{tool}: the model call failed: {exc.message}")
    if isinstance(exc, ExtractionFailed):
        return UpstreamUnavailable(f"{tool}: {exc.message}")
    if isinstance(exc, InstructionUnresolved):
        return BadRequest(f"{tool}: {exc}; give `action` instead")
    return exc


@dataclass
class _Pending:
    """A resolution running on a 2026-07-28 client's model, between that client's calls."""

    sampler: RoundTripSampler
    done: anyio.Event = field(default_factory=anyio.Event)
    value: Any = None
    error: BaseException | None = None


_PENDING: dict[str, _Pending] = {}


async def with_model(
    app: Browsa,
    ctx: Context[Any, Any] | None,
    tool: str,
    work: Callable[[ChatModel], Awaitable[T]],
    *,
    llm: str | None = None,
    api_key: str | None = None,
    no_model: str = NO_MODEL,
) -> T | InputRequiredResult:
    """`work` run with the call's model. A 2026-07-28 client's model answers by round trips: `work` runs in the
    background and each of its model calls goes back to the client as an InputRequiredResult of this call."""
    state = echoed_state(ctx, STATE_TAG)
    if state is not None and ctx is not None:
        pending = _PENDING.get(str(state.get("call")))
        if pending is None:
            raise BadRequest(f"this {tool} is no longer waiting for a model answer; call it again")
        reply = (ctx.input_responses or {}).get(_INPUT_KEY)
        if isinstance(reply, CreateMessageResult | CreateMessageResultWithTools):
            pending.sampler.answer(str(state.get("token")), reply)
        return cast(T | InputRequiredResult, await _follow(str(state.get("call")), pending, tool))
    model = await _model(app, ctx, llm, api_key)
    if model is not None:
        try:
            return await work(model)
        except (LLMError, InstructionUnresolved, ExtractionFailed) as exc:
            raise _refusal(tool, exc) from exc
        finally:
            with anyio.CancelScope(shield=True):
                await model.aclose()
    if sampling_mode(ctx) != "round_trip" or app.tg is None:
        raise BadRequest(no_model.format(tool=tool))
    call_id, pending = secrets.token_hex(8), _Pending(RoundTripSampler(idle_seconds=ROUND_TRIP_IDLE))

    async def run() -> None:
        try:
            pending.value = await work(SamplingChatModel(pending.sampler))
        except Exception as exc:
            pending.error = exc
        finally:
            pending.done.set()

    _PENDING[call_id] = pending
    app.tg.start_soon(run)
    return cast(T | InputRequiredResult, await _follow(call_id, pending, tool))


async def _follow(call_id: str, pending: _Pending, tool: str) -> Any:
    """The work's value once done, or its next model call for the client (or a bare retry after a while)."""

    async def finished() -> bool:
        await pending.done.wait()
        return True

    _, asking = await wait_job_or_sample(pending.sampler, finished, FOLLOW_SECONDS)
    if pending.done.is_set():
        _PENDING.pop(call_id, None)
        if pending.error is not None:
            raise _refusal(tool, pending.error) from pending.error
        return pending.value
    asked = pending.sampler.pending if asking else None
    state = json.dumps({"tag": STATE_TAG, "call": call_id, "token": asked.token if asked else ""})
    requests = {_INPUT_KEY: CreateMessageRequest(params=asked.params)} if asked else None
    return InputRequiredResult(input_requests=requests, request_state=state)


async def instructed_act(
    app: Browsa, ctx: Context[Any, Any] | None, workspace_id: str, session_id: str, instruction: str
) -> StepResult | InputRequiredResult:
    """Resolve the instruction to one action on the current page, perform it, and say which it was."""

    async def choose(model: ChatModel) -> tuple[str, dict[str, Any]]:
        seen = await app.sessions.observe(workspace_id, session_id)
        charged = await _charged(app, model, workspace_id, session_id, "act", instruction)
        return await resolve_action(charged, seen.observation, instruction)

    chosen = await with_model(app, ctx, "act(instruction=…)", choose, no_model=NO_MODEL_ACT)
    if isinstance(chosen, InputRequiredResult):
        return chosen
    action, args = chosen
    if action == "navigate":
        result = await app.sessions.navigate(workspace_id, session_id, str(args.get("url", "")))
    else:
        result = await app.sessions.step(workspace_id, session_id, action, args)
    said = f"{action} {json.dumps(args, ensure_ascii=False)}" if args else action
    return result.model_copy(update={"outcome": f"resolved to {said}: {result.outcome}"})


async def instructed_observe(
    app: Browsa, ctx: Context[Any, Any] | None, workspace_id: str, session_id: str, instruction: str
) -> StepResult | InputRequiredResult:
    """The current observation cut down to the elements that fit the instruction."""

    async def pick(model: ChatModel) -> StepResult:
        seen = await app.sessions.observe(workspace_id, session_id)
        charged = await _charged(app, model, workspace_id, session_id, "observe", instruction)
        picked = await matching_elements(charged, seen.observation, instruction)
        outcome = f"{len(picked)} element(s) match {instruction[:100]!r}"
        return seen.model_copy(update={"observation": only_elements(seen.observation, picked), "outcome": outcome})

    return await with_model(app, ctx, "observe(instruction=…)", pick)


async def _charged(
    app: Browsa, model: ChatModel, workspace_id: str, session_id: str, tool: str, instruction: str
) -> ChatModel:
    """`model` with each call charged to the session's job and recorded in its timeline as `<tool>.model`."""
    live = await app.sessions.get(workspace_id, session_id)
    return ChargedModel(model, live.ctx, app.prices, f"{tool}.model", {"instruction": instruction[:200]})
