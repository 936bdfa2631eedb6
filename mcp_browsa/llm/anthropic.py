"""`ChatModel` over the Anthropic Messages API: neutral turns to `tool_use` / `tool_result` blocks and back.

The only module that imports the `anthropic` SDK; every SDK failure leaves here as `LLMError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import anthropic
from anthropic._response import AsyncAPIResponse
from anthropic.types import (
    ContentBlockParam,
    MessageParam,
    TextBlock,
    ToolChoiceParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
)
from anthropic.types import Message as WireReply

from mcp_browsa.llm.base import (
    Completion,
    LLMError,
    Message,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
    VendorModel,
    vendor_http_client,
)
from mcp_browsa.llm.pricing import cost_usd
from mcp_browsa.llm.replies import UNUSABLE, by_status, quote, unreachable, unusable
from mcp_browsa.llm.retry import RetryPolicy, call_with_retries, redact

if TYPE_CHECKING:
    from mcp_browsa.llm.pinning import AddressCheck

__all__ = ["AnthropicChatModel", "to_anthropic_messages"]

_UNUSABLE: tuple[type[Exception], ...] = (*UNUSABLE, anthropic.AnthropicError)
# Anthropic rejects empty and whitespace-only text blocks.
_EMPTY = "(empty)"


class AnthropicChatModel(VendorModel):
    """An Anthropic model. `base_url=None` lets the SDK use ANTHROPIC_BASE_URL or the public API."""

    def __init__(
        self,
        model: str,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        check: AddressCheck | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self._timeout = timeout
        self._retry = retry if retry is not None else RetryPolicy()
        self._client: anthropic.AsyncAnthropic = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=vendor_http_client(anthropic.DefaultAsyncHttpxClient, timeout=timeout, check=check),
        )

    async def ainvoke(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        system: str,
        tool_choice: ToolChoice = "required",
        max_tokens: int = 1024,
    ) -> Completion:
        wire_messages = to_anthropic_messages(messages)
        wire_tools: list[ToolParam] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
        ]
        # "any" is Anthropic's word for "must call some tool"; tool_choice without tools is a 400.
        choice: ToolChoiceParam = {"type": "any"} if tool_choice == "required" else {"type": "auto"}

        async def attempt() -> AsyncAPIResponse[WireReply]:
            # The raw response, so a body that is not a message can be quoted back.
            return await self._client.messages.with_raw_response.create(
                model=self.model,
                max_tokens=max_tokens,
                system=system or anthropic.omit,
                messages=wire_messages,
                tools=wire_tools or anthropic.omit,
                tool_choice=choice if wire_tools else anthropic.omit,
            )

        raw = await call_with_retries(attempt, self._to_error, self._retry)
        try:
            reply = await raw.parse()
            if not isinstance(reply, WireReply):
                raise TypeError("not a message")
            return self._completion(reply)
        except _UNUSABLE:
            body = raw.http_response.text if raw.http_response.is_stream_consumed else ""
            raise unusable("the Anthropic Messages API", str(self._client.base_url), body, self._api_key) from None

    def _completion(self, reply: WireReply) -> Completion:
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in reply.content:
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ToolUseBlock):
                calls.append(ToolCall(id=block.id, name=block.name, arguments=dict(block.input)))
        u = reply.usage
        # Cache writes and reads are input too; we set no cache breakpoints, so they are normally 0.
        input_tokens = u.input_tokens + (u.cache_creation_input_tokens or 0) + (u.cache_read_input_tokens or 0)
        usage = Usage(input_tokens=input_tokens, output_tokens=u.output_tokens)
        model = reply.model or self.model
        return Completion(
            text="".join(texts),
            tool_calls=calls,
            usage=usage,
            cost_usd=cost_usd(model, usage),
            model=model,
            stop_reason=reply.stop_reason,
        )

    def _to_error(self, exc: Exception) -> LLMError | None:
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if isinstance(exc.body, dict):
                message = redact(exc.api_message or exc.message, self._api_key)
            else:  # not the API's error format (an HTML error page, say): its start, not all of it
                message = f"HTTP {status}: {quote(exc.response.text, self._api_key)}"
            return by_status(status, message, exc.response.headers)
        if isinstance(exc, anthropic.APITimeoutError):
            # Not retried: a timeout already spent the whole budget once.
            return LLMError("LLM_ERROR", f"the model did not answer within {self._timeout:g} s")
        if isinstance(exc, anthropic.APIConnectionError):
            return unreachable(exc, exc.message, self._client.base_url, self._api_key)
        if isinstance(exc, anthropic.AnthropicError):
            return LLMError("LLM_ERROR", redact(str(exc), self._api_key))
        return None


def to_anthropic_messages(messages: Sequence[Message]) -> list[MessageParam]:
    """Neutral turns as Messages API turns.

    Tool results travel as `tool_result` blocks in a user turn, and consecutive turns of one role
    are merged, because the API wants strict user/assistant alternation with every tool result
    in the turn right after its `tool_use`, ahead of any text.
    """
    turns: list[tuple[Literal["user", "assistant"], list[ContentBlockParam]]] = []
    for m in messages:
        role: Literal["user", "assistant"] = "assistant" if m.role == "assistant" else "user"
        blocks: list[ContentBlockParam] = []
        if m.role == "tool":
            result: ToolResultBlockParam = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": m.content if m.content.strip() else _EMPTY,
            }
            blocks.append(result)
        elif m.role == "assistant":
            if m.content.strip():
                blocks.append({"type": "text", "text": m.content})
            for call in m.tool_calls:
                blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)})
            if not blocks:
                blocks.append({"type": "text", "text": _EMPTY})
        else:
            blocks.append({"type": "text", "text": m.content if m.content.strip() else _EMPTY})
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))

    wire: list[MessageParam] = []
    for role, blocks in turns:
        if role == "user":
            blocks.sort(key=lambda b: b["type"] != "tool_result")  # stable: results first, then text
            wire.append({"role": "user", "content": blocks})
        else:
            wire.append({"role": "assistant", "content": blocks})
    return wire
