"""A job that ran on an identity names it: `agent_id` on get_job, list_jobs and the job's webhook event."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.support import tool
from tests.identities.conftest import WHOAMI
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, finished, ok, stdio_client
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


def done_at_once(_request: PolicyRequest) -> PolicyReply:
    return tool("done", result="seen")


async def test_a_task_on_an_identity_carries_its_agent_id(home: Path, id_site: Site) -> None:
    with FakeLLM(done_at_once) as vendor:
        env = {**vendor.env(), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{id_site.port}", "ANTHROPIC_API_KEY": "k"}
        async with stdio_client(home, **env) as client:
            identity = ok(await call(client, "create_identity", {"mode": "persistent", "persona": "worker"}))
            task = {"task": "Say what you see", "initial_url": id_site.url(WHOAMI)}
            on_identity = ok(await call(client, "run_task", {**task, "identity_id": identity["id"]}))
            plain = ok(await call(client, "run_task", task))
            ended = await finished(client, on_identity["id"])
            ended_plain = await finished(client, plain["id"])
            listed = {j["id"]: j for j in ok(await call(client, "list_jobs", {"kind": "task"}))["jobs"]}
            ok(await call(client, "destroy_identity", {"identity_id": identity["id"]}))
    assert ended["status"] == "completed", ended
    assert on_identity["agent_id"] == ended["agent_id"] == listed[ended["id"]]["agent_id"] == identity["id"]
    assert ended_plain.get("agent_id") is None and listed[plain["id"]]["agent_id"] is None
