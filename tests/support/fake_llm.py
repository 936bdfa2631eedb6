"""Fake Anthropic Messages and OpenAI Chat Completions APIs on a real local HTTP server, for tests.

Requests are validated like the vendors do and handed to a policy as neutral `Message`s; replies are vendor-shaped.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypedDict

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_browsa.llm.base import Message, ToolCall
from tests.support.waits import wait_until_sync

__all__ = [
    "FakeLLM",
    "Policy",
    "PolicyReply",
    "PolicyRequest",
    "RecordedRequest",
    "ReplyCall",
    "find_index",
    "scripted",
]

Vendor = Literal["anthropic", "openai"]

_ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_OPENAI_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INDEXED_LINE = re.compile(r"^\s*\[(\d+)\]")


# --- what a policy sees and says ------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRequest:
    """One model call, provider-neutral: what the client sent, parsed back from the vendor format."""

    provider: Vendor | Literal["mcp"]  # "mcp": a sampling request from the server to an MCP client
    model: str
    system: str
    messages: list[Message]
    tools: list[str]  # tool names offered
    tool_choice: str | None  # "auto", "required", "none", a forced tool's name, or None when not sent
    max_tokens: int | None
    body: dict[str, Any]  # the raw JSON body, for assertions on the wire format

    @property
    def last_user_text(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    @property
    def last_tool_result(self) -> str | None:
        return next((m.content for m in reversed(self.messages) if m.role == "tool"), None)

    @property
    def observation(self) -> str:
        """The newest text the client sent, whether as a tool result or as a user turn."""
        return next((m.content for m in reversed(self.messages) if m.role != "assistant"), "")

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation already holds (0 on the first call)."""
        return sum(1 for m in self.messages if m.role == "assistant")


@dataclass(frozen=True)
class ReplyCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class PolicyReply:
    """What the fake model answers: text, tool calls, or both. Token counts are estimated unless given."""

    text: str = ""
    calls: list[ReplyCall] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None

    @classmethod
    def tool(cls, name: str, arguments: dict[str, Any] | None = None, /, **kwargs: Any) -> PolicyReply:
        """`PolicyReply.tool("click", index=3)` or `PolicyReply.tool("type", {"index": 2, "text": "x"})`."""
        return cls(calls=[ReplyCall(name, {**(arguments or {}), **kwargs})])

    @classmethod
    def say(cls, text: str) -> PolicyReply:
        return cls(text=text)


Policy = Callable[[PolicyRequest], PolicyReply]


def scripted(*replies: PolicyReply) -> Policy:
    """A policy that gives `replies` in order, one per call, and fails the test if asked for more."""
    queue = list(replies)
    lock = threading.Lock()

    def policy(_request: PolicyRequest) -> PolicyReply:
        with lock:
            if not queue:
                raise AssertionError(f"scripted policy ran out after {len(replies)} replies")
            return queue.pop(0)

    return policy


def _default_policy(_request: PolicyRequest) -> PolicyReply:
    return PolicyReply.say("ok")


def find_index(observation_text: str, pattern: str | re.Pattern[str]) -> int | None:
    """The N of the first `[N] …` observation line containing `pattern` (a substring, or a regex if compiled).

    The whole line is searched, tag and attributes included, so `"href=/p/123"` works as well as
    `"Wireless Earbuds"`.
    """
    for line in observation_text.splitlines():
        match = _INDEXED_LINE.match(line)
        if match is None:
            continue
        found = pattern.search(line) is not None if isinstance(pattern, re.Pattern) else pattern in line
        if found:
            return int(match.group(1))
    return None


class RecordedRequest(TypedDict):
    provider: Vendor | None
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None when the body was not JSON


# --- the server -----------------------------------------------------------------------------


@dataclass
class _Garbage:
    body: str
    content_type: str
    status: int
    headers: dict[str, str] | None


@dataclass
class _Failure:
    status: int
    message: str | None
    code: str | None
    retry_after: float | None


class FakeLLM:
    """A local server speaking both vendors' APIs; use as `with FakeLLM(policy) as fake:`.

    Point the SDKs at it with `ANTHROPIC_BASE_URL=fake.anthropic_base_url` (the SDK appends
    `/v1/messages` itself) and `OPENAI_BASE_URL=fake.openai_base_url` (which ends in `/v1`), or
    pass `fake.env()` to a subprocess. Policies run in worker threads, so a slow one does not
    stall other requests.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        valid_keys: Iterable[str] | None = None,
        raise_policy_errors: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.policy: Policy = policy if policy is not None else _default_policy
        self.valid_keys: set[str] | None = set(valid_keys) if valid_keys is not None else None
        self.requests: list[RecordedRequest] = []
        self.policy_requests: list[PolicyRequest] = []
        self.policy_errors: list[BaseException] = []
        self.raise_policy_errors = raise_policy_errors
        self.host = host
        self.port = 0
        self._failures: list[_Failure] = []
        self._garbage: list[_Garbage] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- addresses

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def env(self) -> dict[str, str]:
        """Environment variables that send both SDKs here."""
        return {"ANTHROPIC_BASE_URL": self.anthropic_base_url, "OPENAI_BASE_URL": self.openai_base_url}

    # -- fault injection

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        message: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next `times` model calls (either vendor) with a vendor-shaped `status` error.

        `code` overrides OpenAI's `error.code` and Anthropic's `error.type`; `retry_after` adds the header.
        """
        with self._lock:
            self._failures.extend(_Failure(status, message, code, retry_after) for _ in range(times))

    def answer_garbage(
        self,
        body: str,
        *,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` model calls (either vendor) with `body` as is: what a login page, a proxy's error
        page or some other API sends back when a base URL points at the wrong server (or a redirect, with headers)."""
        with self._lock:
            self._garbage.extend(_Garbage(body, content_type, status, headers) for _ in range(times))

    @property
    def calls(self) -> int:
        """Model calls the policy answered."""
        return len(self.policy_requests)

    # -- lifecycle

    def start(self) -> FakeLLM:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)  # listening before uvicorn starts, so an early client waits instead of failing
        self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/{path:path}", self._unknown, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        server, thread = self._server, self._thread

        def started() -> bool:
            assert thread.is_alive(), "the fake LLM server's thread died"
            return server.started

        wait_until_sync(started, "the fake LLM server started", timeout=10, interval=0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for idle keep-alive connections
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc_type is None and self.raise_policy_errors:
            self.check()

    def check(self) -> None:
        """Raise the first exception a policy raised, so a broken policy fails the test that used it."""
        if self.policy_errors:
            first = self.policy_errors[0]
            raise AssertionError(f"fake LLM policy raised: {first!r}") from first

    def reset(self, policy: Policy | None = None, *, valid_keys: Iterable[str] | None = None) -> FakeLLM:
        """Forget all state, keeping the server up: lets one server serve a whole module of tests."""
        with self._lock:
            self.policy = policy if policy is not None else _default_policy
            self.valid_keys = set(valid_keys) if valid_keys is not None else None
            self.requests.clear()
            self.policy_requests.clear()
            self.policy_errors.clear()
            self._failures.clear()
            self._garbage.clear()
        return self

    # -- handlers

    async def _record(self, request: Request, provider: Vendor | None) -> Any:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    provider=provider,
                    path=request.url.path,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                )
            )
        return body

    def _gate(self, request: Request, vendor: Vendor, body: Any) -> Response | None:
        """Auth, then injected failures, then request validation: the first that objects answers."""
        key = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if key is None and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if self.valid_keys is not None and key not in self.valid_keys:
            return _auth_error(vendor, key)
        with self._lock:
            garbage = self._garbage.pop(0) if self._garbage else None
            failure = self._failures.pop(0) if self._failures else None
        if garbage is not None:
            return Response(garbage.body, garbage.status, headers=garbage.headers, media_type=garbage.content_type)
        if failure is not None:
            return _error(vendor, failure.status, failure.message, failure.code, failure.retry_after)
        if not isinstance(body, dict):
            return _error(vendor, 400, "The request body is not valid JSON.")
        problem = _check_anthropic(request, body) if vendor == "anthropic" else _check_openai(body)
        if problem is not None:
            return _error(vendor, 400, problem)
        return None

    async def _anthropic(self, request: Request) -> Response:
        body = await self._record(request, "anthropic")
        refusal = self._gate(request, "anthropic", body)
        if refusal is not None:
            return refusal
        neutral = _parse_anthropic(body)
        reply = await self._ask(neutral)
        if isinstance(reply, Response):
            return reply
        return _anthropic_reply(neutral, reply)

    async def _openai(self, request: Request) -> Response:
        body = await self._record(request, "openai")
        refusal = self._gate(request, "openai", body)
        if refusal is not None:
            return refusal
        neutral = _parse_openai(body)
        reply = await self._ask(neutral)
        if isinstance(reply, Response):
            return reply
        return _openai_reply(neutral, reply)

    async def _unknown(self, request: Request) -> Response:
        await self._record(request, None)
        return JSONResponse({"error": {"message": f"no route {request.url.path}", "type": "not_found"}}, 404)

    async def answer(self, neutral: PolicyRequest) -> PolicyReply:
        """The policy's reply to a request that came another way than HTTP (an MCP client's sampling callback),
        counted and recorded like the vendor calls. A policy that raises fails that call and, later, the test."""
        with self._lock:
            self.policy_requests.append(neutral)
        try:
            reply = await run_in_threadpool(self.policy, neutral)
        except Exception as exc:
            with self._lock:
                self.policy_errors.append(exc)
            raise
        if not isinstance(reply, PolicyReply):
            raise TypeError(f"policy returned {type(reply).__name__}, not PolicyReply")
        return reply

    async def _ask(self, neutral: PolicyRequest) -> PolicyReply | Response:
        with self._lock:
            self.policy_requests.append(neutral)
        try:
            reply = await run_in_threadpool(self.policy, neutral)
            if not isinstance(reply, PolicyReply):
                raise TypeError(f"policy returned {type(reply).__name__}, not PolicyReply")
        except Exception as exc:
            with self._lock:
                self.policy_errors.append(exc)
            # 400, not 500: a broken policy should fail the call once, not be retried.
            return _error("openai" if neutral.provider == "openai" else "anthropic", 400, f"fake policy raised {exc!r}")
        return reply


# --- vendor error bodies --------------------------------------------------------------------

_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _error(
    vendor: Vendor, status: int, message: str | None = None, code: str | None = None, retry_after: float | None = None
) -> Response:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if vendor == "anthropic":
        default_type, default_message = _ANTHROPIC_ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", f"HTTP {status}")
        )
        request_id = "req_" + _random_id(24)
        headers["request-id"] = request_id
        payload: dict[str, Any] = {
            "type": "error",
            "error": {"type": code or default_type, "message": message or default_message},
            "request_id": request_id,
        }
        return JSONResponse(payload, status, headers=headers)
    err_type, default_code, default_message = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    headers["x-request-id"] = "req_" + _random_id(32)
    payload = {
        "error": {"message": message or default_message, "type": err_type, "param": None, "code": code or default_code}
    }
    return JSONResponse(payload, status, headers=headers)


def _auth_error(vendor: Vendor, key: str | None) -> Response:
    if vendor == "anthropic":
        message = "x-api-key header is required" if not key else "invalid x-api-key"
        return _error("anthropic", 401, message)
    if not key:
        message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
        return _error("openai", 401, message)
    # Like OpenAI: the key is echoed masked, never whole.
    masked = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "*" * len(key)
    return _error(
        "openai",
        401,
        f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys.",
    )


# --- validation, as strict as the real APIs on the points our client can get wrong -----------


def _check_anthropic(request: Request, body: dict[str, Any]) -> str | None:
    if not request.headers.get("anthropic-version"):
        return "anthropic-version: header is required"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Field required (an integer >= 1)"
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: Input should be a valid string or list of text blocks"
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for i, tool in enumerate(tools):
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str) or not _ANTHROPIC_TOOL_NAME.match(name):
                return f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
            if name in names:
                return f"tools: Tool names must be unique. Duplicate: {name}"
            names.append(name)
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            return "tool_choice may only be specified while providing tools"
        if not isinstance(choice, dict) or choice.get("type") not in {"auto", "any", "tool", "none"}:
            return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_tool_uses: set[str] = set()
    previous_role: str | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{i}: Input should be a valid dictionary"
        role = message.get("role")
        if role not in {"user", "assistant"}:
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i == 0 and role != "user":
            return 'messages: first message must use the "user" role'
        if role == previous_role:
            return f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}"'
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return (
                f"messages.{i}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        tool_uses: set[str] = set()
        results: set[str] = set()
        seen_other = False
        for j, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                if not isinstance(block.get("text"), str) or not block["text"].strip():
                    return f"messages.{i}.content.{j}.text: text content blocks must contain non-whitespace text"
                seen_other = True
            elif kind == "tool_use":
                if role != "assistant":
                    return f"messages.{i}.content.{j}: tool_use blocks may only appear in assistant messages"
                if not isinstance(block.get("input"), dict):
                    return f"messages.{i}.content.{j}.tool_use.input: Input should be a valid dictionary"
                tool_uses.add(str(block.get("id")))
            elif kind == "tool_result":
                if role != "user":
                    return f"messages.{i}.content.{j}: tool_result blocks may only appear in user messages"
                if seen_other:
                    return f"messages.{i}: tool_result blocks must come first in the message content"
                tool_use_id = str(block.get("tool_use_id"))
                if tool_use_id not in previous_tool_uses:
                    return (
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{tool_use_id}. Each `tool_result` block must have a corresponding `tool_use` block "
                        "in the previous message."
                    )
                results.add(tool_use_id)
            else:
                return f"messages.{i}.content.{j}.type: unsupported content block type {kind!r}"
        if role == "user" and previous_tool_uses - results:
            missing = ", ".join(sorted(previous_tool_uses - results))
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{missing}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
            )
        previous_tool_uses = tool_uses
        previous_role = role
    return None


def _check_openai(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            return "Invalid 'tools': empty array. Expected an array with minimum length 1."
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
                return f"Invalid value for 'tools[{i}].type': expected 'function'."
            if not isinstance(fn.get("name"), str) or not _OPENAI_TOOL_NAME.match(fn["name"]):
                return f"Invalid 'tools[{i}].function.name': string does not match pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                return f"Invalid type for 'tools[{i}].function.parameters': expected an object."
    if body.get("tool_choice") is not None and not tools:
        return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1."
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in {"system", "developer", "user", "assistant", "tool"}:
            return f"Invalid value for 'messages[{i}].role'."
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return (
                    f"Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    f"with 'tool_calls' (messages[{i}])."
                )
            pending.discard(call_id)
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: "
                + ", ".join(sorted(pending))
            )
        if role == "assistant":
            for j, call in enumerate(message.get("tool_calls") or []):
                arguments = call.get("function", {}).get("arguments") if isinstance(call, dict) else None
                if not isinstance(arguments, str):
                    return f"Invalid type for 'messages[{i}].tool_calls[{j}].function.arguments': expected a string."
                pending.add(str(call.get("id")))
            if not message.get("tool_calls") and message.get("content") is None:
                return f"Invalid value for 'messages[{i}].content': expected a string, got null."
    return None


# --- vendor format -> neutral ---------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _parse_anthropic(body: dict[str, Any]) -> PolicyRequest:
    messages: list[Message] = []
    for wire in body["messages"]:
        content = wire["content"]
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if wire["role"] == "assistant":
            text = "".join(b["text"] for b in blocks if b["type"] == "text")
            calls = [ToolCall(b["id"], b["name"], dict(b["input"])) for b in blocks if b["type"] == "tool_use"]
            messages.append(Message.assistant(text, calls))
            continue
        texts: list[str] = []
        for block in blocks:
            if block["type"] == "tool_result":
                messages.append(Message.tool_result(block["tool_use_id"], _text_of(block.get("content", ""))))
            else:
                texts.append(block["text"])
        if texts:
            messages.append(Message.user("".join(texts)))
    choice = body.get("tool_choice")
    neutral_choice: str | None = None
    if isinstance(choice, dict):
        kind = choice.get("type")
        neutral_choice = {"any": "required", "auto": "auto", "none": "none"}.get(str(kind), choice.get("name"))
    return PolicyRequest(
        provider="anthropic",
        model=body["model"],
        system=_text_of(body.get("system") or ""),
        messages=messages,
        tools=[t["name"] for t in body.get("tools") or []],
        tool_choice=neutral_choice,
        max_tokens=body.get("max_tokens"),
        body=body,
    )


def _parse_openai(body: dict[str, Any]) -> PolicyRequest:
    system: list[str] = []
    messages: list[Message] = []
    for wire in body["messages"]:
        role = wire["role"]
        if role in {"system", "developer"}:
            system.append(_text_of(wire.get("content")))
        elif role == "user":
            messages.append(Message.user(_text_of(wire.get("content"))))
        elif role == "tool":
            messages.append(Message.tool_result(wire["tool_call_id"], _text_of(wire.get("content"))))
        else:
            calls = [
                ToolCall(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
                for c in wire.get("tool_calls") or []
            ]
            messages.append(Message.assistant(_text_of(wire.get("content")), calls))
    choice = body.get("tool_choice")
    neutral_choice = choice if isinstance(choice, str) or choice is None else choice.get("function", {}).get("name")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return PolicyRequest(
        provider="openai",
        model=body["model"],
        system="\n\n".join(system),
        messages=messages,
        tools=[t["function"]["name"] for t in body.get("tools") or []],
        tool_choice=neutral_choice,
        max_tokens=max_tokens,
        body=body,
    )


# --- neutral -> vendor reply ----------------------------------------------------------------


def _estimate_tokens(chars: int) -> int:
    return max(1, chars // 4)


def _input_tokens(request: PolicyRequest, reply: PolicyReply) -> int:
    if reply.input_tokens is not None:
        return reply.input_tokens
    chars = len(request.system) + len(json.dumps(request.body.get("tools") or []))
    for m in request.messages:
        chars += len(m.content) + sum(len(c.name) + len(json.dumps(c.arguments)) for c in m.tool_calls)
    return _estimate_tokens(chars)


def _output_tokens(reply: PolicyReply) -> int:
    if reply.output_tokens is not None:
        return reply.output_tokens
    return _estimate_tokens(len(reply.text) + sum(len(c.name) + len(json.dumps(c.arguments)) for c in reply.calls))


def _anthropic_reply(request: PolicyRequest, reply: PolicyReply) -> Response:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text, "citations": None})
    for call in reply.calls:
        content.append(
            {"type": "tool_use", "id": "toolu_01" + _random_id(22), "name": call.name, "input": call.arguments}
        )
    payload = {
        "id": "msg_01" + _random_id(22),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": "tool_use" if reply.calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _input_tokens(request, reply),
            "output_tokens": _output_tokens(reply),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }
    return JSONResponse(payload, headers={"request-id": "req_" + _random_id(24)})


def _openai_reply(request: PolicyRequest, reply: PolicyReply) -> Response:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text or None,
        "refusal": None,
        "annotations": [],
    }
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": "call_" + _random_id(24),
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in reply.calls
        ]
    prompt_tokens = _input_tokens(request, reply)
    completion_tokens = _output_tokens(reply)
    payload = {
        "id": "chatcmpl-" + _random_id(29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_" + _random_id(10).lower(),
    }
    return JSONResponse(payload, headers={"x-request-id": "req_" + _random_id(32)})


_ALPHABET = string.ascii_letters + string.digits


def _random_id(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))
