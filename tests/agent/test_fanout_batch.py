"""Several browsers for one job: fanout races N burners on one task; a batch runs many tasks, each row on its own.

The first success wins a race and the others are cancelled, paying only for the steps they took; a batch row
that fails never fails the batch.
"""

from __future__ import annotations

import re
import threading

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import TaskBatchRequest, TaskRequest, TaskRow
from tests.agent.support import CALLER, ended, page, released, tool
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

PRODUCT = "/agent/product.html?id=101"


async def test_fanout_the_first_success_wins_and_the_rest_are_cancelled(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    lock = threading.Lock()
    won: list[bool] = []
    with released(threading.Event()) as hold:

        def policy(request: PolicyRequest) -> PolicyReply:
            with lock:
                first = not won
                won.append(True)
            if first:
                return tool("done", result="found it first")
            hold.wait(15)  # still thinking when the winner finishes
            return tool("scroll", direction="down")

        fake.policy = policy
        job = await app.run_task(
            CALLER, TaskRequest(task="Race for it", llm=claude, initial_url=shop.url(PRODUCT), fanout=3)
        )
        job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["fanout"] == 3 and job.result["attempt"] in (0, 1, 2)
    assert job.result["final_result"] == "found it first"
    events = (await app.get_job(CALLER, job.id, events_after=0, events_limit=200)).events or []
    race = next(e.data for e in events if e.type == "fanout.won")
    assert race["attempt"] == job.result["attempt"] and len(race["cancelled"]) == 2
    # Only the winner's step ran to the end and was charged; every started burner was paid for.
    assert job.step_count == 1
    ledger = [e for e in (await app.credits(CALLER, limit=100)).ledger if e.job_id == job.id]
    burners = [e for e in ledger if "burner" in e.description]
    steps = [e for e in ledger if "agent step" in e.description]
    assert len(steps) == 1 and steps[0].description.startswith(f"#{job.result['attempt']} ")
    assert 1 <= len(burners) <= 3 and job.credits_charged == len(burners) + 1
    assert job.screenshots is not None and len(job.screenshots) == 1


async def test_a_batch_of_agent_tasks_each_row_with_its_own_status(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        task = request.observation.split("TASK:\n", 1)[1].split("\n", 1)[0]
        assert "ask_human" not in request.tools  # nobody is there to answer a batch
        if task.startswith("Price"):
            found = re.search(r"Price: \$([\d.]+)", page(request))
            assert found is not None
            return tool("done", result="ok", data={"price": float(found.group(1))})
        if task.startswith("Count"):
            return tool("done", result=str(len(re.findall(r"Order #\d+", page(request)))))
        return tool("done", result="there are no bicycles here", success=False)

    fake.policy = policy
    rows = [
        TaskRow(
            instruction="Price of this product",
            url=shop.url(PRODUCT),
            output={"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]},
        ),
        TaskRow(instruction="Find a bicycle", url=shop.url("/agent/search.html")),
        TaskRow(instruction="Count the orders on this page", url=shop.url("/agent/list.html")),
    ]
    job = await app.batch_tasks(CALLER, TaskBatchRequest(tasks=rows, llm=gpt, concurrency=2))
    assert job.kind == "batch" and job.progress_total == 3
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result == {"total": 3, "completed": 2, "failed": 1}
    items = job.items or []
    assert [i.status for i in items] == ["completed", "failed", "completed"]
    assert items[0].url == shop.url(PRODUCT) and items[0].result is not None
    assert items[0].result["data"] == {"price": 39.99}
    assert items[1].error_code == "STALLED" and items[1].error_message is not None
    assert "no bicycles" in items[1].error_message
    assert items[2].result is not None and items[2].result["final_result"] == "5"
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0, events_limit=200)).events or []]
    assert sorted(s["row"] for s in steps if "step" in s and "row" in s) == [0, 1, 2]
    counts = await app.db.fetchall("SELECT idx, step_count FROM batch_items WHERE job_id=? ORDER BY idx", (job.id,))
    assert [r["step_count"] for r in counts] == [1, 1, 1]
    assert job.step_count == 3 and job.credits_charged == 6  # three burners, three steps
