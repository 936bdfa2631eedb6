"""A question about the page goes to the person as the live view: over a real MCP client (stdio), a task meets a
CAPTCHA, the client (which declares URL-mode elicitation) gets `elicitation/create` in URL mode with the job's
live_url, the person opens it in their own browser, gets past the check and answers there, and the task goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client import Transport
from mcp.client.context import ClientRequestContext
from mcp.client.stdio import stdio_client as stdio_client_transport
from mcp_types import ElicitRequestParams, ElicitRequestURLParams, ElicitResult
from playwright.async_api import Page

from tests.agent.support import page, tool
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import ok, server_env
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

KEY = "sk-ant-live-test-KEY-51c2"
QUESTION = "Please get me past the check on this page"


def policy(request: PolicyRequest) -> PolicyReply:
    if "Welcome to the shop" in page(request):
        return tool("done", result="in the shop")
    if "A CAPTCHA" in request.observation and "the user answered" not in request.observation:
        return tool("ask_human", question=QUESTION)
    return tool("done", result="still walled", success=False)


class Person:
    """The client's user: opens the live view the client is sent, gets past the check, answers there."""

    def __init__(self, browser_page: Page) -> None:
        self.page = browser_page
        self.asked: list[ElicitRequestParams] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params)
        if not isinstance(params, ElicitRequestURLParams):
            return ElicitResult(action="decline")
        person = self.page
        await person.goto(params.url)
        await person.wait_for_function("() => Number(document.getElementById('screen').dataset.frames || 0) > 0")
        await person.wait_for_function("() => !document.getElementById('ask').hidden")  # the question is shown
        await person.click("#control")
        await person.wait_for_function("() => document.getElementById('control').textContent === 'Hand back'")
        await person.locator("#screen").click()  # the check's button fills the page
        await person.click("#control")
        await person.fill("#answer", "done, you are past it")
        await person.click("#ask button[type=submit]")
        await person.wait_for_function("() => document.getElementById('ask').hidden")  # the task took the answer
        return ElicitResult(action="accept")


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # elicitation/create inside the call; 2026-07-28 retry
async def test_a_captcha_sends_the_live_view_to_a_url_capable_client(
    home: Path, vendor: FakeLLM, shop: Site, person: Page, mode: str
) -> None:
    vendor.reset(policy, valid_keys={KEY})
    user = Person(person)
    env = server_env(home, **vendor.env(), BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{shop.port}")
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_browsa"], env=env)
    transport: Transport = stdio_client_transport(params, errlog=sys.stderr)  # type: ignore[assignment]
    async with Client(transport, mode=mode, read_timeout_seconds=180, elicitation_callback=user) as client:  # type: ignore[arg-type]
        args = {
            "task": "Get into the shop",
            "initial_url": shop.url("/live/captcha.html"),
            "llm_api_key": KEY,
            "wait": 90,
        }
        job = ok(await client.call_tool("run_task", args))
    assert job["status"] == "completed", job.get("error_message")
    assert job["result"]["final_result"] == "in the shop"
    assert len(user.asked) == 1
    asked = user.asked[0]
    assert isinstance(asked, ElicitRequestURLParams) and asked.mode == "url"
    assert asked.url.startswith("http://127.0.0.1:") and "/live/" in asked.url
    if mode == "legacy":
        assert asked.elicitation_id  # the id its completion notice names
    assert asked.message.startswith(QUESTION) and asked.url in asked.message  # the question carries the address
    last = vendor.policy_requests[-1].observation
    assert 'the user answered: "done, you are past it"' in last
    assert "A person took control of the browser" in last and "1 click" in last
