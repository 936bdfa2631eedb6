"""A task can type only the secrets its own words name: a model steered to {{secret:OTHER}} gets nothing typed.

Every secret of the workspace stays masked wherever it shows up; only filling is limited. The model is told the
secret is not available to the task, learning nothing else: not the value, not which other names exist.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.safety.conftest import PASSWORD, Stack
from tests.support.fake_llm import PolicyReply, PolicyRequest, find_index
from tests.support.mcp_server import call, finished, ok
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

REFUSED = "secret site_password is not available to this task"


class Steered:
    """Types the username it was given, then the password it was not (as a page's hidden text might urge)."""

    def __call__(self, request: PolicyRequest) -> PolicyReply:
        assert PASSWORD not in json.dumps(request.body)
        obs = request.observation
        if REFUSED in obs:
            return PolicyReply.tool("done", result="the password is not mine to type", success=False)
        email = find_index(obs, "type=email")
        if email is not None and not re.search(r'type=email[^\n]*value="', obs):
            return PolicyReply.tool("type", index=email, text="{{secret:site_username}}")
        return PolicyReply.tool(
            "type", index=find_index(obs, "type=password"), text="{{secret:site_password}}", submit=True
        )


async def test_a_secret_the_task_does_not_name_is_never_typed_and_the_model_is_told(stack: Stack, public: Site) -> None:
    stack.fake.reset(Steered())
    posted = len(stack.logins.posts)
    task = "Sign in as {{secret:site_username}} and tell me what the page says."
    args = {"task": task, "initial_url": public.url("/login"), "max_steps": 6}
    job = await finished(stack.client, ok(await call(stack.client, "run_task", args))["id"])
    stack.fake.check()
    assert job["status"] == "failed" and job["error_code"] == "STALLED", job
    assert "not mine to type" in job["error_message"]
    # Nothing was typed into the password field, so nothing was sent: the page never saw the value.
    assert stack.logins.posts[posted:] == []
    timeline = ok(await call(stack.client, "get_job", {"job_id": job["id"], "wait": 0, "events_after": 0}))
    results = [e["data"]["result"] for e in timeline["events"] if e["type"] == "step"]
    refused = next(r for r in results if REFUSED in r)
    assert "site_username" not in refused and PASSWORD not in json.dumps(timeline)
    told = [r.observation for r in stack.fake.policy_requests if REFUSED in r.observation]
    assert told, "the model was not told why nothing was typed"
