"""The disk under the data dir fills up or turns read-only mid-run: every call still gets an answer (a clear
INTERNAL_ERROR naming the file for what needs a write), reads keep working, a job that ends meanwhile keeps its
result until it can be written, and the database passes `PRAGMA integrity_check` afterwards.

As root the disks are real (a tmpfs filled to the last byte; ext4 on a loop device that the kernel turns
read-only); elsewhere see tests/reliability/faults.py for the stand-ins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.reliability.faults import fill_disk, free_disk, repair, small_disk, turn_read_only
from tests.reliability.scenarios import db_state, ledger, site_env, tiny_scrape, wait_until
from tests.support.mcp_server import call, envelope, finished, ok, run_cli, spawn_stdio
from tests.support.pages import GATED, add_pages
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

# Leases short enough that a job whose worker could not write is rescued within the test.
ENV = {"BROWSA_LEASE_SECONDS": "5"}


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def site(gate: threading.Event) -> Iterator[Site]:
    with serve_site() as s:
        add_pages(s, gate)
        yield s


async def start_gated(client: Client, site: Site) -> str:
    job = ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n=held"), "async": True}))

    async def holding() -> bool:
        return any("n=held" in path for _m, path in site.requests)

    await wait_until(holding, 30, "the gated page requested")
    return str(job["id"])


async def refused_writes(client: Client, site: Site, why: str) -> dict[str, Any]:
    """New work is refused with a clear envelope; reads still answer."""
    body = envelope(await call(client, "scrape", {"url": site.url("/foundation/details.html")}))
    assert body["code"] == "INTERNAL_ERROR"
    assert "the data dir cannot be written" in body["error"] and why in body["error"], body
    assert "browsa.db" in body["error"]
    ok(await call(client, "list_jobs"))
    ok(await call(client, "credits"))
    ok(await call(client, "capacity"))
    return body


async def test_a_full_disk_refuses_new_work_clearly_and_loses_no_result(
    tmp_path: Path, site: Site, gate: threading.Event
) -> None:
    with small_disk("tmpfs") as disk:
        home = disk.path / "home"
        async with spawn_stdio(home, **site_env(site, **ENV)) as server, server.client() as client:
            await tiny_scrape(client, site, "before")
            held = await start_gated(client, site)
            fill_disk(disk, server.pid)
            await refused_writes(client, site, "the disk is full")
            gate.set()  # the held job ends while nothing can be written: its result must wait, not vanish
            still = ok(await call(client, "get_job", {"job_id": held, "wait": 2}))
            assert still["status"] == "running"
            free_disk(disk)
            job = await finished(client, held, 60)
            assert job["status"] == "completed" and job["result"]["title"] == "Gated page", job
            assert sum(1 for _m, path in site.requests if "n=held" in path) == 1  # kept, not run again
            again, _seconds = await tiny_scrape(client, site, "after")
            assert again["status"] == "completed"
        state = db_state(home / "browsa.db")
        assert state["integrity"] == "ok"
        assert set(state["statuses"]) == {"completed"}, state
        assert ledger(home / "browsa.db").consistent


async def test_a_disk_that_turns_read_only_refuses_work_clearly_and_the_restarted_server_finds_all_intact(
    tmp_path: Path, site: Site, gate: threading.Event
) -> None:
    with small_disk("ext4") as disk:
        home = disk.path / "home"
        async with spawn_stdio(home, **site_env(site, **ENV)) as server, server.client() as client:
            await tiny_scrape(client, site, "before")
            held = await start_gated(client, site)
            turn_read_only(disk)
            if disk.mounted:
                await refused_writes(client, site, "it may have gone read-only")
            # Stopping works too, though nothing it would write on the way out can be written.
            await server.close_stdin()
            assert await server.wait_exit(30) is not None
        if disk.mounted:
            # Started again on the read-only disk: what only reads still works, what writes says why it cannot.
            read = run_cli(home, "credits", timeout=60)
            assert read.returncode == 0 and "balance:" in read.stdout, read.stderr
            refused = run_cli(home, "credits", "add", "5", timeout=60)
            assert refused.returncode == 1, refused.stderr
            assert "the data dir cannot be written" in refused.stderr, refused.stderr
        repair(disk)
        gate.set()
        async with spawn_stdio(home, **site_env(site, **ENV)) as server, server.client() as client:
            job = await finished(client, held, 60)  # rescued from the stopped server and run again
            assert job["status"] == "completed", job
            again, _seconds = await tiny_scrape(client, site, "after")
            assert again["status"] == "completed"
        state = db_state(home / "browsa.db")
        assert state["integrity"] == "ok"
        assert set(state["statuses"]) == {"completed"}, state
        assert ledger(home / "browsa.db").consistent
