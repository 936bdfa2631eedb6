"""The live view's guards: tokens (404, 410, one job each), Host and Origin (DNS rebinding), headers, logs,
and the egress guard keeping every burner away from the live server, even with private networks allowed."""

from __future__ import annotations

import json
import logging
import threading

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.engine.requests import TaskRequest
from mcp_browsa.errors import NotFound
from mcp_browsa.live.web import LiveServer, redact_tokens
from tests.agent.support import CALLER, ended, page_url, tool, until
from tests.live.test_takeover import WAIT
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def running_job(app: Browsa, fake: FakeLLM, shop: Site, claude: str, caller: Caller = CALLER) -> tuple[str, str]:
    """A task held on its first step (until the test's fake policy is released); (job id, live_url)."""
    job = await app.run_task(caller, TaskRequest(task="Hold", llm=claude, initial_url=shop.url("/live/start.html")))
    while True:
        job = await app.get_job(caller, job.id, wait=1)
        if job.live_url:
            return job.id, job.live_url
        assert job.status in ("queued", "running"), job.error_message


def ws_url(live_url: str) -> str:
    return live_url.replace("http://", "ws://", 1) + "/ws"


async def test_host_origin_and_headers(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    release = threading.Event()
    fake.policy = lambda _r: (release.wait(WAIT), tool("done", result="ok"))[1]
    job_id, live_url = await running_job(app, fake, shop, claude)
    port = live_url.split(":")[2].split("/")[0]
    try:
        async with httpx.AsyncClient() as client:
            page = await client.get(live_url)
            assert page.status_code == 200 and "live view" in page.text
            assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert page.headers["referrer-policy"] == "no-referrer"
            # DNS rebinding: a name the attacker controls, resolving to 127.0.0.1, arrives with its own Host.
            rebound = await client.get(live_url, headers={"Host": f"attacker.example:{port}"})
            assert rebound.status_code == 403
            assert (await client.get(live_url.rsplit("/", 1)[0] + "/static/live.js")).status_code == 200
            assert (await client.get(live_url.rsplit("/", 1)[0] + "/static/../registry.py")).status_code == 404

        origin = f"http://127.0.0.1:{port}"
        async with websockets.connect(ws_url(live_url), origin=origin) as ws:  # type: ignore[arg-type]
            first = json.loads(await ws.recv())
            assert first["t"] in ("page", "status", "frame")
        for bad in ("http://attacker.example", None):
            with pytest.raises((InvalidStatus, websockets.ConnectionClosed)):
                async with websockets.connect(ws_url(live_url), origin=bad) as ws:  # type: ignore[arg-type]
                    await ws.recv()
    finally:
        release.set()
    await ended(app, job_id)


async def test_tokens_are_per_job_and_per_workspace(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    release = threading.Event()

    def policy(request: PolicyRequest) -> PolicyReply:
        release.wait(WAIT)
        return tool("done", result=page_url(request))

    fake.policy = policy
    other = Caller(workspace_id="ws_live_other")
    await app.engine.ledger.ensure_workspace(other.workspace_id, initial_credits=100)
    mine, my_url = await running_job(app, fake, shop, claude)
    theirs, their_url = await running_job(app, fake, shop, claude, caller=other)
    try:
        assert my_url != their_url
        # Another workspace cannot even learn the job, let alone its live view.
        with pytest.raises(NotFound):
            await app.get_job(other, mine)
        with pytest.raises(NotFound):
            await app.get_job(CALLER, theirs)
        # A token shows its own job whatever view is asked for: the registry keys views by token, not by job id.
        target = app.live.registry.lookup(their_url.rsplit("/", 1)[1])
        assert target not in (None, "gone") and getattr(target, "target_id", None) == theirs
        assert target.workspace_id == other.workspace_id  # type: ignore[union-attr]
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{my_url}x")).status_code == 404  # one character off
    finally:
        release.set()
    await ended(app, mine)
    while (await app.get_job(other, theirs, wait=5)).status not in ("completed", "failed", "cancelled"):
        pass
    async with httpx.AsyncClient() as client:
        assert (await client.get(my_url)).status_code == 410


def test_tokens_never_reach_the_logs() -> None:
    token = "Zm9vYmFyYmF6cXV4cXV1eA"
    LiveServer()  # what every process serving views does on start
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    access, errors = logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")
    levels = access.level, errors.level
    for logger in (access, errors):
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        # uvicorn's own lines for the page and for its WebSocket, as it writes them.
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/live/{token}", "1.1", 200)
        errors.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", f"/live/{token}/ws")
    finally:
        for logger, level in ((access, levels[0]), (errors, levels[1])):
            logger.removeHandler(handler)
            logger.setLevel(level)
    assert len(lines) == 2 and all("/live/<token>" in line for line in lines)
    assert not any(token in line for line in lines)
    assert (
        redact_tokens(f"see http://127.0.0.1:1/live/{token}?view=row-2")
        == "see http://127.0.0.1:1/live/<token>?view=row-2"
    )


async def test_no_burner_reaches_the_live_server_even_with_private_networks_allowed(
    fake: FakeLLM, shop: Site, claude: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = load_settings({"BROWSA_HOME": str(tmp_path_factory.mktemp("open")), "BROWSA_ALLOW_PRIVATE_NETWORK": "1"})
    async with Browsa(settings).running() as app:
        urls: list[str] = []
        known = threading.Event()

        def policy(request: PolicyRequest) -> PolicyReply:
            known.wait(WAIT)
            return tool("navigate", url=urls[0])  # the job's own live view, from inside its browser

        fake.policy = policy
        job = await app.run_task(
            CALLER, TaskRequest(task="Open your live view", llm=claude, initial_url=shop.url("/live/start.html"))
        )
        job = await until(app, job.id, "running")
        while not job.live_url:
            job = await app.get_job(CALLER, job.id, wait=1)
        urls.append(job.live_url)
        known.set()
        job = await ended(app, job.id)
        assert job.status == "failed" and job.error_code == "BLOCKED", job.error_message
        assert job.result is not None and job.result["blocked"]["rule"].startswith("ssrf:")
        # The shop on another loopback port stayed reachable: only the live server's port is closed.
        assert job.result["final_url"].startswith(shop.base)


async def test_a_page_script_cannot_fetch_the_live_view(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    gate = threading.Event()
    fake.policy = lambda _r: (gate.wait(WAIT), tool("done", result="ok"))[1]
    job_id, live_url = await running_job(app, fake, shop, claude)
    try:
        target = app.live.registry.target(job_id)
        assert target is not None
        page = target.views["main"].tabs.active
        probe = "async (u) => { try { await fetch(u, {mode: 'no-cors'}); return 'reached'; } catch (e) { return 'refused'; } }"
        assert await page.evaluate(probe, live_url) == "refused"
        assert await page.evaluate(probe, shop.url("/live/form.html")) == "reached"  # the positive control
    finally:
        gate.set()
    await ended(app, job_id)


async def test_bad_messages_are_answered_and_change_nothing(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    release = threading.Event()
    fake.policy = lambda _r: (release.wait(WAIT), tool("done", result="ok"))[1]
    job_id, live_url = await running_job(app, fake, shop, claude)
    origin = "http://127.0.0.1:" + live_url.split(":")[2].split("/")[0]
    try:
        async with websockets.connect(ws_url(live_url), origin=origin) as ws:  # type: ignore[arg-type]

            async def answer_to(message: str) -> str:
                await ws.send(message)
                while True:
                    reply = json.loads(await ws.recv())
                    if reply["t"] == "error":
                        return str(reply["error"])

            while json.loads(await ws.recv())["t"] != "frame":
                pass  # the picture is streaming: input has somewhere to go
            assert "not a message" in await answer_to("{not json")
            assert "not a message" in await answer_to(json.dumps([1, 2]))
            assert "take control first" in await answer_to(
                json.dumps({"t": "mouse", "kind": "down", "x": 0.5, "y": 0.5})
            )
            await ws.send(json.dumps({"t": "control", "on": True}))
            assert "mouse: kind" in await answer_to(json.dumps({"t": "mouse", "kind": "explode", "x": 0.5, "y": 0.5}))
            assert "bad x" in await answer_to(json.dumps({"t": "mouse", "kind": "down", "x": "left", "y": 1}))
            assert "not a key" in await answer_to(json.dumps({"t": "key", "key": "F13"}))
            assert "unknown message" in await answer_to(json.dumps({"t": "format_disk"}))
            assert "1 to 10,000" in await answer_to(json.dumps({"t": "text", "text": "x" * 20_000}))
            assert "not waiting for an answer" in await answer_to(json.dumps({"t": "answer", "text": "hi"}))
        # The viewer left holding control: it was handed back, and the job runs on.
        await until(app, job_id, "running")
        target = app.live.registry.target(job_id)
        assert target is not None and not target.views["main"].takeover.held
    finally:
        release.set()
    assert (await ended(app, job_id)).status == "completed"
