"""Webhooks end to end through the real server: the MCP tools, job events from real jobs, a restart, the CLI.

The server runs as a subprocess (stdio or HTTP), the endpoint is a real local receiver verifying both signatures,
and the pages come from the local `site` server.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.engine.requests import ScrapeRequest
from tests.support.mcp_server import envelope, free_port, run_cli, spawn_http, stdio_client
from tests.support.pages import GATED, add_pages
from tests.support.sites import Site, respond
from tests.webhooks.receiver import Receiver, Reply, serve_receiver

pytestmark = pytest.mark.anyio

PAGE = b"<html><head><title>Hook page</title></head><body><h1>Hello hooks</h1><p>Some text.</p></body></html>"


def page(handler: SimpleHTTPRequestHandler) -> None:
    respond(handler, PAGE, "text/html")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


def env_for(receiver: Receiver, site: Site | None = None, **extra: str) -> dict[str, str]:
    allowed = [f"127.0.0.1:{receiver.port}"] + ([f"127.0.0.1:{site.port}"] if site else [])
    return {"BROWSA_ALLOW_PRIVATE_NETWORK": ",".join(allowed), "BROWSA_WEBHOOK_POLL_INTERVAL": "0.2", **extra}


async def tool(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def wait_for(receiver: Receiver, count: int, event_type: str) -> None:
    await anyio.to_thread.run_sync(lambda: receiver.wait_for(lambda _d: len(receiver.of_type(event_type)) >= count))


async def test_tools_and_job_events(home: Path, receiver: Receiver, site: Site, database_env: dict[str, str]) -> None:
    site.routes["/hook-page"] = page
    async with stdio_client(home, **env_for(receiver, site, **database_env)) as client:
        created = await tool(client, "create_webhook", url=receiver.url, events=["job.completed", "job.failed"])
        receiver.secret = created["secret"]
        assert created["secret"].startswith("whsec_") and created["status"] == "active"
        listing = await tool(client, "list_webhooks")
        assert listing["count"] == 1 and "secret" not in listing["webhooks"][0]

        # Synchronous calls hand their answer back in the call: no event follows them, success or failure.
        sync_done = await tool(client, "scrape", url=site.url("/hook-page"))
        sync_blocked = await client.call_tool("scrape", {"url": f"http://localhost:{free_port()}/"})
        assert sync_done["status"] == "completed" and envelope(sync_blocked)["code"] == "FORBIDDEN"
        # async=true returns the job at once; its end is announced.
        done = await tool(client, "scrape", url=site.url("/hook-page"), **{"async": True})
        # A name passes the up-front check; the guard then finds it resolves to an unexempted private address.
        blocked = await tool(client, "scrape", url=f"http://localhost:{free_port()}/", **{"async": True})

        await wait_for(receiver, 1, "job.completed")
        await wait_for(receiver, 1, "job.failed")
        (completed,) = receiver.of_type("job.completed")
        (failed,) = receiver.of_type("job.failed")
        assert completed.standard_ok and completed.agents_ok and failed.standard_ok and failed.agents_ok
        event = completed.event
        assert event["workspace_id"] == "ws_default" and event["id"].startswith("evt_")
        data = event["data"]
        assert data["job_id"] == done["id"] and data["kind"] == "scrape" and data["status"] == "completed"
        assert data["progress_done"] == data["progress_total"] == 1 and data["credits_charged"] >= 1
        assert "Hello hooks" in data["result"]["markdown"] and "job" not in data
        fdata = failed.event["data"]
        assert fdata["job_id"] == blocked["id"] and fdata["kind"] == "scrape"
        assert fdata["error_code"] == "BLOCKED" and "blocked by the URL guard" in fdata["error_message"]

        ping = await tool(client, "ping_webhook", webhook_id=created["id"])
        assert ping["delivered"] and ping["status_code"] == 200
        assert receiver.of_type("webhook.test")[0].standard_ok

        log = await tool(client, "webhook_deliveries", webhook_id=created["id"], limit=10)
        assert log["count"] == 3 and {a["delivery_status"] for a in log["attempts"]} == {"delivered"}
        assert log["pending"] == 0  # nothing was queued for the two synchronous calls either

        bad_event = await client.call_tool("create_webhook", {"url": receiver.url, "events": ["job.exploded"]})
        assert envelope(bad_event)["code"] == "BAD_REQUEST"
        too_many = await client.call_tool("webhook_deliveries", {"webhook_id": created["id"], "limit": 201})
        assert envelope(too_many)["code"] == "BAD_REQUEST"
        private = await client.call_tool("create_webhook", {"url": f"http://127.0.0.1:{free_port()}/x"})
        assert "BROWSA_ALLOW_PRIVATE_NETWORK" in envelope(private)["error"]

        await tool(client, "delete_webhook", webhook_id=created["id"])
        assert (await tool(client, "list_webhooks"))["count"] == 0
        gone = await client.call_tool("webhook_deliveries", {"webhook_id": created["id"]})
        assert envelope(gone)["code"] == "NOT_FOUND"


async def test_pending_deliveries_survive_a_restart(
    home: Path, receiver: Receiver, database_env: dict[str, str]
) -> None:
    # The endpoint is down while the first server runs; it comes back only after that server has stopped.
    receiver.script = lambda _n: Reply(503)
    env = env_for(receiver, BROWSA_WEBHOOK_RETRY_SCHEDULE="2s,2s", BROWSA_WARM_SPARES="0", **database_env)
    with spawn_http(home, "--no-auth", **env) as server:
        async with Client(server.url) as client:
            created = await tool(client, "create_webhook", url=receiver.url)
            receiver.secret = created["secret"]
            first = await tool(client, "ping_webhook", webhook_id=created["id"])
        assert not first["delivered"] and first["status_code"] == 503
    assert len(receiver.deliveries) == 1

    receiver.script = lambda _n: Reply(200)
    with spawn_http(home, "--no-auth", **env) as server:
        await anyio.to_thread.run_sync(lambda: receiver.wait_for(lambda ds: ds[-1].answered == 200))
        async with Client(server.url) as client:
            log = await tool(client, "webhook_deliveries", webhook_id=created["id"])

    ids = {d.headers["webhook-id"] for d in receiver.deliveries}
    assert ids == {first["event_id"]} and len(receiver.deliveries) == 2
    assert all(d.standard_ok and d.agents_ok for d in receiver.deliveries)
    assert [a["status_code"] for a in log["attempts"]] == [200, 503]


def test_cli_manages_webhooks(tmp_path: Path, receiver: Receiver) -> None:
    env = env_for(receiver)
    made = run_cli(tmp_path, "--json", "webhooks", "create", receiver.url, "--event", "job.failed", **env)
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    receiver.secret = created["secret"]

    # The secret is printed once, at creation; listing shows the endpoint without it, as text or JSON.
    for listing in (
        run_cli(tmp_path, "webhooks", "list", **env),
        run_cli(tmp_path, "--json", "webhooks", "list", **env),
    ):
        assert listing.returncode == 0, listing.stderr
        assert created["id"] in listing.stdout and receiver.url in listing.stdout
        assert created["secret"] not in listing.stdout + listing.stderr
        assert created["secret"].removeprefix("whsec_") not in listing.stdout + listing.stderr

    pinged = run_cli(tmp_path, "webhooks", "ping", created["id"], **env)
    assert pinged.returncode == 0 and "delivered (HTTP 200" in pinged.stdout
    assert receiver.deliveries[0].standard_ok and receiver.deliveries[0].agents_ok

    log = run_cli(tmp_path, "--json", "webhooks", "deliveries", created["id"], "--limit", "5", **env)
    assert json.loads(log.stdout)["attempts"][0]["status_code"] == 200
    assert run_cli(tmp_path, "webhooks", "delete", created["id"], **env).returncode == 0
    missing = run_cli(tmp_path, "webhooks", "deliveries", created["id"], **env)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


async def test_batches_are_announced_and_provisioned_identities_carry_their_cost(
    home: Path, receiver: Receiver, site: Site, database_env: dict[str, str]
) -> None:
    site.routes["/hook-page"] = page
    async with stdio_client(home, **env_for(receiver, site, **database_env)) as client:
        created = await tool(client, "create_webhook", url=receiver.url, events=["job.completed", "agent.provisioned"])
        receiver.secret = created["secret"]
        batch = await tool(client, "batch", urls=[site.url("/hook-page"), site.url("/hook-page?b=2")])
        identity = await tool(client, "create_identity", mode="persistent", persona="hooked")
        await wait_for(receiver, 1, "job.completed")
        await wait_for(receiver, 1, "agent.provisioned")
        await tool(client, "destroy_identity", identity_id=identity["id"])

    (completed,) = receiver.of_type("job.completed")
    data = completed.event["data"]
    assert data["job_id"] == batch["id"] and data["kind"] == "batch"
    assert data["progress_done"] == data["progress_total"] == 2
    assert data["result"] == {"total": 2, "completed": 2, "failed": 0} and data["credits_charged"] >= 2
    (provisioned,) = receiver.of_type("agent.provisioned")
    pdata = provisioned.event["data"]
    assert pdata["agent_id"] == pdata["profile_id"] == identity["id"]
    assert pdata["cost_credits"] == identity["cost_credits"] > 0


async def test_a_call_that_returns_before_its_page_is_read_is_announced(receiver: Receiver, site: Site) -> None:
    """A synchronous scrape whose wait ran out handed back a job to poll: its end is announced like an async job's."""
    gate = add_pages(site)
    home = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        settings = load_settings({"BROWSA_HOME": str(home), **env_for(receiver, site)})
        async with Browsa(settings).running() as app:
            hook = await app.webhooks.create(Caller().workspace_id, receiver.url, ["job.completed"])
            receiver.secret = hook.secret
            job = await app.scrape(Caller(), ScrapeRequest(url=site.url(f"{GATED}?n=late"), formats=["text"]), wait=0.5)
            assert job.status in ("queued", "running")  # the caller got a job to poll, not the page
            gate.set()
            await wait_for(receiver, 1, "job.completed")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    (completed,) = receiver.of_type("job.completed")
    assert completed.event["data"]["job_id"] == job.id and completed.event["data"]["status"] == "completed"
