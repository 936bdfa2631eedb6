"""Both vendor adapters, through the real SDKs, against the local fake that speaks the vendors' HTTP APIs.

Covers the tool-call round trip, usage and cost, error mapping and bounded retries, key handling and spec parsing.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mcp_browsa.llm import (
    KEYLESS_PLACEHOLDER,
    ChatModel,
    ClosableChatModel,
    LLMError,
    LLMSpec,
    Message,
    RetryPolicy,
    ToolSpec,
    Usage,
    cost_usd,
    make_chat_model,
    parse_llm_spec,
    price_for,
    resolve_api_key,
)
from mcp_browsa.llm.anthropic import AnthropicChatModel
from mcp_browsa.llm.openai import parse_arguments
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest, ReplyCall, find_index, scripted

KEY = "sk-test-0123456789abcdefSECRET"
FAST = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)
SPECS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1-mini"}

OBSERVATION = """URL: http://shop.test/search?q=earbuds
TITLE: Search results
[1] <a href=/cart> Cart (2)
[2] <input name=q type=search value="earbuds">
[3] <button> Search
[7] <a href=/p/123> Wireless Earbuds X — $39.99
TEXT:
Showing 1–20 of 143 results"""

CLICK = ToolSpec(
    name="click",
    description="Click the element with this index.",
    parameters={"type": "object", "properties": {"index": {"type": "integer"}}, "required": ["index"]},
)
DONE = ToolSpec(
    name="done",
    description="Finish with a result.",
    parameters={"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]},
)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "BROWSA_LLM_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in fake_server.env().items():
        monkeypatch.setenv(name, value)
    fake_server.reset()
    yield fake_server
    fake_server.check()


@asynccontextmanager
async def chat_model(spec: str, api_key: str | None = KEY) -> AsyncIterator[ClosableChatModel]:
    model = make_chat_model(parse_llm_spec(spec), api_key, timeout=5.0, retry=FAST)
    try:
        yield model
    finally:
        await model.aclose()


async def expect_error(spec: str) -> LLMError:
    async with chat_model(spec) as model:
        with pytest.raises(LLMError) as caught:
            await model.ainvoke([Message.user("hi")], [CLICK], system="s")
    return caught.value


def click_by_text(request: PolicyRequest) -> PolicyReply:
    """Reads the observation like a model would: click the earbuds, then report what the click returned."""
    if request.turn == 0:
        index = find_index(request.observation, "Wireless Earbuds")
        assert index is not None
        return PolicyReply.tool("click", index=index)
    return PolicyReply.tool("done", result=f"saw: {request.last_tool_result}")


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_tool_call_round_trip(fake: FakeLLM, provider: str) -> None:
    fake.policy = click_by_text
    async with chat_model(SPECS[provider]) as model:
        messages = [Message.user("Find wireless earbuds.\n\n" + OBSERVATION)]
        first = await model.ainvoke(messages, [CLICK, DONE], system="You drive a browser.")
        assert [(c.name, c.arguments) for c in first.tool_calls] == [("click", {"index": 7})]
        assert first.stop_reason == ("tool_use" if provider == "anthropic" else "tool_calls")

        messages += [first.as_message(), Message.tool_result(first.tool_calls[0].id, "Opened /p/123")]
        second = await model.ainvoke(messages, [CLICK, DONE], system="You drive a browser.")

    assert [(c.name, c.arguments) for c in second.tool_calls] == [("done", {"result": "saw: Opened /p/123"})]
    seen = fake.policy_requests[1]
    assert seen.system == "You drive a browser."
    assert seen.tools == ["click", "done"]
    assert seen.tool_choice == "required"
    assert seen.last_tool_result == "Opened /p/123"
    assert seen.messages[1].tool_calls[0].id == first.tool_calls[0].id
    assert seen.messages[2].tool_call_id == first.tool_calls[0].id

    # The tool result went back in the vendor's own format.
    wire = fake.requests[1]["body"]["messages"]
    if provider == "anthropic":
        assert "system" not in [m["role"] for m in wire]
        assert wire[-1]["role"] == "user"
        assert wire[-1]["content"] == [
            {"type": "tool_result", "tool_use_id": first.tool_calls[0].id, "content": "Opened /p/123"}
        ]
        assert fake.requests[1]["body"]["tool_choice"] == {"type": "any"}
    else:
        assert wire[0] == {"role": "system", "content": "You drive a browser."}
        assert wire[-1] == {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "Opened /p/123"}
        assert wire[-2]["tool_calls"][0]["function"] == {"name": "click", "arguments": '{"index": 7}'}
        assert fake.requests[1]["body"]["max_completion_tokens"] == 1024


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_text_only_reply(fake: FakeLLM, provider: str) -> None:
    fake.policy = scripted(PolicyReply.say("I cannot find it."), PolicyReply.say("Hello."))
    async with chat_model(SPECS[provider]) as model:
        reply = await model.ainvoke([Message.user("x")], [CLICK], system="s", tool_choice="auto", max_tokens=50)
        bare = await model.ainvoke([Message.user("y")], [], system="s")
    assert (reply.text, reply.tool_calls) == ("I cannot find it.", [])
    assert reply.stop_reason == ("end_turn" if provider == "anthropic" else "stop")
    assert fake.policy_requests[0].tool_choice == "auto"
    assert fake.policy_requests[0].max_tokens == 50
    # No tools means no tool_choice either: both vendors reject tool_choice without tools.
    assert bare.text == "Hello."
    assert "tools" not in fake.requests[1]["body"] and "tool_choice" not in fake.requests[1]["body"]


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_parallel_tool_calls_and_results_in_one_turn(fake: FakeLLM, provider: str) -> None:
    both = PolicyReply(calls=[ReplyCall("click", {"index": 1}), ReplyCall("click", {"index": 3})])
    fake.policy = scripted(both, PolicyReply.say("ok"))
    async with chat_model(SPECS[provider]) as model:
        first = await model.ainvoke([Message.user(OBSERVATION)], [CLICK], system="s")
        results = [Message.tool_result(c.id, f"clicked {c.arguments['index']}") for c in first.tool_calls]
        # The fake rejects, as the vendors do, any result not paired with its call in the next turn.
        await model.ainvoke(
            [Message.user(OBSERVATION), first.as_message(), *results, Message.user("new page")], [CLICK], system="s"
        )
    seen = fake.policy_requests[1]
    assert [m.role for m in seen.messages] == ["user", "assistant", "tool", "tool", "user"]
    assert seen.observation == "new page"
    assert seen.last_tool_result == "clicked 3"


@pytest.mark.anyio
@pytest.mark.parametrize(("provider", "complaint"), [("anthropic", "tool_use_id"), ("openai", "role 'tool'")])
async def test_fake_rejects_unpaired_tool_results_like_the_vendors(
    fake: FakeLLM, provider: str, complaint: str
) -> None:
    # The round trips above only prove something because the fake is this strict.
    async with chat_model(SPECS[provider]) as model:
        with pytest.raises(LLMError) as caught:
            await model.ainvoke([Message.user("x"), Message.tool_result("call_nope", "r")], [CLICK], system="s")
    assert (caught.value.code, caught.value.status) == ("LLM_ERROR", 400)
    assert complaint in caught.value.message
    assert fake.calls == 0


@pytest.mark.slow  # a fresh interpreter importing an SDK
def test_fake_serves_a_separate_process(fake: FakeLLM) -> None:
    fake.policy = scripted(PolicyReply.say("from the fake"))
    script = textwrap.dedent(
        """
        import asyncio, os
        from mcp_browsa.llm import Message, make_chat_model, parse_llm_spec, resolve_api_key

        async def main() -> None:
            spec = parse_llm_spec("anthropic:claude-haiku-4-5")
            model = make_chat_model(spec, resolve_api_key(spec, None, os.environ))
            reply = await model.ainvoke([Message.user("hi")], [], system="s")
            await model.aclose()
            print(reply.text)

        asyncio.run(main())
        """
    )
    env = {**os.environ, **fake.env(), "ANTHROPIC_API_KEY": KEY}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the fake"
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


# --- usage and cost --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("provider", "expected"), [("anthropic", 1.00 + 5.00), ("openai", 0.40 + 1.60)])
async def test_usage_and_cost(fake: FakeLLM, provider: str, expected: float) -> None:
    fake.policy = scripted(
        PolicyReply(text="a", input_tokens=1_000_000, output_tokens=1_000_000), PolicyReply.say("b" * 400)
    )
    async with chat_model(SPECS[provider]) as model:
        priced = await model.ainvoke([Message.user("x")], [CLICK], system="s")
        estimated = await model.ainvoke([Message.user("y" * 4000)], [CLICK], system="s")
    assert priced.usage == Usage(1_000_000, 1_000_000)
    assert priced.cost_usd == pytest.approx(expected)
    assert estimated.usage.input_tokens >= 1000 and estimated.usage.output_tokens == 100
    assert estimated.cost_usd == pytest.approx(cost_usd(estimated.model, estimated.usage))
    assert estimated.cost_usd > 0


def test_prices_match_dated_ids_by_longest_family() -> None:
    assert price_for("claude-haiku-4-5-20251001") == price_for("claude-haiku-4-5")
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini") != price_for("gpt-4o")
    assert price_for("gpt-4.1-mini-2025-04-14") == price_for("gpt-4.1-mini") != price_for("gpt-4.1")
    assert price_for("gpt-4.10") is None
    assert cost_usd("llama3.1:8b", Usage(10**6, 10**6)) == 0.0
    assert cost_usd("claude-opus-4-1", Usage(10**6, 0)) == pytest.approx(15.0)
    assert cost_usd("gpt-5-mini", Usage(0, 10**6)) == pytest.approx(2.0)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_bad_key_is_invalid_api_key_and_never_retried(fake: FakeLLM, provider: str) -> None:
    fake.reset(valid_keys={"the-right-key"})
    error = await expect_error(SPECS[provider])
    assert (error.code, error.status, error.retryable) == ("INVALID_API_KEY", 401, False)
    assert "API key" in error.message or "x-api-key" in error.message
    assert len(fake.requests) == 1
    assert KEY not in str(error) and KEY not in repr(error)


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_forbidden_is_invalid_api_key(fake: FakeLLM, provider: str) -> None:
    fake.fail_next(403)
    error = await expect_error(SPECS[provider])
    assert (error.code, error.status) == ("INVALID_API_KEY", 403)


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_rate_limit_retried_then_reported(fake: FakeLLM, provider: str) -> None:
    fake.fail_next(429, times=10)
    error = await expect_error(SPECS[provider])
    assert (error.code, error.status) == ("RATE_LIMIT", 429)
    assert "rate limit" in error.message.lower()
    assert len(fake.requests) == 1 + FAST.max_retries
    assert fake.calls == 0


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_single_rate_limit_recovers(fake: FakeLLM, provider: str) -> None:
    fake.fail_next(429, retry_after=30)  # honoured only up to max_delay, so this stays fast
    fake.policy = scripted(PolicyReply.tool("click", index=2))
    started = time.monotonic()
    async with chat_model(SPECS[provider]) as model:
        reply = await model.ainvoke([Message.user("x")], [CLICK], system="s")
    assert time.monotonic() - started < 5
    assert reply.tool_calls[0].arguments == {"index": 2}
    assert len(fake.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_server_error_is_llm_error_with_vendor_message(fake: FakeLLM, provider: str) -> None:
    fake.fail_next(500, times=10, message="the fake backend is on fire")
    error = await expect_error(SPECS[provider])
    assert (error.code, error.status, error.message) == ("LLM_ERROR", 500, "the fake backend is on fire")
    assert len(fake.requests) == 1 + FAST.max_retries


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_bad_request_is_not_retried(fake: FakeLLM, provider: str) -> None:
    fake.fail_next(400, message="messages.0: something the vendor disliked")
    error = await expect_error(SPECS[provider])
    assert (error.code, error.status, error.retryable) == ("LLM_ERROR", 400, False)
    assert error.message == "messages.0: something the vendor disliked"
    assert len(fake.requests) == 1


@pytest.mark.anyio
async def test_openai_insufficient_quota_is_not_a_rate_limit(fake: FakeLLM) -> None:
    fake.fail_next(429, times=5, message="You exceeded your current quota.", code="insufficient_quota")
    error = await expect_error(SPECS["openai"])
    assert (error.code, error.message) == ("LLM_ERROR", "You exceeded your current quota.")
    assert len(fake.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_unreachable_server_is_llm_error(fake: FakeLLM, provider: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    model = "claude-haiku-4-5" if provider == "anthropic" else "gpt-4.1-mini"
    error = await expect_error(f"{provider}:{model}@{dead}/v1")
    assert error.code == "LLM_ERROR" and error.status is None
    assert "cannot reach" in error.message


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_api_key_never_appears_in_errors_or_reprs(fake: FakeLLM, provider: str) -> None:
    # A careless compatible server may echo the key; it must not travel on into job errors and logs.
    fake.fail_next(400, message=f"key {KEY} is not allowed here")
    error = await expect_error(SPECS[provider])
    assert KEY not in str(error) and KEY not in repr(error) and KEY not in error.message
    assert "***" in error.message
    async with chat_model(SPECS[provider]) as model:
        assert KEY not in repr(model) and KEY not in str(model)
        assert KEY not in repr(vars(model).get("_retry"))


# --- OpenAI-compatible servers and keys -------------------------------------------------------


@pytest.mark.anyio
async def test_openai_compatible_server_without_key(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")  # the spec alone must lead to the server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-key-never-leaves")
    fake.policy = scripted(PolicyReply.tool("click", index=1))
    spec = parse_llm_spec(f"openai:llama3.1:8b@{fake.openai_base_url}")
    assert spec == LLMSpec("openai", "llama3.1:8b", fake.openai_base_url)

    key = resolve_api_key(spec, None, os.environ)
    assert key == KEYLESS_PLACEHOLDER
    async with chat_model(str(spec), api_key=key) as model:
        reply = await model.ainvoke([Message.user("x")], [CLICK], system="s", max_tokens=64)
    assert reply.tool_calls[0].arguments == {"index": 1}
    assert reply.cost_usd == 0.0  # unknown model names are priced at 0
    request = fake.requests[0]
    assert request["headers"]["authorization"] == f"Bearer {KEYLESS_PLACEHOLDER}"
    # Compatible servers commonly know only `max_tokens`.
    assert request["body"]["max_tokens"] == 64 and "max_completion_tokens" not in request["body"]


def test_resolve_api_key_order() -> None:
    anthropic, openai = parse_llm_spec(SPECS["anthropic"]), parse_llm_spec(SPECS["openai"])
    env = {"BROWSA_LLM_API_KEY": "browsa", "ANTHROPIC_API_KEY": "ant", "OPENAI_API_KEY": "oai"}
    assert resolve_api_key(anthropic, "call", env) == "call"
    assert resolve_api_key(anthropic, None, env) == "browsa"
    assert resolve_api_key(anthropic, " ", {"ANTHROPIC_API_KEY": "ant", "OPENAI_API_KEY": "oai"}) == "ant"
    assert resolve_api_key(openai, None, {"ANTHROPIC_API_KEY": "ant", "OPENAI_API_KEY": "oai"}) == "oai"
    assert resolve_api_key(openai, None, {"ANTHROPIC_API_KEY": "ant"}) is None
    # An operator-configured local server may be keyless; the official API is not.
    assert resolve_api_key(openai, None, {"OPENAI_BASE_URL": "http://localhost:11434/v1"}) == KEYLESS_PLACEHOLDER
    assert resolve_api_key(openai, None, {"OPENAI_BASE_URL": "https://api.openai.com/v1"}) is None
    # A server named in the request never gets the operator's keys, only the call's own.
    compatible = parse_llm_spec("openai:qwen@http://10.0.0.5:8000/v1")
    assert resolve_api_key(compatible, None, env) == KEYLESS_PLACEHOLDER
    assert resolve_api_key(compatible, "vllm-key", env) == "vllm-key"


def test_make_chat_model_without_key_is_invalid_api_key() -> None:
    with pytest.raises(LLMError) as caught:
        make_chat_model(parse_llm_spec(SPECS["anthropic"]), None)
    assert caught.value.code == "INVALID_API_KEY"
    assert "ANTHROPIC_API_KEY" in caught.value.message


@pytest.mark.anyio
async def test_make_chat_model_builds_the_vendor_adapter() -> None:
    model = make_chat_model(parse_llm_spec(SPECS["anthropic"]), KEY)
    assert isinstance(model, AnthropicChatModel) and isinstance(model, ChatModel)
    assert isinstance(model, ClosableChatModel)
    assert model.model == "claude-haiku-4-5"
    await model.aclose()


@pytest.mark.anyio
async def test_every_vendor_client_shares_one_verifying_tls_context() -> None:
    """Every agent task builds its own model. When each loaded the CA store into a TLS context of its own, the
    server kept native memory from every one (about 10 MiB per 100 tasks in a soak); one shared context ends that,
    and must still verify certificates and host names."""
    contexts: list[ssl.SSLContext] = []
    for spec in (SPECS["anthropic"], SPECS["openai"], SPECS["anthropic"], "openai:llama3@http://127.0.0.1:9/v1"):
        async with chat_model(spec) as model:
            sdk_client: Any = vars(model)["_client"]
            contexts.append(sdk_client._client._transport._pool._ssl_context)
    assert all(c is contexts[0] for c in contexts)
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname


# --- spec parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anthropic:claude-haiku-4-5", LLMSpec("anthropic", "claude-haiku-4-5")),
        ("  OpenAI:gpt-4.1-mini ", LLMSpec("openai", "gpt-4.1-mini")),
        ("openai:llama3.1:8b@http://127.0.0.1:11434/v1", LLMSpec("openai", "llama3.1:8b", "http://127.0.0.1:11434/v1")),
        ("openai:qwen2.5@https://vllm.internal/v1/", LLMSpec("openai", "qwen2.5", "https://vllm.internal/v1")),
        ("anthropic:claude-opus-4@20250514", LLMSpec("anthropic", "claude-opus-4@20250514")),
    ],
)
def test_parse_llm_spec(text: str, expected: LLMSpec) -> None:
    assert parse_llm_spec(text) == expected
    assert parse_llm_spec(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "must not be empty"),
        ("claude-haiku-4-5", "no provider"),
        ("gemini:gemini-2.5-pro", "unknown LLM provider 'gemini'"),
        ("openai:", "names no model"),
        ("openai:@http://localhost:1234/v1", "names no model"),
        ("openai:gpt 4", "whitespace"),
        ("openai:llama@localhost:11434/v1", "bad base URL"),
        ("openai:llama@", "bad base URL"),
        ("openai:llama@ftp://host/v1", "http or https"),
        ("openai:llama@http:///v1", "names no host"),
        ("openai:llama@http://host:99999/v1", "bad base URL"),
        ("openai:llama@http://user:pw@host/v1", "credentials"),
    ],
)
def test_parse_llm_spec_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_llm_spec(text)


# --- small pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"index": 3}', {"index": 3}),
        ('"{\\"index\\": 3}"', {"index": 3}),  # double-encoded, as some local models send
        ("", {}),
        (None, {}),
        ("{not json", {}),
        ("[1, 2]", {}),
    ],
)
def test_parse_arguments_tolerates_small_model_output(raw: str | None, expected: dict[str, int]) -> None:
    assert parse_arguments(raw) == expected


def test_find_index_reads_observation_lines() -> None:
    assert find_index(OBSERVATION, "Wireless Earbuds") == 7
    assert find_index(OBSERVATION, "href=/cart") == 1
    assert find_index(OBSERVATION, "Showing") is None  # text digest lines carry no index
    assert find_index(OBSERVATION, re.compile(r"<button>\s+Search")) == 3


def test_retry_policy_caps_every_wait() -> None:
    policy = RetryPolicy(max_retries=2, base_delay=0.5, max_delay=8.0)
    assert policy.delay(0, retry_after=3600) == 8.0
    assert policy.delay(10, retry_after=None) <= 8.0
    assert 0.375 <= policy.delay(0, retry_after=None) <= 0.5
