"""The model server a caller names (`llm="openai:m@http://host:port/v1"`) passes the browser's private-network rule.

Real listeners on loopback ports stand in for internal services and must receive nothing: not a connection, not a
byte. Driven through a real MCP client over streamable HTTP (an API key holder) and over stdio (the local user),
with the operator's allow-lists as positive controls that reach the local fake vendor and complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.fake_llm import FakeLLM, PolicyReply
from tests.support.http_keys import sse
from tests.support.mcp_server import HttpServer, envelope, finished, free_port, ok, short_home, spawn_http, spawn_stdio
from tests.support.tripwire import Tripwire

pytestmark = pytest.mark.anyio

KEY = "sk-test-endpoint-guard-KEY-41c9"


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeLLM]:
    with FakeLLM(lambda _request: PolicyReply.tool("done", result="answered")) as fake:
        yield fake


@pytest.fixture(scope="module")
def wires() -> Iterator[tuple[Tripwire, Tripwire]]:
    """Victims on 127.0.0.1 and [::1]."""
    with Tripwire("127.0.0.1") as v4, Tripwire("::1") as v6:
        yield v4, v6


@pytest.fixture(scope="module")
def http(vendor: FakeLLM) -> Iterator[HttpServer]:
    """The operator exempted one loopback port (a dev site, say) and listed one model server."""
    with (
        short_home() as home,
        spawn_http(
            home,
            "--no-auth",
            BROWSA_WARM_SPARES="0",
            BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{free_port()}",
            BROWSA_LLM_ENDPOINTS=f"{vendor.openai_base_url}, [::1]:1",
        ) as server,
    ):
        yield server


def spellings(v4: Tripwire, v6: Tripwire) -> list[str]:
    """Base URLs that all reach a victim (or a class the rule refuses), in the spellings an attacker would try."""
    p4, p6 = v4.port, v6.port
    return [
        f"http://127.0.0.1:{p4}/v1",
        f"http://localhost:{p4}/v1",
        f"http://2130706433:{p4}/v1",
        f"http://0x7f000001:{p4}/v1",
        f"http://0177.0.0.1:{p4}/v1",
        f"http://127.1:{p4}/v1",
        f"http://0.0.0.0:{p4}/v1",
        f"http://[::ffff:127.0.0.1]:{p4}/v1",
        f"http://[::ffff:7f00:1]:{p4}/v1",
        f"http://[::1]:{p6}/v1",
        f"http://[0:0:0:0:0:0:0:1]:{p6}/v1",
        f"http://[64:ff9b::7f00:1]:{p4}/v1",
        "http://169.254.169.254/v1",
        "http://10.0.0.5:8000/v1",
        "http://100.64.0.1/v1",
        "http://[fd00::1]/v1",
        "http://[fe80::1]/v1",
    ]


async def count_jobs(client: Client) -> int:
    return int(ok(await client.call_tool("list_jobs", {"limit": 100}))["count"])


async def test_an_http_caller_cannot_point_the_model_at_the_servers_network(
    http: HttpServer, wires: tuple[Tripwire, Tripwire]
) -> None:
    v4, v6 = wires
    urls = spellings(v4, v6)
    async with Client(http.url, read_timeout_seconds=60) as client:
        before = await count_jobs(client)
        for url in urls:
            for provider in ("openai", "anthropic"):
                llm = f"{provider}:m@{url}"
                calls: list[tuple[str, dict[str, Any]]] = [
                    ("run_task", {"task": "say hi", "llm": llm, "llm_api_key": KEY}),
                    ("batch", {"tasks": [{"instruction": "say hi"}], "llm": llm, "llm_api_key": KEY}),
                    ("auto", {"task": "find me a cheap flight and book it", "llm": llm, "llm_api_key": KEY}),
                ]
                for tool, arguments in calls:
                    result = await client.call_tool(tool, arguments)
                    assert result.is_error, (tool, url, result.structured_content)
                    refusal = envelope(result)
                    assert refusal["code"] == "FORBIDDEN", (tool, url, refusal)
                    assert str(refusal["rule"]).startswith("ssrf:"), refusal
                    assert KEY not in str(refusal)
        # Refused at the call: no job exists, and nothing reached any listener.
        assert await count_jobs(client) == before
    assert (v4.hits, v6.hits) == ([], [])
    assert KEY not in http.log.read_text(errors="replace")


async def test_the_refusal_names_the_rule(http: HttpServer, wires: tuple[Tripwire, Tripwire]) -> None:
    v4, v6 = wires
    expected = {
        f"http://127.0.0.1:{v4.port}/v1": "ssrf:loopback",
        f"http://[::1]:{v6.port}/v1": "ssrf:loopback",
        "http://169.254.169.254/v1": "ssrf:link-local",
        "http://10.0.0.5/v1": "ssrf:private",
        "http://100.64.0.1/v1": "ssrf:cgnat",
        "http://[fd00::1]/v1": "ssrf:ula",
        "http://[64:ff9b::a00:1]/v1": "ssrf:private",
    }
    async with Client(http.url, read_timeout_seconds=60) as client:
        for url, rule in expected.items():
            refusal = envelope(
                await client.call_tool("run_task", {"task": "x", "llm": f"openai:m@{url}", "llm_api_key": KEY})
            )
            assert (refusal["code"], refusal["rule"]) == ("FORBIDDEN", rule), refusal
            assert "BROWSA_LLM_ENDPOINTS" in refusal["error"]
    # The legacy SSE transport is HTTP too.
    async with sse(f"http://127.0.0.1:{http.port}", None) as client:
        llm = f"anthropic:m@http://[::1]:{v6.port}"
        refusal = envelope(await client.call_tool("run_task", {"task": "x", "llm": llm, "llm_api_key": KEY}))
        assert (refusal["code"], refusal["rule"]) == ("FORBIDDEN", "ssrf:loopback"), refusal
    assert (v4.hits, v6.hits) == ([], [])


async def test_a_model_server_the_operator_listed_is_reached(http: HttpServer, vendor: FakeLLM) -> None:
    vendor.reset(lambda _request: PolicyReply.tool("done", result="answered"))
    async with Client(http.url, read_timeout_seconds=120) as client:
        job = ok(
            await client.call_tool(
                "run_task", {"task": "say hi", "llm": f"openai:m@{vendor.openai_base_url}", "llm_api_key": KEY}
            )
        )
        done = await finished(client, job["id"])
    assert done["status"] == "completed", done
    assert vendor.calls >= 1
    assert vendor.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


async def test_over_stdio_loopback_is_the_users_own_but_metadata_never(
    tmp_path: Path, vendor: FakeLLM, wires: tuple[Tripwire, Tripwire]
) -> None:
    vendor.reset(lambda _request: PolicyReply.tool("done", result="answered"))
    async with spawn_stdio(tmp_path, BROWSA_WARM_SPARES="0") as server, server.client() as client:
        for url, rule in {
            "http://169.254.169.254/v1": "ssrf:link-local",
            "http://[::ffff:169.254.169.254]/v1": "ssrf:link-local",
            "http://[fe80::1]/v1": "ssrf:link-local",
        }.items():
            refusal = envelope(
                await client.call_tool("run_task", {"task": "x", "llm": f"openai:m@{url}", "llm_api_key": KEY})
            )
            assert (refusal["code"], refusal["rule"]) == ("FORBIDDEN", rule), refusal
        assert await count_jobs(client) == 0
        # A model on localhost (Ollama's usual place) needs no listing for the local user.
        job = ok(
            await client.call_tool(
                "run_task", {"task": "say hi", "llm": f"openai:m@{vendor.openai_base_url}", "llm_api_key": KEY}
            )
        )
        assert (await finished(client, job["id"]))["status"] == "completed"
    assert vendor.calls >= 1
    assert [w.hits for w in wires] == [[], []]
