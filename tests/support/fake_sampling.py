"""An MCP client's model for tests: a `sampling_callback` answered by the fake vendor's policy.

The server's sampling request is read back into the neutral `PolicyRequest` the vendor fakes build, so the same
policies that drive agent tasks over the Anthropic and OpenAI wire formats drive them through MCP sampling.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.client.context import ClientRequestContext
from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResultWithTools,
    ErrorData,
    SamplingCapability,
    SamplingToolsCapability,
    TextContent,
    ToolResultContent,
    ToolUseContent,
)

from mcp_browsa.llm.base import Message, ToolCall
from tests.support.fake_llm import FakeLLM, PolicyRequest

__all__ = ["CLIENT_MODEL", "SAMPLING_WITH_TOOLS", "neutral_request", "sampling_callback", "sampling_client"]

CLIENT_MODEL = "host-model-1"
SAMPLING_WITH_TOOLS = SamplingCapability(tools=SamplingToolsCapability())

SamplingCallback = Callable[
    [ClientRequestContext, CreateMessageRequestParams], Awaitable[CreateMessageResultWithTools | ErrorData]
]


def _text(blocks: list[Any]) -> str:
    return "".join(b.text for b in blocks if isinstance(b, TextContent))


def neutral_request(params: CreateMessageRequestParams) -> PolicyRequest:
    """The sampling request as the vendor fakes would have parsed the same call."""
    messages: list[Message] = []
    for wire in params.messages:
        blocks = wire.content_as_list
        if wire.role == "assistant":
            calls = [ToolCall(b.id, b.name, dict(b.input)) for b in blocks if isinstance(b, ToolUseContent)]
            messages.append(Message.assistant(_text(blocks), calls))
            continue
        results = [b for b in blocks if isinstance(b, ToolResultContent)]
        messages.extend(Message.tool_result(r.tool_use_id, _text(r.content)) for r in results)
        if not results:
            messages.append(Message.user(_text(blocks)))
    return PolicyRequest(
        provider="mcp",
        model=CLIENT_MODEL,
        system=params.system_prompt or "",
        messages=messages,
        tools=[t.name for t in params.tools or []],
        tool_choice=params.tool_choice.mode if params.tool_choice else None,
        max_tokens=params.max_tokens,
        body=params.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


def sampling_callback(fake: FakeLLM, before: Callable[[int], Awaitable[None]] | None = None) -> SamplingCallback:
    """A callback whose model is `fake`'s policy; `before(n)` runs before the n-th call (from 1) is answered."""

    async def callback(
        _context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResultWithTools | ErrorData:
        if before is not None:
            await before(fake.calls + 1)
        neutral = neutral_request(params)
        reply = await fake.answer(neutral)
        content: list[Any] = [TextContent(type="text", text=reply.text)] if reply.text else []
        content += [
            ToolUseContent(id="call_" + secrets.token_hex(6), name=c.name, input=c.arguments) for c in reply.calls
        ]
        chars = len(params.system_prompt or "") + sum(len(m.content) for m in neutral.messages)
        usage = {"input_tokens": reply.input_tokens or max(1, chars // 4), "output_tokens": reply.output_tokens or 20}
        return CreateMessageResultWithTools(
            role="assistant",
            content=content or TextContent(type="text", text=""),
            model=CLIENT_MODEL,
            stop_reason="toolUse" if reply.calls else "endTurn",
            _meta={"usage": usage},
        )

    return callback


def sampling_client(fake: FakeLLM, *, legacy: bool = True) -> dict[str, Any]:
    """`Client` options for a client lending `fake`'s policy as its model: handshake-era (a back-channel) by
    default, else whatever the server offers (2026-07-28: round trips)."""
    options: dict[str, Any] = {
        "sampling_callback": sampling_callback(fake),
        "sampling_capabilities": SAMPLING_WITH_TOOLS,
    }
    return {"mode": "legacy", **options} if legacy else options
