"""The connection-time half of the model-server check: every connection goes to an address the check accepted.

Through the real `openai` and `anthropic` SDKs. The tool call's own check is bypassed here (the model is built
directly), so what holds is the HTTP client's: a name resolving to loopback is refused before a socket opens, and
the connection goes to the very address that was checked, not to whatever a second lookup would answer.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from mcp_browsa.browser.netpolicy import PrivateNetworkRule
from mcp_browsa.llm import LLMError, Message, RetryPolicy, make_chat_model, parse_llm_spec
from mcp_browsa.llm.endpoint import EndpointGuard, parse_endpoint_list
from tests.support.fake_llm import FakeLLM, PolicyReply
from tests.support.tripwire import Tripwire

pytestmark = pytest.mark.anyio

KEY = "sk-test-pinning-KEY-0c1d"
FAST = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)
REMOTE = EndpointGuard(PrivateNetworkRule(), PrivateNetworkRule(), local=False)


@pytest.fixture
def victim() -> Iterator[Tripwire]:
    with Tripwire("127.0.0.1") as wire:
        yield wire


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_name_resolving_to_loopback_is_refused_before_any_socket(provider: str, victim: Tripwire) -> None:
    model = make_chat_model(
        parse_llm_spec(f"{provider}:m@http://localhost:{victim.port}/v1"), KEY, retry=FAST, check=REMOTE.check
    )
    try:
        with pytest.raises(LLMError) as caught:
            await model.ainvoke([Message.user("hi")], [], system="")
    finally:
        await model.aclose()
    assert caught.value.code == "FORBIDDEN"
    assert "ssrf:loopback" in caught.value.message and KEY not in caught.value.message
    assert victim.hits == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_connection_goes_to_the_checked_address(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DNS answer the check sees (localhost → 127.0.0.2, an address the operator listed) is where the request
    goes, with the Host the URL names. A client that connected by name would meet the victim on 127.0.0.1."""
    with (
        FakeLLM(lambda _r: PolicyReply.say("hello"), host="127.0.0.2") as vendor,
        Tripwire("127.0.0.1", vendor.port) as victim,
    ):
        real = anyio.getaddrinfo

        async def rebinding_view(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "localhost":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))]
            return await real(host, port, *args, **kwargs)

        monkeypatch.setattr(anyio, "getaddrinfo", rebinding_view)
        guard = EndpointGuard(PrivateNetworkRule(), parse_endpoint_list("127.0.0.2"), local=False)
        base = f"http://localhost:{vendor.port}" + ("/v1" if provider == "openai" else "")
        model = make_chat_model(parse_llm_spec(f"{provider}:m@{base}"), KEY, retry=FAST, check=guard.check)
        try:
            reply = await model.ainvoke([Message.user("hi")], [], system="")
        finally:
            await model.aclose()
        assert reply.text == "hello"
        assert vendor.requests[0]["headers"]["host"] == f"localhost:{vendor.port}"
        assert victim.hits == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_redirect_to_a_private_address_is_refused_too(provider: str, victim: Tripwire) -> None:
    """The listed server answers 307 towards an internal service: the SDK follows redirects, and the connection
    that would follow is checked like the first."""
    with FakeLLM() as vendor:
        path = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
        vendor.answer_garbage("", status=307, headers={"location": f"http://127.0.0.1:{victim.port}{path}"}, times=5)
        guard = EndpointGuard(PrivateNetworkRule(), parse_endpoint_list(f"127.0.0.1:{vendor.port}"), local=False)
        base = vendor.openai_base_url if provider == "openai" else vendor.anthropic_base_url
        model = make_chat_model(parse_llm_spec(f"{provider}:m@{base}"), KEY, retry=FAST, check=guard.check)
        try:
            with pytest.raises(LLMError) as caught:
                await model.ainvoke([Message.user("hi")], [], system="")
        finally:
            await model.aclose()
        assert len(vendor.requests) == 1  # the listed server was reached, once
    assert caught.value.code == "FORBIDDEN" and "ssrf:loopback" in caught.value.message
    assert victim.hits == []
