"""A crawl whose server is SIGKILLed mid-way goes on after a restart without loading a finished page again."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.db import query
from tests.support.docs_site import add_docs_site
from tests.support.mcp_server import call, finished, ok, spawn_http
from tests.support.sites import serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

ENV = {"BROWSA_ALLOW_PRIVATE_NETWORK": "1", "BROWSA_MAX_BURNERS": "2"}


async def test_sigkill_mid_crawl_resumes_without_loading_a_finished_page_again(tmp_path: Path) -> None:
    with serve_site() as site:
        docs = add_docs_site(site, gate_from=5)  # pages 5.. hold until the gate opens
        with spawn_http(tmp_path, "--no-auth", **ENV) as first:
            async with Client(first.url) as client:
                args = {"url": docs.url("/docs/p0.html"), "max_depth": 5, "concurrency": 2}
                job = ok(await call(client, "crawl", args))
                rows: list[Any] = []

                def two_held_after_five() -> bool:
                    rows[:] = query(tmp_path, "SELECT status, params FROM batch_items WHERE job_id=?", job["id"])
                    held = sum(1 for r in rows if r["status"] == "running")
                    return held == 2 and sum(1 for r in rows if r["status"] == "completed") >= 5

                await wait_until(
                    two_held_after_five,
                    lambda: f"two pages held after five done: {[tuple(r) for r in rows]}",
                    timeout=60,
                )
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)

        rows = query(tmp_path, "SELECT status, params FROM batch_items WHERE job_id=?", job["id"])
        done_before = {
            json.loads(r["params"])["url"].removeprefix(site.base) for r in rows if r["status"] == "completed"
        }
        assert {"/docs/p0.html", "/docs/p1.html", "/docs/p2.html"} <= done_before
        counts_before = {p: docs.fetched(p) for p in done_before}
        assert set(counts_before.values()) == {1}

        docs.gate.set()
        with spawn_http(tmp_path, "--no-auth", **ENV) as second:
            async with Client(second.url) as client:
                after = await finished(client, job["id"], 120)

    assert after["status"] == "completed", after
    found = [i["url"].removeprefix(site.base) for i in after["items"]]
    assert sorted(found) == sorted([*(f"/docs/p{i}.html" for i in range(12)), "/docs/orphan.html", "/docs/alias.html"])
    assert all(i["status"] == "completed" for i in after["items"])
    # Nothing finished before the crash was loaded again; the two pages in flight were loaded once more at most.
    assert {p: docs.fetched(p) for p in done_before} == counts_before
    assert all(docs.fetched(p) <= 2 for p in found)
    events = query(tmp_path, "SELECT type, data FROM job_events WHERE job_id=? ORDER BY id", job["id"])
    pages = Counter(json.loads(e["data"])["index"] for e in events if e["type"] == "crawl.page")
    assert pages == {i: 1 for i in range(len(found))}  # each row finished exactly once
    assert Counter(e["type"] for e in events)["job.recovered"] == 1
