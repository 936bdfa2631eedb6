"""act(instruction=…) and observe(instruction=…) on a session: the host's words resolved by a model.

The model is the server's (a configured key) or the calling client's own through MCP sampling; one call
resolves the instruction on the current observation (engine/instruction.py), then the session performs the
chosen action as if the host had named it, and the result says which action that was.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from mcp_browsa.app import Browsa
from mcp_browsa.engine.instruction import InstructionUnresolved, matching_elements, only_elements, resolve_action
from mcp_browsa.errors import BadRequest, UpstreamUnavailable
from mcp_browsa.llm import make_chat_model, parse_llm_spec
from mcp_browsa.llm.base import ClosableChatModel, LLMError
from mcp_browsa.llm.sampling import SamplingChatModel
from mcp_browsa.sessions import StepResult
from mcp_browsa.tools.sampling import ConnectionSampler, sampling_mode

__all__ = ["instructed_act", "instructed_observe"]

NO_MODEL = (
    "{tool}(instruction=…) needs a model to resolve it: configure an API key on the server, or use a client that"
    " lends its own model (MCP sampling with tools); otherwise give `action` and its arguments, using the [N]"
    " indices of the observation"
)


async def _model(app: Browsa, ctx: Context[Any, Any] | None, tool: str) -> ClosableChatModel:
    """The server's model when it has a key, else the client's through its back-channel; BadRequest without."""
    if app.tasks.has_key(None):
        spec, key, _source = app.tasks.llm(None, None)
        return await anyio.to_thread.run_sync(lambda: make_chat_model(parse_llm_spec(spec), key))
    if ctx is not None and sampling_mode(ctx) == "request":
        return SamplingChatModel(ConnectionSampler(ctx.session))
    raise BadRequest(NO_MODEL.format(tool=tool))


async def _ask(app: Browsa, ctx: Context[Any, Any] | None, tool: str, run: Any) -> Any:
    model = await _model(app, ctx, tool)
    try:
        return await run(model)
    except LLMError as exc:
        raise UpstreamUnavailable(f"{tool}(instruction=…): the model call failed: {exc.message}") from exc
    except InstructionUnresolved as exc:
        raise BadRequest(f"{tool}(instruction=…): {exc}; give `action` instead") from exc
    finally:
        with anyio.CancelScope(shield=True):
            await model.aclose()


async def instructed_act(
    app: Browsa, ctx: Context[Any, Any] | None, workspace_id: str, session_id: str, instruction: str
) -> StepResult:
    """Resolve the instruction to one action on the current page, perform it, and say which it was."""
    seen = await app.sessions.observe(workspace_id, session_id)
    action, args = await _ask(app, ctx, "act", lambda m: resolve_action(m, seen.observation, instruction))
    if action == "navigate":
        result = await app.sessions.navigate(workspace_id, session_id, str(args.get("url", "")))
    else:
        result = await app.sessions.step(workspace_id, session_id, action, args)
    chose = f"{action} {json.dumps(args, ensure_ascii=False)}" if args else action
    return result.model_copy(update={"outcome": f"resolved to {chose}: {result.outcome}"})


async def instructed_observe(
    app: Browsa, ctx: Context[Any, Any] | None, workspace_id: str, session_id: str, instruction: str
) -> StepResult:
    """The current observation cut down to the elements that fit the instruction."""
    seen = await app.sessions.observe(workspace_id, session_id)
    picked = await _ask(app, ctx, "observe", lambda m: matching_elements(m, seen.observation, instruction))
    outcome = f"{len(picked)} element(s) match {instruction[:100]!r}"
    return seen.model_copy(update={"observation": only_elements(seen.observation, picked), "outcome": outcome})
