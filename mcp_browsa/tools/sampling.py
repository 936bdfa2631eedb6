"""Which model a call's agent work runs on, and how a job reaches the client's own model (MCP sampling).

`llm="client"` (or no `llm` and no key on the server, when the client declares `sampling.tools`) runs the job
on the calling client's model. The job keeps the sampler of the client session that created it:

- a handshake-era client (2025-11-25) has a back-channel: `ConnectionSampler` sends `sampling/createMessage`
  on that session's connection, from the background job, whenever the loop needs the model;
- a 2026-07-28 client has none: `RoundTripSampler` holds the request until a call of that client in flight on
  the job (run_task or get_job with `wait`) returns it as an InputRequiredResult; the client calls again with
  the model's answer (tools/round_trip.py). Such a job advances only while its client is calling.

A session that goes away fails the job's model call with LLM_ERROR saying so; nothing waits forever.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    REQUEST_TIMEOUT,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResultWithTools,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from mcp_browsa.app import Browsa
from mcp_browsa.errors import BadRequest
from mcp_browsa.llm.base import LLMError
from mcp_browsa.llm.sampling import CLIENT_LLM, Sampler
from mcp_browsa.tools.round_trip import RoundTripSampler

__all__ = ["CLIENT_GONE", "ConnectionSampler", "client_sampler", "model_choice", "sampling_mode"]

log = logging.getLogger(__name__)

CLIENT_GONE = (
    'the MCP client session that started this job serves its model calls (llm="client") and it is gone'
    " (disconnected); submit the work again from a connected client"
)
# A person may have to approve each sampling request in the client; past this the job's model call fails.
ANSWER_SECONDS = 300.0


class ConnectionSampler:
    """`sampling/createMessage` on the connection of one client session, usable after the call that made it ends.

    Sent without a related request, so it rides the connection's own channel (stdio, or the HTTP session's
    GET stream) rather than the stream of a call that has long returned. When the connection closes, the
    SDK answers calls in flight and later ones with CONNECTION_CLOSED: the job hears that its client is gone.
    """

    def __init__(self, session: Any, timeout: float = ANSWER_SECONDS) -> None:
        self._session = session  # the SDK's ServerSession of the call that started the job
        self.timeout = timeout

    async def create_message(self, params: CreateMessageRequestParams) -> CreateMessageResultWithTools:
        request = CreateMessageRequest(params=params)
        try:
            return await self._session.send_request(  # type: ignore[no-any-return]
                request, CreateMessageResultWithTools, request_read_timeout_seconds=self.timeout
            )
        except MCPError as exc:
            if exc.error.code == REQUEST_TIMEOUT:
                raise LLMError("LLM_ERROR", f"the client's model did not answer within {self.timeout:g} s") from None
            if exc.error.code == CONNECTION_CLOSED:
                raise LLMError("LLM_ERROR", CLIENT_GONE) from None
            raise LLMError("LLM_ERROR", f"the client refused the model call: {exc.error.message}") from None
        except ValidationError as exc:
            raise LLMError("LLM_ERROR", f"the client's model answer is not a sampling result: {exc}") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            raise LLMError("LLM_ERROR", CLIENT_GONE) from None


def sampling_mode(ctx: Context[Any, Any] | None) -> str | None:
    """ "request" (back-channel), "round_trip" (2026-07-28, no back-channel) or None (no sampling with tools)."""
    if ctx is None:
        return None
    try:
        caps = ctx.client_capabilities
        version = ctx.session.protocol_version
    except (ValueError, AttributeError):
        return None
    if caps is None or caps.sampling is None or caps.sampling.tools is None:
        return None
    return "round_trip" if version in MODERN_PROTOCOL_VERSIONS else "request"


def client_sampler(app: Browsa, ctx: Context[Any, Any] | None) -> Sampler | None:
    """A sampler to this call's client, or None when it cannot sample with tools."""
    mode = sampling_mode(ctx)
    if mode is None or ctx is None:
        return None
    if mode == "request":
        return ConnectionSampler(ctx.session)
    return RoundTripSampler()


def model_choice(
    app: Browsa, ctx: Context[Any, Any] | None, llm: str | None, llm_api_key: str | None
) -> tuple[str | None, Sampler | None]:
    """(llm, sampler) for agent work this call starts.

    The client's model when asked for (`llm="client"`), or when nothing names a model or key and the server has
    none: then a client that can sample is better than the "no API key" error, which stays for one that cannot.
    """
    wanted = llm is not None and llm.strip() == CLIENT_LLM
    if not wanted and (llm is not None or (llm_api_key or "").strip() or app.tasks.has_key(None)):
        return llm, None
    sampler = client_sampler(app, ctx)
    if sampler is not None:
        return CLIENT_LLM, sampler
    if wanted:
        raise BadRequest(
            'llm="client" runs on your own model through MCP sampling, and this client does not declare'
            " sampling with tools (capability sampling.tools); name a vendor model and key instead"
        )
    return llm, None
