"""Agent tasks through a real MCP client over stdio, against a spawned `mcp-browsa` and the fake vendor over HTTP.

Over stdio: run_task with wait and progress notifications, the step timeline paged through get_job, screenshots
as resources and images, the call's API key nowhere on disk afterwards. Over one shared HTTP server, clients of
each kind: questions put to the user by elicitation (handshake-era request, and 2026-07-28 retry), or left in
input_required for respond_to_job; a batch of tasks.
"""

from __future__ import annotations

import base64
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp_types import BlobResourceContents, ElicitRequestParams, ElicitResult, ImageContent

from mcp_browsa.surface import SHARED_ARGUMENTS
from tests.agent.support import index, page, page_url, tool
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import HttpServer, envelope, finished, ok, spawn_http, stdio_client
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

KEY = "sk-ant-mcp-test-KEY-7f3a9c"
QUESTION = "Which product should I look up?"
PRODUCT = {"type": "object", "properties": {"name": {"type": "string"}, "price": {"type": "number"}}}


@pytest.fixture(scope="module")
def shop() -> Iterator[Site]:
    with serve_site() as site:
        yield site


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mb-"))  # short: Chromium's socket path must stay under 108 bytes
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def http(vendor: FakeLLM, shop: Site) -> Iterator[HttpServer]:
    """One HTTP server for the module: each test connects its own kind of client to it."""
    path = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        with spawn_http(
            path, "--no-auth", **vendor.env(), BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{shop.port}"
        ) as srv:
            yield srv
    finally:
        shutil.rmtree(path, ignore_errors=True)


def connect(http: HttpServer, **options: Any) -> Client:
    return Client(http.url, read_timeout_seconds=180, **options)


def shopping(request: PolicyRequest) -> PolicyReply:
    """Search for what the user asked (asking first when the task says so), open the first hit, report it."""
    task = request.observation.split("TASK:\n", 1)[1].split("\n", 1)[0]
    if task.startswith("Count"):
        return tool("done", result=str(len(re.findall(r"Order #\d+", page(request)))))
    wanted = "earbuds"
    if task.startswith("Ask"):
        said = re.search(r'the user answered: "([^"]+)"|type it as (\{\{secret:[^}]+\}\})', request.observation)
        if said is None:
            return tool("ask_human", question=QUESTION)
        wanted = said.group(1) or said.group(2)
    url = page_url(request)
    if url.endswith("/agent/search.html"):
        return tool("type", index=index(request, "name=q"), text=wanted, submit=True)
    if "/agent/results.html" in url:
        hits = re.findall(r"^\[\d+\] <a href=/agent/product\.html[^>]*> (.+)$", page(request), re.MULTILINE)
        if not hits:
            return tool("done", result="nothing found")
        return tool("click", index=index(request, hits[0]))
    found = re.search(r"^TITLE: (.+)$", page(request), re.MULTILINE)
    price = re.search(r"Price: \$([\d.]+)", page(request))
    assert found is not None and price is not None
    return tool("done", result=found.group(1), data={"name": found.group(1), "price": float(price.group(1))})


def on_disk(home: Path, needle: str) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


async def test_run_task_waits_with_progress_and_get_job_pages_the_timeline(
    home: Path, vendor: FakeLLM, shop: Site
) -> None:
    vendor.reset(shopping, valid_keys={KEY})
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    env = {**vendor.env(), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{shop.port}"}
    async with stdio_client(home, **env) as client:
        args = {
            "task": "Find the earbuds and their price",
            "initial_url": shop.url("/agent/search.html"),
            "llm_api_key": KEY,
            "output": PRODUCT,
            "wait": 60,
        }
        job = ok(await client.call_tool("run_task", args, progress_callback=on_progress))
        assert job["status"] == "completed", job.get("error_message")
        assert job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
        assert job["kind"] == "task" and job["step_count"] == 3 and job["input_tokens"] > 0 and job["cost_usd"] > 0

        # Progress: step N of max_steps, with the last action in words.
        assert progress and {total for _done, total, _message in progress} == {20.0}
        messages = [m or "" for _done, _total, m in progress]
        assert any(re.search(r"step 1: typed \"earbuds\"", m) for m in messages), messages
        assert [d for d, _t, _m in progress] == sorted(d for d, _t, _m in progress)

        first = ok(
            await client.call_tool("get_job", {"job_id": job["id"], "wait": 0, "events_after": 0, "events_limit": 3})
        )
        assert [e["type"] for e in first["events"]] == ["job.queued", "job.started", "step"]
        cursor = first["events"][-1]["id"]
        rest = ok(await client.call_tool("get_job", {"job_id": job["id"], "wait": 0, "events_after": cursor}))
        assert rest["events"][0]["id"] > cursor and rest["events"][-1]["type"] == "job.completed"
        assert [e["data"]["action"] for e in first["events"] + rest["events"] if e["type"] == "step"] == [
            "type",
            "click",
            "done",
        ]

        shots = await client.call_tool("get_job", {"job_id": job["id"], "wait": 0, "include_screenshots": True})
        uri = f"browsa://jobs/{job['id']}/screenshots/1"
        assert ok(shots)["screenshots"] == [uri]
        images = [c for c in shots.content if isinstance(c, ImageContent)]
        assert len(images) == 1 and base64.b64decode(images[0].data).startswith(b"\x89PNG")
        blob = (await client.read_resource(uri)).contents[0]
        assert isinstance(blob, BlobResourceContents) and base64.b64decode(blob.blob).startswith(b"\x89PNG")

        no_key = await client.call_tool("run_task", {"task": "x", "llm": "openai:gpt-4.1-mini@"})
        assert envelope(no_key)["code"] == "BAD_REQUEST"
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in ("run_task", "respond_to_job", "get_job"):
            assert tools[name].description
            for field, spec in tools[name].input_schema["properties"].items():
                assert spec.get("description") or field in SHARED_ARGUMENTS, f"{name}.{field} has no description"
    assert on_disk(home, KEY) == []  # the key lived in the server's memory only


class Elicitor:
    """A client user who answers every question the same way, remembering what was asked."""

    def __init__(self, answer: str, *, secret: bool = False) -> None:
        self.answer = answer
        self.secret = secret
        self.asked: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action="accept", content={"answer": self.answer, "secret": self.secret})


async def test_a_question_is_elicited_from_a_handshake_era_client_inside_the_call(
    http: HttpServer, vendor: FakeLLM, shop: Site
) -> None:
    vendor.reset(shopping)
    user = Elicitor("headphones")
    async with connect(http, mode="legacy", elicitation_callback=user) as client:
        args = {"task": "Ask what to look up, then find it", "initial_url": shop.url("/agent/search.html"), "wait": 60}
        job = ok(await client.call_tool("run_task", args))
    assert len(user.asked) == 1 and user.asked[0].startswith(QUESTION) and "/live/" in user.asked[0]
    assert job["status"] == "completed", job.get("error_message")
    assert job["result"]["final_result"] == "Over-ear Headphones"


async def test_a_secret_is_elicited_through_input_required_and_kept_from_the_model(
    http: HttpServer, vendor: FakeLLM, shop: Site
) -> None:
    secret = "wireless-S3CRET-query"
    vendor.reset(shopping)
    user = Elicitor(secret, secret=True)
    async with connect(http, elicitation_callback=user) as client:
        args = {"task": "Ask what to look up, then find it", "initial_url": shop.url("/agent/search.html"), "wait": 60}
        job = ok(await client.call_tool("run_task", args))
        assert len(user.asked) == 1 and user.asked[0].startswith(QUESTION)
        assert job["status"] == "completed", job.get("error_message")
        assert job["result"]["final_result"] == "nothing found"  # the secret matches no product
        timeline = ok(await client.call_tool("get_job", {"job_id": job["id"], "wait": 0, "events_after": 0}))
        assert secret not in str(timeline)
    assert secret not in str([r["body"] for r in vendor.requests])  # typed, masked on every page after
    assert any("••••" in str(r["body"]) for r in vendor.requests)
    assert on_disk(http.home, secret) == []


async def test_without_elicitation_the_job_waits_for_respond_to_job(
    http: HttpServer, vendor: FakeLLM, shop: Site
) -> None:
    vendor.reset(shopping)
    async with connect(http) as client:
        args = {"task": "Ask what to look up, then find it", "initial_url": shop.url("/agent/search.html"), "wait": 30}
        job = ok(await client.call_tool("run_task", args))
        assert job["status"] == "input_required" and job["question"].startswith(QUESTION)
        assert job["live_url"] and job["question"].endswith(job["live_url"])  # where to see what it asks about
        assert "respond_to_job" in job["hint"]
        answered = ok(await client.call_tool("respond_to_job", {"job_id": job["id"], "answer": "usb"}))
        assert answered["status"] in ("running", "completed")
        late = await client.call_tool("respond_to_job", {"job_id": job["id"], "answer": "usb"})
        assert envelope(late)["code"] == "AGENT_NOT_RUNNING"
        final = await finished(client, job["id"])
        assert final["status"] == "completed" and final["result"]["final_result"] == "USB-C Charger 65W"

        once = {"task": "Count the orders", "initial_url": shop.url("/agent/list.html"), "idempotency_key": "count-1"}
        first = ok(await client.call_tool("run_task", once))
        again = ok(await client.call_tool("run_task", {**once, "llm_api_key": "sk-another-key"}))
        assert again["id"] == first["id"] and again["idempotent_replay"] is True and "idempotent_replay" not in first
        conflict = await client.call_tool("run_task", {**once, "task": "Count them twice"})
        assert envelope(conflict)["code"] == "IDEMPOTENCY_CONFLICT"
        assert (await finished(client, first["id"]))["result"]["final_result"] == "5"

        both = await client.call_tool(
            "batch", {"urls": [shop.url("/agent/list.html")], "tasks": [{"instruction": "x"}]}
        )
        assert envelope(both)["code"] == "BAD_REQUEST"
        rows = [{"instruction": "Count the orders on this page", "url": shop.url("/agent/list.html")}]
        batch = ok(await client.call_tool("batch", {"tasks": rows, "max_steps": 3}))
        done = await finished(client, batch["id"])
        assert done["status"] == "completed" and done["items"][0]["status"] == "completed"
        assert done["items"][0]["result"]["final_result"] == "5"
