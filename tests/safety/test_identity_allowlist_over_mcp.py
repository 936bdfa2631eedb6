"""An identity's own allowed_domains holds for every job run on it, beside the job's own list: a host must pass both.

The identity allows only `public` (127.0.0.1); `cdn` (127.0.0.2) is as public as it, and allowed by the jobs here,
but never by the identity, so a task or a login on the identity must not reach it.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.safety.conftest import Stack
from tests.support.fake_llm import PolicyReply, PolicyRequest
from tests.support.mcp_server import call, envelope, finished, ok
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

ARTICLE = "/foundation/article.html"


def read_and_finish(_request: PolicyRequest) -> PolicyReply:
    return PolicyReply.tool("done", result="read it")


@pytest.fixture(scope="module")
async def identity(stack: Stack) -> dict[str, Any]:
    stack.fake.reset(read_and_finish)
    created = ok(
        await call(stack.client, "create_identity", {"persona": "allowlisted", "allowed_domains": ["127.0.0.1"]})
    )
    assert created["mode"] == "persistent" and created["status"] == "running", created
    return created


async def run_task(client: Client, identity: dict[str, Any], url: str, **args: Any) -> dict[str, Any]:
    job = ok(
        await call(
            client, "run_task", {"task": "Read the article", "initial_url": url, "identity_id": identity["id"], **args}
        )
    )
    return await finished(client, job["id"])


async def test_a_task_on_the_identity_cannot_reach_a_host_its_allowlist_leaves_out(
    stack: Stack, identity: dict[str, Any], public: Site, cdn: Site
) -> None:
    cdn.requests.clear()
    for allowed in (None, ["*"], ["127.0.0.2", "127.0.0.1"]):
        job = await run_task(stack.client, identity, cdn.url(ARTICLE), allowed_domains=allowed)
        assert job["status"] == "failed" and job["error_code"] == "BLOCKED", job
        assert "allowed_domains" in job["error_message"]
    assert cdn.requests == []
    job = await run_task(stack.client, identity, public.url(ARTICLE), allowed_domains=["*"])
    assert job["status"] == "completed", job
    assert job["result"]["final_result"] == "read it"


async def test_a_login_on_the_identity_cannot_reach_a_host_its_allowlist_leaves_out(
    stack: Stack, identity: dict[str, Any], public: Site, cdn: Site
) -> None:
    cdn.requests.clear()
    refused = envelope(
        await call(stack.client, "login", {"service": "site", "url": cdn.url("/login"), "identity_id": identity["id"]})
    )
    assert refused["code"] == "FORBIDDEN" and refused["job_error_code"] == "BLOCKED", refused
    assert "allowed_domains" in refused["error"]
    assert cdn.requests == []
    done = ok(
        await call(
            stack.client, "login", {"service": "site", "url": public.url("/login"), "identity_id": identity["id"]}
        )
    )
    assert done["status"] == "completed" and done["result"]["logged_in"] is True, done
