"""The input_required hand-off: ask_human, respond_to_job, and secret answers that never reach the model or disk.

The worker keeps its lease and its browser while it waits; the answer travels through the jobs table.
"""

from __future__ import annotations

import re

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.engine.observation import MASK
from mcp_browsa.engine.requests import TaskRequest
from mcp_browsa.errors import AgentNotRunning
from tests.agent.support import CALLER, ended, index, page, page_url, tool, until
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def test_ask_human_round_trip_through_respond_to_job(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    hook = await app.webhooks.create(CALLER.workspace_id, shop.url("/hook"), ["job.input_required"])

    def policy(request: PolicyRequest) -> PolicyReply:
        answered = re.search(r'the user answered: "([^"]+)"', request.observation)
        if answered is None:
            return tool("ask_human", question="Which product should I look up?")
        if page_url(request).endswith("/agent/search.html"):
            return tool("type", index=index(request, "name=q"), text=answered.group(1), submit=True)
        return tool("done", result=page(request).split("Showing ", 1)[1].split("\n", 1)[0])

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(task="Search for what the user wants", llm=claude, initial_url=shop.url("/agent/search.html")),
    )
    asked = await until(app, job.id, "input_required")
    assert asked.question is not None and asked.question.startswith("Which product should I look up?")
    assert asked.live_url is not None and asked.question.endswith(asked.live_url)  # the browser it is about, live
    assert asked.hint is not None and "respond_to_job" in asked.hint
    assert asked.step_count == 1 and asked.last_action is not None and "asked the user" in asked.last_action
    # The worker still holds the job, and its browser, while it waits.
    row = await app.db.fetchone("SELECT lease_owner, lease_token FROM jobs WHERE id=?", (job.id,))
    assert row is not None and row["lease_owner"] == app.workers.owner and row["lease_token"]
    assert app.pool.in_use >= 1

    resumed = await app.respond_to_job(CALLER, job.id, "headphones")
    assert resumed.status == "running" and resumed.question is None
    with pytest.raises(AgentNotRunning):
        await app.respond_to_job(CALLER, job.id, "again")

    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["final_result"] == '1 results for "headphones" (relevance)'
    events = [e.type for e in (await app.get_job(CALLER, job.id, events_after=0, events_limit=100)).events or []]
    assert events.index("job.input_required") < events.index("human.answered") < events.index("job.completed")
    outbox = await app.db.fetchall(
        "SELECT event_type, body FROM webhook_outbox WHERE webhook_id=? AND event_type='job.input_required'", (hook.id,)
    )
    assert len(outbox) == 1 and "Which product should I look up?" in outbox[0]["body"]
    await app.webhooks.delete(CALLER.workspace_id, hook.id)


async def test_a_secret_answer_is_typed_by_placeholder_and_never_seen_or_stored(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    secret = "hunter2-Correct-Horse"

    def policy(request: PolicyRequest) -> PolicyReply:
        placeholder = re.search(r"type it as (\{\{secret:[^}]+\}\})", request.observation)
        if placeholder is None:
            return tool("ask_human", question="What is the account password?")
        name_line = next(ln for ln in page(request).splitlines() if "name=name" in ln)
        if "value=" not in name_line:
            # A text field, so the page shows the value back: the observation must mask it.
            return tool("type", index=index(request, "name=name"), text=placeholder.group(1))
        assert f'value="{MASK}"' in name_line
        return tool("done", result="typed it")

    fake.policy = policy
    job = await app.run_task(CALLER, TaskRequest(task="Log in", llm=gpt, initial_url=shop.url("/agent/form.html")))
    await until(app, job.id, "input_required")
    await app.respond_to_job(CALLER, job.id, secret, secret=True)
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message

    assert fake.calls == 3
    for request in fake.requests:
        assert secret not in str(request["body"])
    timeline = await app.get_job(CALLER, job.id, events_after=0, events_limit=100)
    assert secret not in timeline.model_dump_json()
    answered = next(e for e in timeline.events or [] if e.type == "human.answered")
    assert answered.data == {"secret": True, "answer": MASK}
    for path in app.settings.home.glob("browsa.db*"):
        assert secret.encode() not in path.read_bytes(), path
    # The sealed answer lived in the vault for this job only, and went with it.
    left = await app.db.fetchall("SELECT name FROM vault_secrets WHERE name LIKE ?", (f"_job.{job.id}.%",))
    assert left == []


async def test_cancel_while_waiting_for_the_human(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    fake.policy = lambda request: tool("ask_human", question="Shall I go on?")
    job = await app.run_task(
        CALLER, TaskRequest(task="Ask first", llm=claude, initial_url=shop.url("/agent/cart.html"))
    )
    await until(app, job.id, "input_required")
    await app.cancel_job(CALLER, job.id)
    job = await ended(app, job.id)
    assert job.status == "cancelled" and job.question is None
    assert job.error_message is not None and "waiting for the user" in job.error_message
