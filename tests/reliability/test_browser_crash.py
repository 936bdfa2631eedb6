"""The server's Chromium killed under running jobs: read-only jobs load their page again in a relaunched browser,
an agent task fails cleanly with a clear code, and the pool is not left with dead spares or a wedged limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.faults import browser_mains, kill_browser
from tests.reliability.pages import add_reliability_pages
from tests.reliability.scenarios import settled, site_env, tiny_scrape, wait_until
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, finished, ok, spawn_stdio
from tests.support.pages import GATED, add_pages
from tests.support.procs import alive
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

KEY = "sk-ant-browser-crash-key"
BURNERS = 4


class HeldModel:
    """A fake model that holds its first answer until released, so a task is mid-run when the browser dies; the
    answer is an action on the page (clicking its one link), which the dead browser cannot do."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()

    def __call__(self, _request: PolicyRequest) -> PolicyReply:
        self.asked.set()
        self.release.wait(60)
        return PolicyReply.tool("click", index=1)


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def site(gate: threading.Event) -> Iterator[Site]:
    with serve_site() as s:
        add_pages(s, gate)
        add_reliability_pages(s)
        yield s


def gated_requests(site: Site) -> int:
    return sum(1 for _method, path in site.requests if path.startswith(GATED))


async def until(predicate: Any, timeout: float, what: str) -> None:
    async def check() -> bool:
        return bool(predicate())

    await wait_until(check, timeout, what)


async def test_a_killed_browser_is_relaunched_and_only_the_agent_task_under_it_fails(
    tmp_path: Path, site: Site, gate: threading.Event
) -> None:
    model = HeldModel()
    with FakeLLM(model, valid_keys={KEY}) as vendor:
        env = site_env(site, BROWSA_MAX_BURNERS=str(BURNERS), **vendor.env())
        async with spawn_stdio(tmp_path, **env) as server, server.client() as client:
            await tiny_scrape(client, site, "warm-up")
            baseline = await settled(client, server.pid)
            scrapes = [
                ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n={i}"), "async": True}))["id"]
                for i in range(2)
            ]
            batch = ok(await call(client, "batch", {"urls": [site.url(f"{GATED}?n=row")]}))["id"]
            task = ok(
                await call(
                    client,
                    "run_task",
                    {"task": "Say something", "initial_url": site.url("/tiny?n=task"), "llm_api_key": KEY},
                )
            )["id"]
            await until(lambda: gated_requests(site) == 3 and model.asked.is_set(), 60, "every job holding a page")

            old = kill_browser(server.pid)
            killed_at = time.monotonic()
            model.release.set()
            # The read-only jobs load their page again in a new browser; then the page may answer.
            await until(lambda: gated_requests(site) == 6, 60, "the read-only jobs loading their pages again")
            retried_at = time.monotonic()
            gate.set()
            ended = {job_id: await finished(client, job_id, 60) for job_id in [*scrapes, batch, task]}
            for job_id in scrapes:
                assert ended[job_id]["status"] == "completed", ended[job_id]
                assert ended[job_id]["result"]["title"] == "Gated page"
            assert ended[batch]["status"] == "completed"
            assert [row["status"] for row in ended[batch]["items"]] == ["completed"]
            failed = ended[task]
            assert failed["status"] == "failed", failed
            # Not re-run (it may have clicked "Buy"), and said so: the same code as a task whose server died.
            assert failed["error_code"] == "INTERRUPTED", failed
            assert "the browser crashed under this task" in failed["error_message"]

            # The pool is whole: twice as many jobs as burners at once all finish, none waits on a dead slot.
            jobs = [
                ok(await call(client, "scrape", {"url": site.url(f"/tiny?n=after{i}"), "async": True}))["id"]
                for i in range(2 * BURNERS)
            ]
            for job_id in jobs:
                assert (await finished(client, job_id, 60))["status"] == "completed"
            after = await settled(client, server.pid, like=baseline)
            assert after.contexts == baseline.contexts
            assert len(browser_mains(server.pid)) == 1
            assert not [p for p in old if alive(p)]
            assert retried_at - killed_at < 30


async def test_a_browser_that_dies_again_during_the_retry_fails_the_job_clearly(
    tmp_path: Path, site: Site, gate: threading.Event
) -> None:
    async with spawn_stdio(tmp_path, **site_env(site)) as server, server.client() as client:
        await tiny_scrape(client, site, "warm-up")
        job_id = ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n=twice"), "async": True}))["id"]
        for loads in (1, 2):
            await until(lambda n=loads: gated_requests(site) == n, 60, f"load {loads} of the page")
            await until(lambda: bool(browser_mains(server.pid)), 30, "a browser to kill")
            kill_browser(server.pid)
        job = await finished(client, job_id, 60)
        assert (job["status"], job["error_code"]) == ("failed", "INTERNAL_ERROR")
        assert "the browser crashed twice" in job["error_message"]
        gate.set()
        done, _seconds = await tiny_scrape(client, site)
        assert done["status"] == "completed"
