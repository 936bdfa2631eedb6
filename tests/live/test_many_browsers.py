"""One live view per job, one picture per browser: a batch's task rows each get their own `?view=row-N`
address, a fanout's attempts are listed as views of the job's address."""

from __future__ import annotations

import threading

import pytest
from playwright.async_api import Page

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import TaskBatchRequest, TaskRequest, TaskRow
from tests.agent.support import CALLER, ended, page_url, tool
from tests.live.test_takeover import WAIT, shown_url
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def test_each_batch_row_has_its_own_view(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str, person: Page
) -> None:
    release = threading.Event()

    def policy(request: PolicyRequest) -> PolicyReply:
        release.wait(WAIT)
        return tool("done", result=page_url(request))

    fake.policy = policy
    rows = [
        TaskRow(instruction="Look at the start", url=shop.url("/live/start.html")),
        TaskRow(instruction="Look at the form", url=shop.url("/live/form.html")),
    ]
    job = await app.batch_tasks(CALLER, TaskBatchRequest(tasks=rows, llm=claude, concurrency=2))
    try:
        while True:
            job = await app.get_job(CALLER, job.id, wait=1)
            items = job.items or []
            if all(i.live_url for i in items):
                break
            assert job.status in ("queued", "running"), job.error_message
        assert job.live_url is not None
        assert [i.live_url for i in items] == [f"{job.live_url}?view=row-0", f"{job.live_url}?view=row-1"]
        await person.goto(items[1].live_url or "")
        await shown_url(person, shop.url("/live/form.html"))
        await person.goto(items[0].live_url or "")
        await shown_url(person, shop.url("/live/start.html"))
        # The page lists both browsers, and switching shows the other one.
        await person.wait_for_function("() => document.getElementById('views').options.length === 2")
        await person.select_option("#views", "row-1")
        await shown_url(person, shop.url("/live/form.html"))
    finally:
        release.set()
    job = await ended(app, job.id)
    assert job.status == "completed" and job.live_url is None
    assert all(i.live_url is None for i in job.items or [])


async def test_fanout_attempts_are_views_of_the_job(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str, person: Page
) -> None:
    release = threading.Event()
    fake.policy = lambda _r: (release.wait(WAIT), tool("done", result="ok"))[1]
    job = await app.run_task(
        CALLER, TaskRequest(task="Race", llm=claude, initial_url=shop.url("/live/start.html"), fanout=2)
    )
    try:
        target = None
        while target is None or len(target.views) < 2:
            job = await app.get_job(CALLER, job.id, wait=0.5)
            target = app.live.registry.target(job.id)
            assert job.status in ("queued", "running"), job.error_message
        assert job.live_url == target.url and sorted(target.views) == ["attempt-0", "attempt-1"]
        await person.goto(job.live_url)
        await shown_url(person, shop.url("/live/start.html"))
        await person.wait_for_function("() => document.getElementById('views').options.length === 2")
    finally:
        release.set()
    assert (await ended(app, job.id)).status == "completed"
