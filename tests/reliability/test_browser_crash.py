"""The server's Chromium killed under running jobs: read-only jobs load their page again in a relaunched browser,
an agent task fails cleanly with a clear code, and the pool is not left with dead spares or a wedged limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.crashes import browser_crash, browser_crash_twice

pytestmark = pytest.mark.anyio


async def test_a_killed_browser_is_relaunched_and_only_the_agent_task_under_it_fails(tmp_path: Path) -> None:
    crash = await browser_crash(tmp_path)
    for role in ("read-0", "read-1"):
        assert crash.jobs[role]["status"] == "completed", crash.jobs[role]
        assert crash.jobs[role]["result"]["title"] == "Gated page"
    assert [row["status"] for row in crash.jobs["batch"]["items"]] == ["completed"]
    task = crash.jobs["task"]
    # Not re-run (it may have clicked "Buy"), and said so: the code of a task whose server died under it.
    assert (task["status"], task["error_code"]) == ("failed", "INTERRUPTED"), task
    assert "the browser crashed under this task" in task["error_message"]
    assert crash.reloaded_seconds < 30

    # The pool is whole: twice as many jobs as burners at once all finish; none waits on a dead slot or spare.
    assert [job["status"] for job in crash.after_jobs] == ["completed"] * 2 * crash.burners
    assert crash.after.contexts == crash.baseline.contexts
    assert crash.browsers == 1
    assert crash.old_alive == []


async def test_a_browser_that_dies_again_during_the_retry_fails_the_job_clearly(tmp_path: Path) -> None:
    job, next_job = await browser_crash_twice(tmp_path)
    assert (job["status"], job["error_code"]) == ("failed", "INTERNAL_ERROR"), job
    assert "the browser crashed twice" in job["error_message"]
    assert next_job["status"] == "completed"
