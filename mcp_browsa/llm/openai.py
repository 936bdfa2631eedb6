"""`ChatModel` over OpenAI Chat Completions (and compatible servers): `tools`, `tool_calls`, role "tool" turns.

The only module that imports the `openai` SDK; every SDK failure leaves here as `LLMError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import openai
from openai._legacy_response import LegacyAPIResponse
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)

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

__all__ = ["OpenAIChatModel", "parse_arguments", "to_openai_messages"]

_UNUSABLE: tuple[type[Exception], ...] = (*UNUSABLE, openai.OpenAIError)


class OpenAIChatModel(VendorModel):
    """An OpenAI or OpenAI-compatible model.

    `base_url=None` lets the SDK use OPENAI_BASE_URL or the public API; an explicit `base_url`
    marks an OpenAI-compatible server (Ollama, vLLM, LM Studio).
    """

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
        # OpenAI's own reasoning models refuse `max_tokens`; many compatible servers know only `max_tokens`.
        self._max_tokens_field = "max_tokens" if base_url is not None else "max_completion_tokens"
        self._client: openai.AsyncOpenAI = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=vendor_http_client(openai.DefaultAsyncHttpxClient, timeout=timeout, check=check),
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
        wire_messages: list[ChatCompletionMessageParam] = []
        if system:
            wire_messages.append({"role": "system", "content": system})
        wire_messages.extend(to_openai_messages(messages))
        wire_tools: list[ChatCompletionFunctionToolParam] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in tools
        ]
        # The token cap goes through extra_body because its field name depends on the server (see __init__).
        limit = {self._max_tokens_field: max_tokens}

        async def attempt() -> LegacyAPIResponse[ChatCompletion]:
            # The raw response, so a body that is not a completion can be quoted back.
            return await self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=wire_messages,
                tools=wire_tools or openai.omit,
                # tool_choice without tools is a 400.
                tool_choice=tool_choice if wire_tools else openai.omit,
                extra_body=limit,
            )

        raw = await call_with_retries(attempt, self._to_error, self._retry)
        try:
            reply = raw.parse()
            if not isinstance(reply, ChatCompletion):
                raise TypeError("not a chat completion")
            return self._completion(reply)
        except _UNUSABLE:
            raise unusable(
                "an OpenAI-compatible API", str(self._client.base_url), raw.http_response.text, self._api_key
            ) from None

    def _completion(self, reply: ChatCompletion) -> Completion:
        if not reply.choices:
            raise ValueError("no choices")  # quoted back as a reply of the wrong shape
        choice = reply.choices[0]
        calls: list[ToolCall] = []
        for call in choice.message.tool_calls or []:
            if isinstance(call, ChatCompletionMessageFunctionToolCall):
                calls.append(ToolCall(call.id, call.function.name, parse_arguments(call.function.arguments)))
            elif isinstance(call, ChatCompletionMessageCustomToolCall):
                calls.append(ToolCall(call.id, call.custom.name, {"input": call.custom.input}))
        # Compatible servers sometimes omit usage; such calls count as free rather than failing.
        u = reply.usage
        usage = Usage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens) if u else Usage()
        model = reply.model or self.model
        return Completion(
            text=choice.message.content or "",
            tool_calls=calls,
            usage=usage,
            cost_usd=cost_usd(model, usage),
            model=model,
            stop_reason=choice.finish_reason,
        )

    def _to_error(self, exc: Exception) -> LLMError | None:
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = exc.body if isinstance(exc.body, dict) else {}
            vendor_message = body.get("message")
            if isinstance(vendor_message, str):
                message = redact(vendor_message, self._api_key)
            elif isinstance(exc.body, dict):
                message = redact(exc.message, self._api_key)
            else:  # not the API's error format (an HTML error page, say): its start, not all of it
                message = f"HTTP {status}: {quote(exc.response.text, self._api_key)}"
            if status == 429 and exc.code == "insufficient_quota":
                # Billing, not pace: waiting will not help, and it is not a rate limit the user can wait out.
                return LLMError("LLM_ERROR", message, status=status)
            return by_status(status, message, exc.response.headers)
        if isinstance(exc, openai.APITimeoutError):
            # Not retried: a timeout already spent the whole budget once.
            return LLMError("LLM_ERROR", f"the model did not answer within {self._timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return unreachable(exc, exc.message, self._client.base_url, self._api_key)
        if isinstance(exc, openai.OpenAIError):
            return LLMError("LLM_ERROR", redact(str(exc), self._api_key))
        return None


def to_openai_messages(messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    """Neutral turns as Chat Completions messages (the system prompt is added by the caller)."""
    wire: list[ChatCompletionMessageParam] = []
    for m in messages:
        if m.role == "tool":
            wire.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant":
            calls: list[ChatCompletionMessageFunctionToolCallParam] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in m.tool_calls
            ]
            if calls:
                wire.append({"role": "assistant", "content": m.content or None, "tool_calls": calls})
            else:
                wire.append({"role": "assistant", "content": m.content})
        else:
            wire.append({"role": "user", "content": m.content})
    return wire


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """A tool call's JSON arguments as a dict.

    Small local models sometimes send invalid JSON, a JSON-encoded string of JSON, or nothing.
    Unusable arguments become `{}` so the agent loop's schema check tells the model what is missing,
    instead of the whole job failing on one malformed step.
    """
    value: Any = raw or "{}"
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
