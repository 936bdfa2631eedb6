"""Identity tools over stdio MCP, the way Claude Desktop runs the server: real processes, real restarts.

A persistent login must survive the server process ending and be there for a task run on the identity; a burner left
by a server that was killed must be reaped by the next one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from playwright.async_api import async_playwright

from tests.agent.support import page, tool
from tests.identities.conftest import LOGIN, WHOAMI
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, envelope, finished, ok, spawn_stdio
from tests.support.procs import alive, processes_naming, wait_gone
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

IDENTITY_TOOLS = {
    "create_identity",
    "list_identities",
    "get_identity",
    "destroy_identity",
    "open_session",
    "close_session",
}


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def env_for(site: Site, **extra: str) -> dict[str, str]:
    return {
        "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}",
        "BROWSA_WARM_SPARES": "0",
        "BROWSA_WARMUP_RECIPES": f"shop={site.url(WHOAMI)};news={site.url('/')}",
        **extra,
    }


async def _session_page(client: Client, identity_id: str) -> dict[str, Any]:
    args = {"identity_id": identity_id, "ttl": "10m", "cdp": True, "allowed_domains": ["*"]}
    return ok(await call(client, "open_session", args))


async def test_persistent_login_survives_a_server_restart(tmp_path: Path, id_site: Site) -> None:
    # One browser slot: the open session holds it, so a burner must wait for it.
    env = env_for(id_site, BROWSA_MAX_BURNERS="1")
    async with spawn_stdio(tmp_path, **env) as first:
        async with first.client() as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) >= IDENTITY_TOOLS and tools["create_identity"].description
            identity = ok(await call(client, "create_identity", {"persona": "returning customer", "country": "GB"}))
            assert identity["mode"] == "persistent" and identity["cdp_url"] is None
            session = await _session_page(client, identity["id"])
            assert session["cdp_url"] and session["identity_id"] == identity["id"]
            during = ok(await call(client, "get_identity", {"identity_id": identity["id"]}))
            assert during["cdp_url"] == session["cdp_url"] and during["session"]["kind"] == "interactive"
            async with async_playwright() as pw:
                browser = await pw.chromium.connect_over_cdp(session["cdp_url"])
                page = browser.contexts[0].pages[0]
                await page.goto(id_site.url(LOGIN))
                assert await page.evaluate("localStorage.getItem('token')") == "tok-alice42"
                await browser.close()

            busy = envelope(await call(client, "create_identity", {"ttl_seconds": 30}))
            assert busy["code"] == "TOO_MANY_REQUESTS" and 1 <= busy["retry_after"] <= 601
            unknown = envelope(await call(client, "create_identity", {"warmup_recipe": "nope"}))
            assert unknown["code"] == "BAD_REQUEST" and "news, shop" in unknown["error"]
            bad_ttl = envelope(await call(client, "create_identity", {"ttl": "2 weeks"}))
            assert bad_ttl["code"] == "BAD_REQUEST" and "duration" in bad_ttl["error"]
        # No close_session: the server ends (stdin closed, as when the host quits) and saves the session itself.
        await first.close_stdin()
        assert await first.wait_exit(60) == 0
        assert not processes_naming(f"browsa-agent-{identity['id']}")

    async with spawn_stdio(tmp_path, **env) as second, second.client() as client:
        again = await _session_page(client, identity["id"])
        assert again["cdp_url"] != session["cdp_url"]
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(again["cdp_url"])
            page = await browser.contexts[0].new_page()
            await page.goto(id_site.url(WHOAMI))
            seen = json.loads(await page.inner_text("#seen"))
            token = await page.evaluate("localStorage.getItem('token')")
            await browser.close()
        assert "sid=alice42" in seen["cookie"] and token == "tok-alice42"
        assert seen["accept_language"].startswith("en-GB")
        closed = ok(await call(client, "close_session", {"session_id": again["session_id"]}))
        assert closed["state_saved"] is True
        after = ok(await call(client, "get_identity", {"identity_id": identity["id"]}))
        assert after["status"] == "running" and after["cdp_url"] is None and after["session"] is None
        ended = envelope(await call(client, "close_session", {"session_id": again["session_id"]}))
        assert ended["code"] == "AGENT_NOT_RUNNING"

        # The slot is free again: a burner, driven over CDP, measured, destroyed.
        burner = ok(await call(client, "create_identity", {"ttl": "2m", "os_type": "OS_TYPE_LINUX", "country": "DE"}))
        assert burner["mode"] == "burner" and burner["status"] == "running" and burner["trust_band"] == "high"
        assert burner["cost_credits"] == 3 and burner["expires_at"] > burner["created_at"]
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(burner["cdp_url"])
            page = await browser.contexts[0].new_page()
            await page.goto(id_site.url(WHOAMI))
            tz = await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
            await browser.close()
        assert tz == "Europe/Berlin"
        full = ok(await call(client, "get_identity", {"identity_id": burner["id"], "include": ["trust", "detection"]}))
        assert full["trust"]["band"] == "high" and len(full["detection"]) >= 10
        gone = ok(await call(client, "destroy_identity", {"identity_id": burner["id"]}))
        assert gone["status"] == "destroyed" and gone["cdp_url"] is None
        ended = envelope(await call(client, "get_identity", {"identity_id": burner["id"], "include": ["fingerprint"]}))
        assert ended["code"] == "AGENT_NOT_RUNNING"
        # A burner identity is driven through its own cdp_url; a session runs on a persistent one.
        refused = envelope(await call(client, "open_session", {"identity_id": burner["id"]}))
        assert refused["code"] == "BAD_REQUEST" and "burner" in refused["error"]
        assert envelope(await call(client, "get_identity", {"identity_id": "agt_" + "0" * 20}))["code"] == "NOT_FOUND"
        listing = ok(await call(client, "list_identities", {"mode": "burner"}))
        assert [a["id"] for a in listing["agents"]] == [burner["id"]]


async def test_a_new_server_reaps_what_a_killed_one_left(tmp_path: Path, id_site: Site) -> None:
    env = env_for(id_site)
    async with spawn_stdio(tmp_path, **env) as doomed:
        async with doomed.client() as client:
            long = ok(await call(client, "create_identity", {"ttl": "10m"}))
            short = ok(await call(client, "create_identity", {"ttl_seconds": 10}))  # killed well before it ends
        orphans = processes_naming(f"browsa-agent-{short['id']}") + processes_naming(f"browsa-agent-{long['id']}")
        os.kill(doomed.pid, signal.SIGKILL)  # no shutdown at all: its Chromiums live on, reparented
        assert await doomed.wait_exit(10) == -signal.SIGKILL
        browsers = [p for p in orphans if "--type=" not in p.cmdline]  # the browser processes, not their helpers
        assert len(browsers) == 2 and all(alive(p) for p in browsers)
        # The short burner's TTL passes while no server runs it: the time passing is the test, and with no server
        # up there is nothing to wait on.
        await anyio.sleep(max(0.0, short["expires_at"] - time.time() + 0.5))

        async with spawn_stdio(tmp_path, **env) as successor, successor.client() as client:
            rows = {a["id"]: a for a in ok(await call(client, "list_identities", {}))["agents"]}
            assert rows[short["id"]]["status"] == "destroyed"
            assert "TTL ended while its server was down" in rows[short["id"]]["error_message"]
            assert rows[long["id"]]["status"] == "failed"
            assert "server process" in rows[long["id"]]["error_message"]
            assert (
                envelope(await call(client, "get_identity", {"identity_id": long["id"], "include": ["trust"]}))["code"]
                == "AGENT_NOT_RUNNING"
            )
        assert not wait_gone(orphans, timeout=20)


def report_cookie(request: PolicyRequest) -> PolicyReply:
    """A model that reads the whoami page and reports the session cookie the site received."""
    found = re.search(r"sid=\w+", page(request))
    return tool("done", result=found.group(0) if found else "no session cookie")


async def test_run_task_on_a_persistent_identity_runs_logged_in(tmp_path: Path, id_site: Site, vendor: FakeLLM) -> None:
    vendor.reset(report_cookie)
    llm = f"anthropic:claude-haiku-4-5@{vendor.anthropic_base_url}"
    async with spawn_stdio(tmp_path, **env_for(id_site), **vendor.env()) as server, server.client() as client:
        identity = ok(await call(client, "create_identity", {"persona": "task runner"}))
        # The user logs in by hand in an interactive session; the task comes later, in a session of its own.
        session = await _session_page(client, identity["id"])
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(session["cdp_url"])
            await browser.contexts[0].pages[0].goto(id_site.url(LOGIN))
            await browser.close()
        ok(await call(client, "close_session", {"session_id": session["session_id"]}))

        task = {
            "task": "Which session cookie does the site see?",
            "initial_url": id_site.url(WHOAMI),
            "identity_id": identity["id"],
            "llm": llm,
            "llm_api_key": "sk-ant-identity-test",
        }
        job = await finished(client, ok(await call(client, "run_task", task))["id"])
        assert job["status"] == "completed", job.get("error_message")
        assert job["result"]["final_result"] == "sid=alice42"
        account = ok(await call(client, "credits", {"ledger_rows": 50}))
        price = account["prices"]["persistent_session"]
        charges = [row for row in account["ledger"] if row["job_id"] == job["id"]]
        assert any(row["amount"] == -price and "identity session" in row["description"] for row in charges), charges
        assert job["credits_charged"] == -sum(row["amount"] for row in charges) >= price

        burner = ok(await call(client, "create_identity", {"ttl": "2m"}))
        refused = envelope(await call(client, "run_task", {**task, "identity_id": burner["id"]}))
        assert refused["code"] == "BAD_REQUEST" and "burner" in refused["error"]
        ok(await call(client, "destroy_identity", {"identity_id": identity["id"]}))
        gone = envelope(await call(client, "run_task", {**task, "identity_id": identity["id"]}))
        assert gone["code"] == "AGENT_NOT_RUNNING"
