"""Provider-neutral chat types, the `ChatModel` protocol every vendor adapter satisfies, and `LLMError`.

The agent loop speaks only these types; the vendor modules translate them to and from the wire.
"""

from __future__ import annotations

import functools
import importlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from typing_extensions import Self

if TYPE_CHECKING:
    from mcp_browsa.llm.pinning import AddressCheck

__all__ = [
    "ChatModel",
    "ClosableChatModel",
    "Completion",
    "LLMError",
    "LLMErrorCode",
    "Message",
    "Role",
    "ToolCall",
    "ToolChoice",
    "ToolSpec",
    "Usage",
    "VendorModel",
    "vendor_http_client",
]

_Client = TypeVar("_Client")

Role = Literal["user", "assistant", "tool"]
ToolChoice = Literal["auto", "required"]
LLMErrorCode = Literal["INVALID_API_KEY", "RATE_LIMIT", "LLM_ERROR", "FORBIDDEN"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call; `parameters` is the JSON Schema of its arguments (an object schema)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool invocation the model asked for; `id` ties the later tool result back to it."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One conversation turn. A `tool` message is the result of the call named by `tool_call_id`."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str = "", tool_calls: Sequence[ToolCall] = ()) -> Message:
        return cls(role="assistant", content=content, tool_calls=list(tool_calls))

    @classmethod
    def tool_result(cls, tool_call_id: str, content: str) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id)


@dataclass(frozen=True)
class Usage:
    """Tokens billed for one call; adding two gives the running total for a job."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class Completion:
    """What one model call produced: text and/or tool calls, with its usage and price."""

    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    cost_usd: float
    model: str  # as the vendor reported it (often a dated id), else the requested one
    stop_reason: str | None  # the vendor's own word: "tool_use", "end_turn", "tool_calls", "stop", "length", …

    def as_message(self) -> Message:
        """The assistant turn to append to the conversation before sending the tool results back."""
        return Message.assistant(self.text, self.tool_calls)


@runtime_checkable
class ChatModel(Protocol):
    """A chat model with native tool calling. Implementations never log or expose the API key."""

    model: str

    async def ainvoke(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        system: str,
        tool_choice: ToolChoice = "required",
        max_tokens: int = 1024,
    ) -> Completion:
        """One model call. Raises `LLMError` for every failure the vendor or the network produces."""
        ...


@runtime_checkable
class ClosableChatModel(ChatModel, Protocol):
    """A `ChatModel` holding a connection pool; whoever builds one closes it (`make_chat_model` returns these)."""

    async def aclose(self) -> None: ...


class VendorModel:
    """What every vendor model shares: a repr without the key, and closing its SDK client (also as `async with`)."""

    model: str
    _client: Any  # the vendor SDK's async client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def vendor_http_client(
    client_class: Callable[..., _Client], *, timeout: float, check: AddressCheck | None = None
) -> _Client:
    """The vendor SDK's own HTTP client class (its defaults: limits, keep-alive, proxies from the environment), built
    on the one TLS context this process shares between all vendor clients.

    Each agent task builds its own SDK client, and left alone each would load the CA store into a new TLS context:
    thousands of native allocations per task, made in a worker thread, that glibc never gives back in full. A soak
    of agent tasks grew the server by about 10 MiB per 100 tasks that way. A context is safe to share.

    With `check`, every connection the client opens goes to an address `check` accepted (see `pinning.py`).
    """
    tls = _shared_tls(_http_library(client_class) if isinstance(client_class, type) else "")
    if check is not None:
        from mcp_browsa.llm.pinning import pinned_transport

        return client_class(transport=pinned_transport(check, tls), trust_env=False, timeout=timeout)
    if tls is None:
        return client_class(timeout=timeout)
    return client_class(verify=tls, timeout=timeout)


def _http_library(client_class: type) -> str:
    """The package (`httpx`, or its successor) whose AsyncClient the SDK's client class derives from."""
    for cls in client_class.__mro__:
        if cls.__name__ == "AsyncClient":
            return cls.__module__.partition(".")[0]
    return ""


@functools.cache
def _shared_tls(library: str) -> ssl.SSLContext | None:
    """A TLS context made exactly as the SDK's HTTP library makes its default one (same trust store, same
    environment variables), or None when that library has no public way to make one."""
    try:
        make = getattr(importlib.import_module(library), "create_ssl_context", None) if library else None
    except ImportError:
        return None
    context = make() if callable(make) else None
    return context if isinstance(context, ssl.SSLContext) else None


class LLMError(Exception):
    """A model call failed; `code` is what the job's `error_code` becomes.

    LLMError
      ├── code="INVALID_API_KEY"  401/403, or no key at all: retrying cannot help
      ├── code="RATE_LIMIT"       429 still there after the bounded retries
      ├── code="FORBIDDEN"        the model server's address is one this caller may not reach (endpoint.py)
      └── code="LLM_ERROR"        any other status, connection failure, timeout, or unusable reply

    `message` is the vendor's own explanation with any API key removed; `status` is the HTTP
    status when there was a response. `retryable` says whether the failure was transient.
    """

    def __init__(
        self,
        code: LLMErrorCode,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code: LLMErrorCode = code
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the vendor asked us to wait, when it said

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"LLMError(code={self.code!r}, status={self.status!r}, message={self.message!r})"
