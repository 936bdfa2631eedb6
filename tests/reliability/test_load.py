"""Load: 20 run_task and 8 batch jobs submitted at once through one MCP client to a server with 4 burners.

Every job ends, none runs or ends twice, the ledger's running balance is the sum of its rows (and each job's
credits are its rows), and the browser goes back to its idle processes and contexts afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.common import site_env
from tests.reliability.conftest import KEY
from tests.reliability.scenarios import load
from tests.support.fake_llm import FakeLLM
from tests.support.mcp_server import spawn_stdio
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

# 28 jobs (44 pages) queued at once on 4 burners: seven jobs wait for every one that runs, as with the 50 and 20 that
# `python -m bench reliability` still submits (and reports). Every check below holds per job, so what it proves
# about a queue deeper than the pool is the same at this size; the larger one cost minutes of suite time.
TASKS, BATCHES, URLS_PER_BATCH = 20, 8, 3


async def test_twenty_tasks_and_eight_batches_at_once_all_end_once_and_leave_nothing_behind(
    tmp_path: Path, pages: Site, vendor: FakeLLM
) -> None:
    env = site_env(pages, BROWSA_MAX_BURNERS="4", **vendor.env())
    async with spawn_stdio(tmp_path, **env) as server, server.client() as client:
        report = await load(
            client,
            server.pid,
            pages,
            tmp_path / "browsa.db",
            tasks=TASKS,
            batches=BATCHES,
            urls_per_batch=URLS_PER_BATCH,
            key=KEY,
        )
    assert report.statuses == {"completed": TASKS + BATCHES}, (report.statuses, report.codes)
    assert report.row_statuses == {"completed": BATCHES * URLS_PER_BATCH}, report.codes
    assert report.ran_more_than_once == [] and report.ended_twice == []
    assert vendor.calls >= TASKS  # every task asked the model at least once: none was skipped

    assert report.ledger.consistent, report.ledger
    charged = -sum(amount for _id, kind, amount, _after, _job in report.ledger.rows if kind == "charge")
    assert charged >= TASKS + BATCHES * URLS_PER_BATCH  # a burner at least for every task and every row

    # Back to idle: the warm spare and nothing else, one browser, no extra processes. Chromium may keep one spare
    # renderer process at its own discretion; a leaked context would hold one too, and show in the context count.
    assert report.after.contexts == report.baseline.contexts
    assert report.after.procs.chromium <= report.baseline.procs.chromium + 1
    assert report.after.procs.renderers <= report.baseline.procs.renderers + 1
