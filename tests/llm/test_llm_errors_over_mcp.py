"""Model failures as a user meets them through a real MCP client: a server that does not speak the vendor's API
ends the job LLM_ERROR quoting what it said, and a key that cannot be sent is refused before any job exists.

The server is a spawned `mcp-browsa` over streamable HTTP; the model is the local fake vendor, reached through the
real `openai` and `anthropic` SDKs inside the server, with the operator listing it in BROWSA_LLM_ENDPOINTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from tests.support.fake_llm import FakeLLM
from tests.support.mcp_server import HttpServer, envelope, finished, ok, short_home, spawn_http

pytestmark = pytest.mark.anyio

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Corporate SSO</title></head><body><form action=/login>"
    + "<input name=user><input name=password type=password>" * 30
    + "</form></body></html>"
)
BAD_KEYS = ["sk-tëst-0123456789", "sk-ключ-0123456789", "sk-test-🔑-0123456789", "sk-test\n0123456789"]


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def http(vendor: FakeLLM) -> Iterator[HttpServer]:
    with (
        short_home() as home,
        spawn_http(home, "--no-auth", BROWSA_WARM_SPARES="0", BROWSA_LLM_ENDPOINTS=vendor.base_url) as server,
    ):
        yield server


def llm_for(provider: str, vendor: FakeLLM) -> str:
    base = vendor.openai_base_url if provider == "openai" else vendor.anthropic_base_url
    return f"{provider}:some-model@{base}"


def stored_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_login_page_instead_of_a_model_is_llm_error_quoting_it(
    http: HttpServer, vendor: FakeLLM, provider: str
) -> None:
    vendor.reset()
    vendor.answer_garbage(LOGIN_PAGE, times=10)
    async with Client(http.url, read_timeout_seconds=120) as client:
        job = ok(
            await client.call_tool(
                "run_task", {"task": "say hi", "llm": llm_for(provider, vendor), "llm_api_key": "sk-test-key-1"}
            )
        )
        done = await finished(client, job["id"])
    assert (done["status"], done["error_code"]) == ("failed", "LLM_ERROR"), done
    assert "<!DOCTYPE html><html><head><title>Corporate SSO</title>" in done["error_message"], done["error_message"]
    assert len(done["error_message"]) < 500 and LOGIN_PAGE not in done["error_message"]
    log = http.log.read_text(errors="replace")
    assert "Traceback" not in log and "AttributeError" not in log, log[-3000:]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_key_that_cannot_travel_in_a_header_is_refused_at_the_call(
    http: HttpServer, vendor: FakeLLM, provider: str
) -> None:
    vendor.reset()
    async with Client(http.url, read_timeout_seconds=60) as client:
        before = ok(await client.call_tool("list_jobs", {}))["count"]
        for key in BAD_KEYS:
            llm = llm_for(provider, vendor)
            for tool, arguments in (
                ("run_task", {"task": "say hi", "llm": llm, "llm_api_key": key}),
                ("batch", {"tasks": [{"instruction": "say hi"}], "llm": llm, "llm_api_key": key}),
            ):
                refusal = envelope(await client.call_tool(tool, arguments))
                assert refusal["code"] == "BAD_REQUEST" and "llm_api_key" in refusal["error"], refusal
                assert key not in str(refusal) and key.strip()[3:9] not in refusal["error"]
        assert ok(await client.call_tool("list_jobs", {}))["count"] == before  # no job was created
    assert vendor.requests == []  # nothing was sent
    seen = http.log.read_bytes() + stored_bytes(http.home)
    for key in BAD_KEYS:
        assert key.encode() not in seen
