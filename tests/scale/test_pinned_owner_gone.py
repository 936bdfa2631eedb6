"""A queued job only its own process can run (its model key came with the call) when that process is SIGKILLed on
another machine: the processes left end it INTERRUPTED, naming the process that went away, once, with its
job.failed webhook; the dead process's other queued work is run by a worker as usual.

The dead process runs in a UTS namespace of its own, so its host name differs from everyone else's, as on another
machine: nobody can see its pid is gone, only that it stopped renewing its leases.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.support.cluster import spawn_worker
from tests.support.databases import env_for, in_home
from tests.support.db import read_rows
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, finished, ok, short_home, spawn_http, spawn_stdio
from tests.support.procs import processes_naming, wait_gone
from tests.support.sites import Site, respond, serve_site
from tests.webhooks.receiver import Delivery, serve_receiver

pytestmark = pytest.mark.anyio

KEY = "sk-ant-only-in-front-a"
ELSEWHERE = "elsewhere"  # the dead process's host name
LEASE = {"BROWSA_LEASE_SECONDS": "3", "BROWSA_SWEEP_INTERVAL": "1"}
_SET_HOSTNAME = "import os, socket, sys\nsocket.sethostname(sys.argv[1])\nos.execvp(sys.argv[2], sys.argv[2:])\n"


def _on_another_host() -> list[str]:
    """A command prefix that runs a program with host name ELSEWHERE (a UTS namespace of its own)."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "the test needs util-linux's unshare"
    for flags in (["-u"], ["-r", "-u"]):
        prefix = [unshare, *flags, sys.executable, "-c", _SET_HOSTNAME, ELSEWHERE]
        probe = subprocess.run([*prefix, "hostname"], capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == ELSEWHERE:
            return prefix
    pytest.fail("this machine allows no UTS namespace (unshare -u), which the test needs to stand for another host")


class Model:
    """Holds the first task's model call (so that task keeps front-a's one browser slot busy) until `release`."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: PolicyRequest) -> PolicyReply:
        if "keep-the-browser" in request.observation:
            self.held.set()
            self.release.wait(90)
        return PolicyReply.tool("done", result="read it")


@contextmanager
def _site() -> Iterator[Site]:
    with serve_site() as site:
        site.routes["/page"] = lambda req: respond(req, b"<html><body><h1>Page</h1></body></html>", "text/html")
        yield site


def _events(got: list[Delivery]) -> list[dict[str, Any]]:
    """The events delivered whole: a delivery front-a was sending when it was killed arrives cut short."""
    out = []
    for delivery in got:
        try:
            out.append(delivery.event)
        except json.JSONDecodeError:
            continue
    return out


def _task(site: Site, words: str) -> dict[str, Any]:
    return {"task": words, "initial_url": site.url("/page"), "llm_api_key": KEY}


async def test_a_queued_job_pinned_to_a_process_killed_elsewhere_ends_interrupted_once(
    database: str | Path,
) -> None:
    wrapper = _on_another_host()
    model = Model()
    with (
        _site() as site,
        serve_receiver() as receiver,
        FakeLLM(model, valid_keys={KEY}) as vendor,
        short_home() as home,
    ):
        db = in_home(database, home)
        env = {
            **vendor.env(),
            **LEASE,
            **env_for(database),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port},127.0.0.1:{receiver.port}",
        }
        # A front-end that runs no jobs (it sweeps like every process), where the client reconnects.
        with spawn_http(home, "--no-auth", "--no-worker", "--worker-id", "front-c", **env) as front_c:
            a_env = {"BROWSA_WORKER_ID": "front-a", "BROWSA_MAX_BURNERS": "1", **env}
            async with spawn_stdio(home, wrapper=wrapper, **a_env) as a, a.client() as on_a:
                receiver.secret = ok(await call(on_a, "create_webhook", {"url": receiver.url}))["secret"]
                busy = ok(await call(on_a, "run_task", _task(site, "keep-the-browser and read the page")))["id"]
                await anyio.to_thread.run_sync(model.held.wait, 60)
                pinned = ok(await call(on_a, "run_task", _task(site, "read the page")))["id"]
                free = ok(await call(on_a, "scrape", {"url": site.url("/page"), "async": True}))["id"]
                owner = read_rows(db, "SELECT lease_owner FROM jobs WHERE id=?", pinned)[0]["lease_owner"]
                assert owner.startswith(f"{ELSEWHERE}:") and owner.endswith(":front-a")
                family = processes_naming(a.marker)
                a.send_signal(signal.SIGKILL)
                assert await a.wait_exit(10) is not None
            model.release.set()
            assert await anyio.to_thread.run_sync(wait_gone, family, a.marker, 20.0) == []

            async with Client(front_c.url) as on_c:
                # Nothing runs jobs until worker b starts: work anyone may run waits for it.
                assert ok(await call(on_c, "get_job", {"job_id": free}))["status"] == "queued"
                with spawn_worker(home, "b", **env):
                    # Queued when its process died, and nobody else holds its key: b or front-c, whichever sweeps
                    # first once its pin runs out, ends it rather than leaving its client waiting forever.
                    job = await finished(on_c, pinned, 60)
                    assert (job["status"], job["error_code"]) == ("failed", "INTERRUPTED"), job
                    assert owner in job["error_message"] and "submit it again" in job["error_message"]
                    held = await finished(on_c, busy, 60)  # it was running there: its lease ran out
                    assert (held["status"], held["error_code"]) == ("failed", "INTERRUPTED"), held
                    assert owner in held["error_message"]
                    done = await finished(on_c, free, 90)
                    assert done["status"] == "completed", done

            started = read_rows(db, "SELECT data FROM job_events WHERE job_id=? AND type='job.started'", free)
            assert [r["data"] for r in started][-1].count(":b") == 1  # claimed by worker b
            recovered = read_rows(db, "SELECT job_id FROM job_events WHERE type='job.recovered'")
            assert Counter(r["job_id"] for r in recovered) == {pinned: 1, busy: 1}  # each ended once

            def failures(got: list[Delivery]) -> Counter[str]:
                return Counter(e["data"]["job_id"] for e in _events(got) if e["type"] == "job.failed")

            deliveries = await anyio.to_thread.run_sync(
                receiver.wait_for, lambda got: set(failures(got)) >= {pinned, busy}, 30.0
            )
            assert failures(deliveries) == {pinned: 1, busy: 1}  # one job.failed each, however many processes swept
            event = next(e for e in _events(deliveries) if e["data"].get("job_id") == pinned)
            assert event["data"]["error_code"] == "INTERRUPTED"
