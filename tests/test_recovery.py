"""Crashes and neighbours: a server SIGKILLed mid-batch loses nothing, and two servers sharing one data dir
(Claude Desktop and Cursor each spawn one) split the queue without running any job twice.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.db import query
from tests.support.mcp_server import call, finished, ok, spawn_http, stdio_client
from tests.support.pages import GATED, SLOW, add_pages
from tests.support.procs import processes_naming, wait_gone
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

DETAILS = "/foundation/details.html"
ENV = {"BROWSA_ALLOW_PRIVATE_NETWORK": "1"}


@pytest.fixture
def pages() -> Iterator[Site]:
    with serve_site() as site:
        yield site


def requests_for(site: Site, needle: str) -> int:
    return sum(1 for _method, path in site.requests if needle in path)


def ledger_is_consistent(home: Path) -> None:
    running = 0
    for row in query(home, "SELECT amount, balance_after FROM ledger ORDER BY id"):
        running += row["amount"]
        assert row["balance_after"] == running
    [(balance,)] = query(home, "SELECT balance FROM workspaces")
    assert balance == running


async def poll_job(client: Client, job_id: str, done: Any, timeout: float = 60) -> dict[str, Any]:
    """The job once `done(job)` holds; fails after `timeout` seconds, showing the job as last seen."""
    last: list[dict[str, Any]] = []

    async def there() -> dict[str, Any] | None:
        last[:] = [ok(await call(client, "get_job", {"job_id": job_id, "wait": 0}))]
        return last[0] if done(last[0]) else None

    return await wait_until(
        there, lambda: f"job never reached the expected state: {last}", timeout=timeout, interval=0.2
    )


async def test_sigkill_mid_batch_requeues_unfinished_rows_and_keeps_finished_ones(tmp_path: Path, pages: Site) -> None:
    gate = add_pages(pages)
    urls = [pages.url(f"{DETAILS}?row={i}") for i in range(3)] + [pages.url(f"{GATED}?row={i}") for i in range(3, 6)]
    env = {**ENV, "BROWSA_MAX_BURNERS": "3"}

    with spawn_http(tmp_path, "--no-auth", **env) as first:
        async with Client(first.url) as client:
            job = ok(await call(client, "batch", {"urls": urls}))

            def three_done_three_loading(j: dict[str, Any]) -> bool:
                finished_rows = [i["status"] for i in j["items"][:3]] == ["completed"] * 3
                return finished_rows and all(requests_for(pages, f"row={i}") == 1 for i in range(3, 6))

            before = await poll_job(client, job["id"], three_done_three_loading)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        killed_pid = first.proc.pid
        killed_marker = first.marker

    # What the crash left behind: the job still "running" under a dead owner, three rows done, three mid-load.
    [row] = query(tmp_path, "SELECT status, lease_owner FROM jobs WHERE id=?", job["id"])
    assert row["status"] == "running" and f":{killed_pid}:" in row["lease_owner"]
    rows = query(tmp_path, "SELECT status FROM batch_items WHERE job_id=? ORDER BY idx", job["id"])
    assert [r["status"] for r in rows] == ["completed"] * 3 + ["running"] * 3

    gate.set()
    with spawn_http(tmp_path, "--no-auth", **env) as second:
        async with Client(second.url) as client:
            after = await finished(client, job["id"], 120)

    assert after["status"] == "completed"
    assert after["progress_done"] == after["progress_total"] == 6
    assert [i["status"] for i in after["items"]] == ["completed"] * 6
    assert after["items"][:3] == before["items"][:3]  # finished rows kept as they were, not redone
    assert [i["result"]["title"] for i in after["items"][3:]] == ["Gated page"] * 3
    assert [requests_for(pages, f"row={i}") for i in range(6)] == [1, 1, 1, 2, 2, 2]

    [row] = query(tmp_path, "SELECT attempts FROM jobs WHERE id=?", job["id"])
    assert row["attempts"] == 2
    events = query(tmp_path, "SELECT type, data FROM job_events WHERE job_id=? ORDER BY id", job["id"])
    kinds = Counter(e["type"] for e in events)
    assert kinds["job.started"] == 2 and kinds["job.recovered"] == 1 and kinds["job.completed"] == 1
    recovered = next(json.loads(e["data"]) for e in events if e["type"] == "job.recovered")
    assert recovered["new_status"] == "queued" and f":{killed_pid}:" in recovered["dead_owner"]
    row_events = Counter(json.loads(e["data"])["index"] for e in events if e["type"] == "batch.item")
    assert row_events == {i: 1 for i in range(6)}  # each row finished exactly once
    [(charged,)] = query(tmp_path, "SELECT credits_charged FROM jobs WHERE id=?", job["id"])
    [(billed,)] = query(tmp_path, "SELECT -SUM(amount) FROM ledger WHERE job_id=?", job["id"])
    assert charged == billed
    ledger_is_consistent(tmp_path)
    assert wait_gone([], killed_marker) == []  # the killed server's Chromium did not outlive it


async def test_two_servers_on_one_data_dir_share_the_queue_and_run_each_job_once(tmp_path: Path, pages: Site) -> None:
    add_pages(pages)
    env = {**ENV, "BROWSA_MAX_BURNERS": "2"}
    job_ids: list[str] = []
    async with stdio_client(tmp_path, **env) as a, stdio_client(tmp_path, **env) as b:
        for n in range(8):
            client = a if n % 2 else b
            url = pages.url(f"{SLOW}?s=1.5&n={n}")
            job_ids.append(ok(await call(client, "scrape", {"url": url, "async": True}))["id"])
        for n, job_id in enumerate(job_ids):
            other = b if n % 2 else a  # each server sees the other's jobs through the shared file
            assert (await finished(other, job_id, 120))["status"] == "completed"
        assert ok(await call(a, "capacity"))["running"] == 0

    assert [requests_for(pages, f"n={n}") for n in range(8)] == [1] * 8
    marks = ",".join("?" * len(job_ids))
    attempts = query(tmp_path, f"SELECT attempts FROM jobs WHERE id IN ({marks})", *job_ids)
    assert [r["attempts"] for r in attempts] == [1] * 8
    started = query(
        tmp_path, f"SELECT job_id, data FROM job_events WHERE type='job.started' AND job_id IN ({marks})", *job_ids
    )
    assert sorted(r["job_id"] for r in started) == sorted(job_ids)  # one start per job
    workers = {json.loads(r["data"])["worker"].split(":")[1] for r in started}
    assert len(workers) == 2  # both processes took work from the one queue
    ledger_is_consistent(tmp_path)


async def test_a_server_started_beside_a_crashed_one_rescues_its_jobs(tmp_path: Path, pages: Site) -> None:
    """The sweeper of a server that is already running notices a neighbour die, without a restart."""
    gate = add_pages(pages)
    async with stdio_client(tmp_path, **ENV) as survivor:
        with spawn_http(tmp_path, "--no-auth", **ENV) as doomed:
            async with Client(doomed.url) as client:
                job = ok(await call(client, "scrape", {"url": pages.url(f"{GATED}?who=doomed"), "async": True}))
                await poll_job(client, job["id"], lambda _j: requests_for(pages, "who=doomed") == 1)
            doomed.proc.send_signal(signal.SIGKILL)
            doomed.proc.wait(10)
        gate.set()
        done = await finished(survivor, job["id"], 120)
    assert done["status"] == "completed"
    assert done["result"]["title"] == "Gated page"
    assert not processes_naming(doomed.marker)
