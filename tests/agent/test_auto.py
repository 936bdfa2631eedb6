"""`auto` over a real MCP client: a one-URL read goes the scrape path with no model call; anything else is a task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.support import tool
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import finished, ok, stdio_client
from tests.support.sites import Site, respond, serve_site

pytestmark = pytest.mark.anyio


@pytest.fixture
def shop() -> Iterator[Site]:
    with serve_site() as site:
        yield site


def report_title(request: PolicyRequest) -> PolicyReply:
    title = next(line for line in request.observation.splitlines() if line.startswith("TITLE: "))
    return tool("done", result=title.removeprefix("TITLE: "))


async def test_auto_routes_a_read_to_scrape_and_an_interaction_to_a_task(shop: Site, home: Path) -> None:
    with FakeLLM(report_title) as vendor:
        env = {**vendor.env(), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{shop.port}", "ANTHROPIC_API_KEY": "k"}
        async with stdio_client(home, **env) as client:
            read = ok(await client.call_tool("auto", {"task": f"summarize {shop.url('/agent/product.html')}"}))
            assert read["routed_via"] == "scrape"
            assert "read-only" in read["routing_reason"] or "one URL" in read["routing_reason"]
            assert read["status"] == "completed" and read["result"]["markdown"].strip()
            assert vendor.calls == 0, "the scrape path must not call the model"

            act = ok(
                await client.call_tool(
                    "auto", {"task": f"go to {shop.url('/agent/search.html')}, search for earbuds and open the result"}
                )
            )
            assert act["routed_via"] == "task" and act["kind"] == "task"
            done = await finished(client, act["id"])
            assert done["status"] == "completed", done
            assert vendor.calls >= 1


@pytest.mark.parametrize("phrasing", ["Go to {url} and return the h1 text.", "Return the h1 of {url}"])
async def test_the_documented_fetch_requests_take_the_scrape_path_without_a_key(
    shop: Site, home: Path, phrasing: str
) -> None:
    shop.routes["/h1"] = lambda req: respond(
        req, b"<html><body><h1>Documented Domain</h1><p>x</p></body></html>", "text/html"
    )
    url = shop.url("/h1")
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{shop.port}", "ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": ""}
    async with stdio_client(home, **env) as client:
        answer = ok(await client.call_tool("auto", {"task": phrasing.format(url=url)}))
    assert answer["routed_via"] == "scrape" and answer["status"] == "completed", answer
    assert answer["result"]["url"] == url
    assert "# Documented Domain" in answer["result"]["markdown"]
