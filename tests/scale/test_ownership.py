"""What stays with one process when several share a database: a host-driven session lives in the process that opened
it, which its answers name (served_by); another front-end asked about it says which process holds it. A front-end
that runs no browsers refuses what only it could run, saying where to go instead."""

from __future__ import annotations

import pytest
from mcp import Client

from tests.support.cluster import spawn_worker
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, envelope, ok, short_home, spawn_http
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def test_a_session_is_driven_only_through_the_process_that_opened_it(site: Site) -> None:
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}"}
    with (
        short_home() as home,
        spawn_http(home, "--no-auth", "--worker-id", "front-a", **env) as a,
        spawn_http(home, "--no-auth", "--worker-id", "front-b", **env) as b,
    ):
        async with Client(a.url) as on_a, Client(b.url) as on_b:
            opened = ok(await call(on_a, "open_session", {"initial_url": site.url("/")}))
            sid = opened["session_id"]
            assert opened["served_by"].endswith(":front-a")

            refused = envelope(await call(on_b, "observe", {"session_id": sid}))
            assert refused["code"] == "AGENT_NOT_RUNNING"
            assert refused["served_by"] == opened["served_by"]
            assert opened["served_by"] in refused["error"] and "served_by" in refused["error"]
            assert ok(await call(on_b, "list_sessions"))["count"] == 0  # b holds no session

            # The owner still drives it, untouched by b's refusal.
            seen = ok(await call(on_a, "observe", {"session_id": sid}))
            assert seen["ok"] and seen["url"].startswith(site.url("/"))
            ok(await call(on_a, "close_session", {"session_id": sid}))


def _done(_request: PolicyRequest) -> PolicyReply:
    return PolicyReply.tool("done", result="read the page")


async def test_a_front_end_without_browsers_refuses_sessions_and_call_keyed_tasks(site: Site) -> None:
    with FakeLLM(_done) as vendor, short_home() as home:
        env = {**vendor.env(), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}", "ANTHROPIC_API_KEY": "k"}
        with spawn_http(home, "--no-auth", "--no-worker", **env) as front, spawn_worker(home, "w1", **env):
            async with Client(front.url) as client:
                session = envelope(await call(client, "open_session", {"initial_url": site.url("/")}))
                assert session["code"] == "BAD_REQUEST" and "--no-worker" in session["error"]

                keyed = envelope(
                    await call(client, "run_task", {"task": "Read the page", "llm_api_key": "sk-ant-from-the-call"})
                )
                assert keyed["code"] == "BAD_REQUEST" and "BROWSA_LLM_API_KEY" in keyed["error"]
                listed = ok(await call(client, "list_jobs"))
                assert [j["kind"] for j in listed["jobs"]] == []  # neither left a job behind

                # A task on the workers' own key runs on the worker.
                task = ok(await call(client, "run_task", {"task": "Read the page", "initial_url": site.url("/")}))
                done = ok(await call(client, "get_job", {"job_id": task["id"], "wait": 50}))
                while done["status"] in ("queued", "running"):
                    done = ok(await call(client, "get_job", {"job_id": task["id"], "wait": 50}))
                assert done["status"] == "completed", done
