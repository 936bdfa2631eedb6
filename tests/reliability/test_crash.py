"""SIGKILL of the server mid-run, then a restart on the same data dir: read-only work resumes, agent tasks end
INTERRUPTED, no job stays running, no ledger row is lost or doubled, and webhook deliveries still pending go out.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.reliability.scenarios import db_state, ledger, site_env, wait_until
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, finished, ok, spawn_stdio
from tests.support.pages import GATED, add_pages
from tests.support.procs import processes_naming, wait_gone
from tests.support.sites import Site, serve_site
from tests.webhooks.receiver import Receiver, Reply, serve_receiver

pytestmark = pytest.mark.anyio

KEY = "sk-ant-crash-test-key"
RETRY_EVERY = 4.0  # seconds between webhook attempts while the receiver refuses


class Model:
    """Finishes tasks that say "quick" at once; holds any other until the test ends (it is mid-run at the kill)."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.stop = threading.Event()

    def __call__(self, request: PolicyRequest) -> PolicyReply:
        if "quick" not in request.observation:
            self.held.set()
            self.stop.wait(60)
        return PolicyReply.tool("done", result="done quickly")


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def site(gate: threading.Event) -> Iterator[Site]:
    with serve_site() as s:
        add_pages(s, gate)
        s.routes["/tiny"] = _tiny
        yield s


def _tiny(handler: Any) -> None:
    body = b"<!doctype html><title>Tiny</title><p>tiny</p>"
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


def hits(site: Site, needle: str) -> int:
    return sum(1 for _method, path in site.requests if needle in path)


async def test_sigkill_mid_run_then_restart_resumes_reads_interrupts_tasks_and_loses_nothing(
    tmp_path: Path, site: Site, gate: threading.Event, receiver: Receiver
) -> None:
    model = Model()
    accepting = threading.Event()
    last_hit = [0.0]

    def answer(_n: int) -> Reply:
        last_hit[0] = time.monotonic()
        return Reply(200 if accepting.is_set() else 503)

    receiver.script = answer
    with FakeLLM(model, valid_keys={KEY}) as vendor:
        env = {
            **site_env(site, **vendor.env()),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port},127.0.0.1:{receiver.port}",
            "BROWSA_WEBHOOK_RETRY_SCHEDULE": ",".join([f"{RETRY_EVERY}s"] * 6),
            "BROWSA_WEBHOOK_TIMEOUT": "2",
        }
        async with spawn_stdio(tmp_path, **env) as server, server.client() as client:
            hook = ok(await call(client, "create_webhook", {"url": receiver.url}))
            receiver.secret = hook["secret"]

            def task(words: str, n: str) -> dict[str, Any]:
                return {"task": words, "initial_url": site.url(f"/tiny?n={n}"), "llm_api_key": KEY}

            # Work that ends before the crash: its events wait in the outbox (the receiver answers 503).
            done_before = [
                ok(await call(client, "scrape", {"url": site.url("/tiny?n=before")}))["id"],
                (await finished(client, ok(await call(client, "run_task", task("quick one", "quick")))["id"], 60))[
                    "id"
                ],
            ]
            # Work running at the kill: two pages held open, a batch half done, an agent task waiting on its model.
            reads = [
                ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n={i}"), "async": True}))["id"]
                for i in range(2)
            ]
            urls = [site.url("/tiny?n=row0"), site.url("/tiny?n=row1"), site.url(f"{GATED}?n=row2")]
            batch = ok(await call(client, "batch", {"urls": urls}))["id"]
            running_task = ok(await call(client, "run_task", task("hold on", "held")))["id"]

            async def in_flight() -> bool:
                return hits(site, GATED) == 3 and hits(site, "n=row1") == 1 and model.held.is_set()

            await wait_until(in_flight, 60, "every job of the crash scenario under way")

            async def between_attempts() -> bool:
                # Both early events refused once, and no attempt for a while: no delivery is leased at the kill.
                tried = {d.event["data"].get("job_id") for d in list(receiver.deliveries)}
                return tried >= set(done_before) and time.monotonic() - last_hit[0] > RETRY_EVERY / 3

            await wait_until(between_attempts, 30, "the webhook worker between two attempts")
            before = ledger(tmp_path / "browsa.db")

            family = processes_naming(server.marker)
            server.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert await server.wait_exit(10) is not None
            # Chromium notices its driver is gone and exits: nothing of the dead server lingers.
            left = await anyio.to_thread.run_sync(wait_gone, family, server.marker, 20.0)
            assert left == [], left

        accepting.set()
        gate.set()
        started_at = time.monotonic()
        async with spawn_stdio(tmp_path, **env) as server, server.client() as client:
            jobs = {job_id: await finished(client, job_id, 90) for job_id in [*reads, batch, running_task]}
            recovered_in = time.monotonic() - started_at
            for job_id in reads:
                assert jobs[job_id]["status"] == "completed", jobs[job_id]
            assert jobs[batch]["status"] == "completed"
            assert [row["status"] for row in jobs[batch]["items"]] == ["completed"] * 3
            assert hits(site, "n=row0") == hits(site, "n=row1") == 1  # finished rows were kept, not fetched again
            interrupted = jobs[running_task]
            assert (interrupted["status"], interrupted["error_code"]) == ("failed", "INTERRUPTED"), interrupted

            ended = {*done_before, *reads, batch, running_task}

            def delivered(got: list[Any]) -> bool:
                return {d.event["data"]["job_id"] for d in got if d.answered == 200} >= ended

            await anyio.to_thread.run_sync(receiver.wait_for, delivered, 60.0)
            model.stop.set()

        after = ledger(tmp_path / "browsa.db")
        state = db_state(tmp_path / "browsa.db")
    assert state["integrity"] == "ok"
    assert set(state["statuses"]) <= {"completed", "failed", "cancelled"}, state  # nothing left running
    assert state["ended_twice"] == []
    # Every ledger row from before the crash is still there, unchanged, and nothing was written twice.
    assert after.rows[: len(before.rows)] == before.rows
    assert before.consistent and after.consistent, (before, after)
    assert all(d.standard_ok and d.agents_ok for d in receiver.deliveries)
    assert killed_at < started_at and recovered_in < 90
