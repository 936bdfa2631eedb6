"""A `ChatModel` answered by the MCP client's own model: `sampling/createMessage` with tools (MCP 2025-11-25).

The agent loop, prompt, tools and stops are the vendor models' own; only the wire differs. Our neutral turns
become `SamplingMessage`s (tool calls as `tool_use`, their results as `tool_result`), the tool specs become MCP
`Tool`s, and the client's answer becomes a `Completion`. How the request reaches the client (a back-channel
request, or a round trip through a tool call in flight) is the `Sampler`'s business, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResultWithTools,
    SamplingMessage,
    TextContent,
    Tool,
    ToolResultContent,
    ToolUseContent,
)
from mcp_types import (
    ToolChoice as McpToolChoice,
)

from mcp_browsa.llm.base import Completion, LLMError, Message, ToolCall, ToolChoice, ToolSpec, Usage

__all__ = ["CLIENT_LLM", "Sampler", "SamplingChatModel", "completion_of", "sampling_request"]

CLIENT_LLM = "client"  # the `llm=` value that asks for the client's own model


class Sampler(Protocol):
    """Delivers one sampling request to the client serving a job, and its answer back."""

    async def create_message(self, params: CreateMessageRequestParams) -> CreateMessageResultWithTools:
        """The client's answer. Raises LLMError (LLM_ERROR) when the client is gone, refuses, or never answers."""
        ...


def _turns(messages: Sequence[Message]) -> list[SamplingMessage]:
    """Neutral turns as sampling messages; consecutive tool results share one user message, as MCP requires."""
    out: list[SamplingMessage] = []
    results: list[ToolResultContent] = []
    for message in messages:
        if message.role == "tool":
            block = TextContent(type="text", text=message.content)
            results.append(ToolResultContent(tool_use_id=message.tool_call_id or "", content=[block]))
            continue
        if results:
            out.append(SamplingMessage(role="user", content=list(results)))
            results = []
        if message.role == "user":
            out.append(SamplingMessage(role="user", content=TextContent(type="text", text=message.content)))
            continue
        blocks: list[Any] = [TextContent(type="text", text=message.content)] if message.content else []
        blocks += [ToolUseContent(id=c.id, name=c.name, input=c.arguments) for c in message.tool_calls]
        out.append(SamplingMessage(role="assistant", content=blocks or TextContent(type="text", text="")))
    if results:
        out.append(SamplingMessage(role="user", content=list(results)))
    return out


def sampling_request(
    messages: Sequence[Message], tools: Sequence[ToolSpec], *, system: str, tool_choice: ToolChoice, max_tokens: int
) -> CreateMessageRequestParams:
    """The `sampling/createMessage` params for one model call of the loop."""
    return CreateMessageRequestParams(
        messages=_turns(messages),
        system_prompt=system,
        max_tokens=max_tokens,
        tools=[Tool(name=t.name, description=t.description, input_schema=t.parameters) for t in tools],
        tool_choice=McpToolChoice(mode=tool_choice),
    )


def _usage(result: CreateMessageResultWithTools) -> Usage:
    """Token counts as the client reported them in `_meta.usage`, if it did (MCP has no usage field)."""
    usage = (result.meta or {}).get("usage")
    if not isinstance(usage, dict):
        return Usage()

    def count(*names: str) -> int:
        value = next((usage[n] for n in names if isinstance(usage.get(n), int)), 0)
        return max(0, int(value))

    return Usage(count("input_tokens", "inputTokens"), count("output_tokens", "outputTokens"))


def completion_of(result: CreateMessageResultWithTools) -> Completion:
    """The client's answer as the loop's `Completion`; LLMError when it is not an assistant turn."""
    if result.role != "assistant":
        raise LLMError("LLM_ERROR", f"the client's model answered as {result.role!r}, not as the assistant")
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in result.content_as_list:
        if isinstance(block, TextContent):
            text.append(block.text)
        elif isinstance(block, ToolUseContent):
            calls.append(ToolCall(block.id, block.name, dict(block.input)))
    return Completion(
        text="".join(text),
        tool_calls=calls,
        usage=_usage(result),
        cost_usd=0.0,  # the client's model, the client's bill
        model=result.model or CLIENT_LLM,
        stop_reason=result.stop_reason,
    )


class SamplingChatModel:
    """The client's model behind the `ChatModel` protocol; closing it closes nothing (the client owns it)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.model = CLIENT_LLM

    def __repr__(self) -> str:
        return f"SamplingChatModel(sampler={type(self.sampler).__name__})"

    async def ainvoke(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        system: str,
        tool_choice: ToolChoice = "required",
        max_tokens: int = 1024,
    ) -> Completion:
        params = sampling_request(messages, tools, system=system, tool_choice=tool_choice, max_tokens=max_tokens)
        return completion_of(await self.sampler.create_message(params))

    async def aclose(self) -> None:
        return None
