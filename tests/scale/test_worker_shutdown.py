"""`mcp-browsa worker` stops cleanly on SIGTERM: running jobs get the grace period to end; a second signal hands
them back at once, and another worker takes them (no lease has to run out first)."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from mcp import Client

from tests.reliability.common import query
from tests.support.cluster import Worker, cluster, spawn_worker
from tests.support.mcp_server import call, finished, ok, short_home
from tests.support.pages import GATED, SLOW, add_pages
from tests.support.sites import Site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio


async def _holder(db: Path, job_id: str) -> str:
    """The worker name running `job_id`, once one does."""
    found: list[str] = []

    async def running() -> bool:
        rows = await anyio.to_thread.run_sync(
            lambda: query(db, "SELECT lease_owner FROM jobs WHERE id=? AND status='running'", job_id)
        )
        found[:] = [str(r[0]).rsplit(":", 1)[1] for r in rows]
        return bool(found)

    await wait_until(running, f"job {job_id} running on a worker", timeout=120, interval=0.05)
    return found[0]


async def _stopped(worker: Worker) -> tuple[int, str]:
    """Its exit code once it exited, and what it said."""
    await wait_until(lambda: _exited(worker), f"worker {worker.name} exited", timeout=60)
    return int(worker.proc.returncode), worker.stderr()


async def _exited(worker: Worker) -> bool:
    return worker.proc.poll() is not None


def _started_by(db: Path, job_id: str) -> list[str]:
    rows = query(db, "SELECT data FROM job_events WHERE job_id=? AND type='job.started' ORDER BY id", job_id)
    return [next(n for n in ("w1", "w2", "w3") if f':{n}"' in r[0]) for r in rows]


async def test_sigterm_lets_running_work_finish_and_a_second_one_hands_it_to_another_worker(site: Site) -> None:
    gate = add_pages(site)
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}", "BROWSA_LEASE_SECONDS": "600"}
    with short_home() as home, cluster(home, 2, "--grace", "120", **env) as group:
        db = home / "browsa.db"
        async with Client(group.front.url) as client:
            # A job in flight when SIGTERM arrives ends on the worker running it, within the grace period.
            gated = ok(await call(client, "scrape", {"url": site.url(GATED), "async": True}))
            first = group.worker(await _holder(db, gated["id"]))
            first.proc.send_signal(signal.SIGTERM)
            await wait_until(lambda: _says(first, "stopping: claiming nothing more"), "the worker draining", timeout=30)
            assert first.proc.poll() is None  # still running its job
            gate.set()
            job = await finished(client, gated["id"], timeout=120)
            assert job["status"] == "completed", job
            code, said = await _stopped(first)
            assert code == 0, said
            assert _started_by(db, gated["id"]) == [first.name]

            # A second signal does not wait: the job goes back to the queue and another worker runs it.
            other = next(w for w in group.workers if w is not first)
            with spawn_worker(home, "w3", **env) as fresh:
                slow = ok(await call(client, "scrape", {"url": site.url(SLOW + "?s=20"), "async": True}))
                holder = group.worker(name) if (name := await _holder(db, slow["id"])) != fresh.name else fresh
                taker = fresh if holder is other else other
                holder.proc.send_signal(signal.SIGTERM)
                await wait_until(lambda: _says(holder, "1 running job(s)"), "the worker draining its job", timeout=30)
                holder.proc.send_signal(signal.SIGTERM)
                code, said = await _stopped(holder)
                assert code == 0, said
                assert "handing back 1 job(s)" in said
                job = await finished(client, slow["id"], timeout=120)
                assert job["status"] == "completed", job
                assert _started_by(db, slow["id"]) == [holder.name, taker.name]
                [recovered] = query(
                    db, "SELECT data FROM job_events WHERE job_id=? AND type='job.recovered'", slow["id"]
                )
                assert f":{holder.name}" in recovered[0] and '"queued"' in recovered[0]


async def _says(worker: Worker, text: str) -> bool:
    return text in worker.stderr()
