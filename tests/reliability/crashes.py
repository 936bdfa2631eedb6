"""Fault scenarios, shared by tests/reliability and `python -m bench reliability`: the server SIGKILLed mid-run
and restarted, its Chromium killed under running jobs, the data dir's disk filling up or turning read-only.

Each builds what it needs (a site with a gated page, a fake model, a webhook receiver), injects its fault, and
returns what happened; the tests assert on it, the benchmark reports it.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp import Client

from tests.reliability.common import Idle, Ledger, db_state, ledger, query, settled, site_env, tiny_scrape
from tests.reliability.faults import (
    browser_mains,
    fill_disk,
    free_disk,
    kill_browser,
    repair,
    small_disk,
    turn_read_only,
)
from tests.reliability.pages import add_reliability_pages
from tests.support.databases import env_for
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.mcp_server import call, finished, ok, run_cli, spawn_stdio
from tests.support.pages import GATED, add_pages
from tests.support.procs import Proc, alive, processes_naming, wait_gone
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until
from tests.webhooks.receiver import Reply, serve_receiver

__all__ = [
    "BrowserCrash",
    "DiskFault",
    "ServerCrash",
    "browser_crash",
    "browser_crash_twice",
    "disk_full",
    "disk_read_only",
    "server_crash",
]

KEY = "sk-ant-fault-scenarios-key"
RETRY_EVERY = 4.0  # seconds between webhook attempts while the receiver refuses


class HeldModel:
    """A fake model: answers "quick" tasks with done at once, holds any other's first answer until `release`
    (so that task is mid-run when the fault strikes), then clicks the page's one link."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: PolicyRequest) -> PolicyReply:
        if "quick" in request.observation:
            return PolicyReply.tool("done", result="done quickly")
        self.held.set()
        self.release.wait(90)
        return PolicyReply.tool("click", index=1)


@contextmanager
def _gated_site() -> Iterator[tuple[Site, threading.Event]]:
    gate = threading.Event()
    with serve_site() as site:
        add_pages(site, gate)
        add_reliability_pages(site)
        yield site, gate


def _hits(site: Site, needle: str) -> int:
    return sum(1 for _method, path in site.requests if needle in path)


async def _until(predicate: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> float:
    """Seconds until `predicate` held."""
    t0 = time.monotonic()
    await wait_until(predicate, what, timeout=timeout, interval=0.1)
    return time.monotonic() - t0


def _task(site: Site, words: str, tag: str) -> dict[str, Any]:
    return {"task": words, "initial_url": site.url(f"/tiny?n={tag}"), "llm_api_key": KEY}


# -- the server SIGKILLed ----------------------------------------------------------------------


@dataclass
class ServerCrash:
    jobs: dict[str, dict[str, Any]]  # how each job ended, by role
    ledger_before: Ledger  # read from the data dir right before the kill
    ledger_after: Ledger
    state: dict[str, Any]
    orphans: list[Proc]  # processes of the killed server still alive 20 s later
    rows_fetched_again: int  # batch rows finished before the kill and fetched once more after it
    undelivered: set[str]  # jobs whose end never reached the webhook receiver with a 200
    signatures_ok: bool
    recovery_seconds: float  # from the restart until every interrupted job had ended


async def server_crash(home: Path, database: str | Path | None = None) -> ServerCrash:
    """Jobs finished, and jobs in flight (two pages held open, a batch half done, an agent task waiting on its
    model) when the server is SIGKILLed; webhook deliveries pending. Then a restart on the same data dir (and
    database: `database`, a PostgreSQL URL, or None for SQLite in the data dir)."""
    db = database if isinstance(database, str) else home / "browsa.db"
    model = HeldModel()
    accepting = threading.Event()
    last_hit = [0.0]

    def answer(_n: int) -> Reply:
        last_hit[0] = time.monotonic()
        return Reply(200 if accepting.is_set() else 503)

    with _gated_site() as (site, gate), serve_receiver() as receiver, FakeLLM(model, valid_keys={KEY}) as vendor:
        receiver.script = answer
        env = {
            **site_env(site, **vendor.env()),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port},127.0.0.1:{receiver.port}",
            # Retries for two minutes: the early events are refused until the restart, and must not run out of
            # attempts first while a loaded machine takes its time getting every job under way.
            "BROWSA_WEBHOOK_RETRY_SCHEDULE": ",".join([f"{RETRY_EVERY}s"] * 30),
            "BROWSA_WEBHOOK_TIMEOUT": "2",
            "BROWSA_NAV_TIMEOUT_MS": "120000",  # the batch's held row, as the scrapes' timeout_seconds below
            # A browser slot for every page under way at the kill: two held scrapes, the task, the batch's three rows.
            # With fewer, the held row may take the last slot before rows 0 and 1 (the rows' start order is not
            # their index order; on PostgreSQL it is the order their first writes get pool connections), and they
            # wait for it: the scenario would stall until its gate opened.
            "BROWSA_MAX_BURNERS": "6",
            **env_for(db),
        }
        roles: dict[str, str] = {}
        async with spawn_stdio(home, **env) as server, server.client() as client:
            receiver.secret = ok(await call(client, "create_webhook", {"url": receiver.url}))["secret"]
            # Ended before the crash: their events wait in the outbox, refused so far.
            # Async: only work that runs apart from its call is announced by a webhook.
            early_read = ok(await call(client, "scrape", {"url": site.url("/tiny?n=before"), "async": True}))["id"]
            roles["scrape-before"] = (await finished(client, early_read, 60))["id"]
            quick = ok(await call(client, "run_task", _task(site, "quick one", "quick")))["id"]
            roles["task-before"] = (await finished(client, quick, 60))["id"]
            # In flight at the kill.
            for i in range(2):
                # The held pages must outlast the wait below for the webhook worker to be between two attempts.
                args = {"url": site.url(f"{GATED}?n={i}"), "async": True, "timeout_seconds": 120}
                roles[f"read-{i}"] = ok(await call(client, "scrape", args))["id"]
            urls = [site.url("/tiny?n=row0"), site.url("/tiny?n=row1"), site.url(f"{GATED}?n=row2")]
            roles["batch"] = ok(await call(client, "batch", {"urls": urls}))["id"]
            roles["task"] = ok(await call(client, "run_task", _task(site, "hold on", "held")))["id"]

            def rows_done() -> list[int]:
                done = query(db, "SELECT idx FROM batch_items WHERE job_id=? AND status='completed'", roles["batch"])
                return sorted(int(r["idx"]) for r in done)

            def under_way() -> bool:
                # Rows 0 and 1 recorded as done (not only fetched: a row killed before its end is written runs
                # again, as it should), row 2 and both scrapes holding their pages, the task waiting on its model.
                return _hits(site, GATED) == 3 and rows_done() == [0, 1] and model.held.is_set()

            def not_under_way() -> str:
                seen = [p for _m, p in list(site.requests) if GATED in p or "n=row" in p]
                return (
                    f"every job of the crash scenario under way (pages asked for: {seen}; rows done: {rows_done()};"
                    f" model held: {model.held.is_set()})"
                )

            await _until(under_way, 60, not_under_way)
            early = {roles["scrape-before"], roles["task-before"]}

            def between_attempts() -> bool:
                # Both early events refused once, and no attempt for a while: no delivery is leased at the kill.
                tried = {d.event["data"].get("job_id") for d in list(receiver.deliveries)}
                return tried >= early and time.monotonic() - last_hit[0] > RETRY_EVERY / 3

            await _until(between_attempts, 30, "the webhook worker between two attempts")
            before = ledger(db)
            family = processes_naming(server.marker)
            server.send_signal(signal.SIGKILL)
            assert await server.wait_exit(10) is not None, "SIGKILL did not end the server"
            orphans = await anyio.to_thread.run_sync(wait_gone, family, server.marker, 20.0)

        accepting.set()
        gate.set()
        restarted = time.monotonic()
        async with spawn_stdio(home, **env) as server, server.client() as client:
            jobs = {role: await finished(client, job_id, 90) for role, job_id in roles.items()}
            recovery = time.monotonic() - restarted
            ended = set(roles.values())

            def delivered(got: list[Any]) -> bool:
                return {d.event["data"]["job_id"] for d in got if d.answered == 200} >= ended

            try:
                await anyio.to_thread.run_sync(receiver.wait_for, delivered, 60.0)
            except AssertionError:
                pass  # reported below as undelivered
            model.release.set()
        got = {d.event["data"]["job_id"] for d in receiver.deliveries if d.answered == 200}
        return ServerCrash(
            jobs=jobs,
            ledger_before=before,
            ledger_after=ledger(db),
            state=db_state(db),
            orphans=orphans,
            rows_fetched_again=_hits(site, "n=row0") + _hits(site, "n=row1") - 2,
            undelivered=ended - got,
            signatures_ok=all(d.standard_ok and d.agents_ok for d in receiver.deliveries),
            recovery_seconds=round(recovery, 2),
        )


# -- Chromium killed ----------------------------------------------------------------------------


@dataclass
class BrowserCrash:
    jobs: dict[str, dict[str, Any]]
    reloaded_seconds: float  # from the kill until the read-only jobs had asked for their pages again
    after_jobs: list[dict[str, Any]]  # twice as many jobs as burners, submitted after the crash
    baseline: Idle
    after: Idle
    browsers: int  # browser processes of the server afterwards
    old_alive: list[Proc]  # processes of the killed browser still around
    burners: int = 4


async def browser_crash(home: Path, burners: int = 4) -> BrowserCrash:
    """Two pages held open, a batch row held open and an agent task mid-run when the browser is SIGKILLed."""
    model = HeldModel()
    with _gated_site() as (site, gate), FakeLLM(model, valid_keys={KEY}) as vendor:
        env = site_env(site, BROWSA_MAX_BURNERS=str(burners), **vendor.env())
        async with spawn_stdio(home, **env) as server, server.client() as client:
            await tiny_scrape(client, site, "warm-up")
            baseline = await settled(client, server.pid)
            roles = {
                f"read-{i}": ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n={i}"), "async": True}))["id"]
                for i in range(2)
            }
            roles["batch"] = ok(await call(client, "batch", {"urls": [site.url(f"{GATED}?n=row")]}))["id"]
            roles["task"] = ok(await call(client, "run_task", _task(site, "Say something", "task")))["id"]
            await _until(lambda: _hits(site, GATED) == 3 and model.held.is_set(), 60, "every job holding a page")
            old = kill_browser(server.pid)
            model.release.set()
            reloaded = await _until(lambda: _hits(site, GATED) == 6, 60, "the read-only jobs loading their pages again")
            gate.set()
            jobs = {role: await finished(client, job_id, 60) for role, job_id in roles.items()}
            after_ids = [
                ok(await call(client, "scrape", {"url": site.url(f"/tiny?n=after{i}"), "async": True}))["id"]
                for i in range(2 * burners)
            ]
            after_jobs = [await finished(client, job_id, 60) for job_id in after_ids]
            after = await settled(client, server.pid, like=baseline)
            return BrowserCrash(
                jobs=jobs,
                reloaded_seconds=round(reloaded, 2),
                after_jobs=after_jobs,
                baseline=baseline,
                after=after,
                browsers=len(browser_mains(server.pid)),
                old_alive=[p for p in old if alive(p)],
                burners=burners,
            )


async def browser_crash_twice(home: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A page whose browser is killed, and killed again while the page loads a second time: the job, and the next."""
    with _gated_site() as (site, gate):
        async with spawn_stdio(home, **site_env(site)) as server, server.client() as client:
            await tiny_scrape(client, site, "warm-up")
            job_id = ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n=twice"), "async": True}))["id"]
            for loads in (1, 2):
                await _until(lambda n=loads: _hits(site, GATED) == n, 60, f"load {loads} of the page")
                await _until(lambda: bool(browser_mains(server.pid)), 30, "a browser to kill")
                kill_browser(server.pid)
            job = await finished(client, job_id, 60)
            gate.set()
            nxt, _seconds = await tiny_scrape(client, site)
            return job, nxt


# -- the disk -----------------------------------------------------------------------------------


@dataclass
class DiskFault:
    kind: str  # what stood in for the disk: "tmpfs", "ext4" or "dir" (see faults.py)
    refused: dict[str, Any] | None  # the envelope a new scrape got while the disk refused writes
    reads_ok: bool  # list_jobs, credits and capacity answered meanwhile
    held_while_refused: str | None  # the held job's status while its end could not be written
    held: dict[str, Any]  # the job that held a page through the fault, at the end
    held_fetches: int  # times its page was fetched (1: its result was kept, not redone)
    next_job: dict[str, Any]
    restart: dict[str, Any] = field(default_factory=dict)  # read-only disk: what a restarted CLI did
    state: dict[str, Any] = field(default_factory=dict)
    ledger_ok: bool = False
    recovery_seconds: float = 0.0  # from giving the disk back until the held job had ended


def _disk_fault(
    kind: str,
    site: Site,
    home: Path,
    refused: dict[str, Any] | None,
    reads_ok: bool,
    held: dict[str, Any],
    next_job: dict[str, Any],
    recovery: float,
    **more: Any,
) -> DiskFault:
    """The figures of a disk fault run, with what the data dir holds afterwards."""
    return DiskFault(
        kind=kind,
        refused=refused,
        reads_ok=reads_ok,
        held=held,
        held_fetches=_hits(site, "n=held"),
        next_job=next_job,
        state=db_state(home / "browsa.db"),
        ledger_ok=ledger(home / "browsa.db").consistent,
        recovery_seconds=round(recovery, 2),
        **{"held_while_refused": None, **more},
    )


async def _start_held(client: Client, site: Site) -> str:
    job_id = str(ok(await call(client, "scrape", {"url": site.url(f"{GATED}?n=held"), "async": True}))["id"])
    await _until(lambda: _hits(site, "n=held") == 1, 30, "the held page requested")
    return job_id


async def _probe_refusal(client: Client, site: Site) -> tuple[dict[str, Any] | None, bool]:
    result = await call(client, "scrape", {"url": site.url("/tiny?n=refused")})
    refused = json.loads(result.content[0].text) if result.is_error else None  # type: ignore[union-attr]
    reads = [await call(client, tool) for tool in ("list_jobs", "credits", "capacity")]
    return refused, not any(r.is_error for r in reads)


# Leases short enough that a job whose worker could not write is rescued within the scenario.
_DISK_ENV = {"BROWSA_LEASE_SECONDS": "5"}


async def disk_full() -> DiskFault:
    """The data dir's disk fills up while a job holds a page; the job ends meanwhile; then space comes back."""
    with _gated_site() as (site, gate), small_disk("tmpfs") as disk:
        home = disk.path / "home"
        async with spawn_stdio(home, **site_env(site, **_DISK_ENV)) as server, server.client() as client:
            await tiny_scrape(client, site, "before")
            held = await _start_held(client, site)
            fill_disk(disk, server.pid)
            refused, reads_ok = await _probe_refusal(client, site)
            gate.set()  # the held job ends while nothing can be written: its result must wait, not vanish
            meanwhile = ok(await call(client, "get_job", {"job_id": held, "wait": 2}))["status"]
            free_disk(disk)
            t0 = time.monotonic()
            job = await finished(client, held, 60)
            recovery = time.monotonic() - t0
            nxt, _seconds = await tiny_scrape(client, site, "after")
        return _disk_fault(disk.kind, site, home, refused, reads_ok, job, nxt, recovery, held_while_refused=meanwhile)


async def disk_read_only() -> DiskFault:
    """The data dir's disk turns read-only under a running server (as ext4 does after a disk error) while a job
    holds a page; the server is stopped, started again on the broken disk, then on the repaired one."""
    with _gated_site() as (site, gate), small_disk("ext4") as disk:
        home = disk.path / "home"
        async with spawn_stdio(home, **site_env(site, **_DISK_ENV)) as server, server.client() as client:
            await tiny_scrape(client, site, "before")
            held = await _start_held(client, site)
            turn_read_only(disk)
            refused, reads_ok = await _probe_refusal(client, site)
            await server.close_stdin()
            stopped = await server.wait_exit(30)
        restart: dict[str, Any] = {"stopped": stopped is not None}
        read = run_cli(home, "credits", timeout=60)
        write = run_cli(home, "credits", "add", "5", timeout=60)
        restart.update(read_rc=read.returncode, read_out=read.stdout, write_rc=write.returncode, write_err=write.stderr)
        repair(disk)
        gate.set()
        t0 = time.monotonic()
        async with spawn_stdio(home, **site_env(site, **_DISK_ENV)) as server, server.client() as client:
            job = await finished(client, held, 60)
            recovery = time.monotonic() - t0
            nxt, _seconds = await tiny_scrape(client, site, "after")
        return _disk_fault(disk.kind, site, home, refused, reads_ok, job, nxt, recovery, restart=restart)
