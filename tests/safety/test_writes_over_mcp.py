"""allow_writes over MCP with real WebSockets: a read-only task cannot open one at all, a writable task can.

Once open, a WebSocket carries whatever the page sends, so under allow_writes=false the socket is refused before it
connects, the refusal is a blocked write in the step's event, and the model is told, as for a refused form post.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.safety.conftest import Stack
from tests.support.fake_llm import PolicyReply, PolicyRequest
from tests.support.guard_pages import WEBSOCKET
from tests.support.mcp_server import call, finished, ok
from tests.support.sites import Site
from tests.support.websocket_site import WebSocketSite

pytestmark = pytest.mark.anyio


def report_the_socket() -> Callable[[PolicyRequest], PolicyReply]:
    """Wait until the page shows what became of its socket, look once more (to hear what the step's notes say),
    then report that line as the result."""
    waits = itertools.count(1)
    looks: list[str] = []

    def policy(request: PolicyRequest) -> PolicyReply:
        shown = re.search(r"socket: [^\n]*", request.observation)
        if shown is not None:
            looks.append(shown.group(0).strip())
            if len(looks) > 1:
                return PolicyReply.tool("done", result=looks[-1])
        return PolicyReply.tool("wait", seconds=0.2 + next(waits) / 100)  # never the same action twice: no LOOP

    return policy


async def chat(stack: Stack, public: Site, sockets: WebSocketSite, *, allow_writes: bool) -> dict[str, Any]:
    stack.fake.reset(report_the_socket())
    sockets.connections.clear()
    sockets.received.clear()
    url = public.url(f"{WEBSOCKET}?to={quote(sockets.url('/chat'), safe='')}")
    args = {"task": "Say what the live chat shows", "initial_url": url, "allow_writes": allow_writes, "max_steps": 8}
    job = await finished(stack.client, ok(await call(stack.client, "run_task", args))["id"])
    stack.fake.check()
    assert job["status"] == "completed", job
    return job


async def test_a_read_only_task_cannot_open_a_websocket_and_is_told_so(
    stack: Stack, public: Site, sockets: WebSocketSite
) -> None:
    job = await chat(stack, public, sockets, allow_writes=False)
    assert job["result"]["final_result"].startswith("socket: closed 1008"), job["result"]
    assert sockets.connections == [] and sockets.received == []
    timeline = ok(await call(stack.client, "get_job", {"job_id": job["id"], "wait": 0, "events_after": 0}))
    refused = [w for e in timeline["events"] if e["type"] == "step" for w in e["data"].get("blocked_writes", [])]
    assert refused and refused[0]["rule"] == "writes" and refused[0]["method"] == "WEBSOCKET", refused
    assert refused[0]["url"] == sockets.url("/chat") and "WebSocket" in refused[0]["reason"]
    told = [r.observation for r in stack.fake.policy_requests if "allow_writes=false" in r.observation]
    assert told and f"WEBSOCKET {sockets.url('/chat')}" in told[0]


async def test_a_task_that_may_write_talks_over_a_websocket(stack: Stack, public: Site, sockets: WebSocketSite) -> None:
    job = await chat(stack, public, sockets, allow_writes=True)
    assert job["result"]["final_result"] == "socket: echo hello"
    assert sockets.received == ["hello"]
