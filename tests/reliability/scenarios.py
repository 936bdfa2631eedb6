"""Reliability scenarios driven through a real MCP client, shared by tests/reliability and `python -m bench
reliability`: load, soak and hostile pages. The tests assert on what they return; the benchmark reports it.

Each takes a connected client (and the server's pid where processes are measured) and returns plain figures;
none sleeps blindly: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp import Client

from tests.reliability.common import Idle, Ledger, db_state, ledger, probing, query, settled, tiny_scrape
from tests.reliability.faults import ProcSample, sample
from tests.reliability.pages import HOSTILE, TINY
from tests.support.mcp_server import call, finished, ok
from tests.support.pages import STALLED
from tests.support.sites import Site

__all__ = [
    "HOSTILE_TIMEOUTS",
    "SOAK_BOUNDS",
    "TASK_TIMEOUT",
    "HostileOutcome",
    "LoadReport",
    "SoakBounds",
    "SoakMix",
    "SoakReport",
    "always_done",
    "hostile_pages",
    "load",
    "soak",
]


# -- load --------------------------------------------------------------------------------------


def always_done(_request: Any) -> Any:
    """The fake model's whole policy for load: finish at once with a short answer."""
    from tests.support.fake_llm import PolicyReply

    return PolicyReply.tool("done", result="the tiny page is there")


@dataclass
class LoadReport:
    tasks: int
    batches: int
    rows: int
    submit_seconds: float  # until every call had returned its job
    drain_seconds: float  # until every job had ended
    statuses: dict[str, int]  # job status -> count
    codes: dict[str, int]  # error codes of failed jobs and rows
    row_statuses: dict[str, int]
    ran_more_than_once: list[str]
    ended_twice: list[str]
    ledger: Ledger
    baseline: Idle
    after: Idle
    peak: ProcSample | None


async def load(
    client: Client, pid: int, site: Site, db: Path, *, tasks: int, batches: int, urls_per_batch: int = 3, key: str
) -> LoadReport:
    """Submit `tasks` run_task and `batches` URL batches all at once through one client, then wait them out."""
    await tiny_scrape(client, site, "warm-up")  # the browser, its helpers and a renderer are up: a fair baseline
    baseline = await settled(client, pid)
    ids: dict[str, str] = {}

    async def submit(name: str, tool: str, args: dict[str, Any]) -> None:
        ids[name] = ok(await call(client, tool, args))["id"]

    t0 = time.monotonic()
    async with probing(client, pid, interval=1.0) as prober:
        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                args = {"task": f"Say the tiny page is there ({i})", "initial_url": site.url(f"{TINY}?n=t{i}")}
                tg.start_soon(submit, f"task-{i}", "run_task", {**args, "llm_api_key": key, "max_steps": 3})
            for i in range(batches):
                urls = [site.url(f"{TINY}?n=b{i}-{j}") for j in range(urls_per_batch)]
                tg.start_soon(submit, f"batch-{i}", "batch", {"urls": urls})
        submitted = time.monotonic() - t0
        jobs: dict[str, dict[str, Any]] = {}

        async def follow(name: str, job_id: str) -> None:
            jobs[name] = await finished(client, job_id, timeout=600)

        async with anyio.create_task_group() as tg:
            for name, job_id in ids.items():
                tg.start_soon(follow, name, job_id)
        drained = time.monotonic() - t0
    after = await settled(client, pid, like=baseline)
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    rows: dict[str, int] = {}
    for job in jobs.values():
        statuses[job["status"]] = statuses.get(job["status"], 0) + 1
        if job.get("error_code"):
            codes[job["error_code"]] = codes.get(job["error_code"], 0) + 1
        for item in job.get("items") or []:
            rows[item["status"]] = rows.get(item["status"], 0) + 1
            if item.get("error_code"):
                codes[item["error_code"]] = codes.get(item["error_code"], 0) + 1
    state = db_state(db)
    again = [r[0] for r in query(db, "SELECT id FROM jobs WHERE attempts > 1")]
    return LoadReport(
        tasks=tasks,
        batches=batches,
        rows=batches * urls_per_batch,
        submit_seconds=round(submitted, 2),
        drain_seconds=round(drained, 2),
        statuses=statuses,
        codes=codes,
        row_statuses=rows,
        ran_more_than_once=again,
        ended_twice=state["ended_twice"],
        ledger=ledger(db),
        baseline=baseline,
        after=after,
        peak=max(prober.samples, key=lambda s: s.total_pss_mib, default=None),
    )


# -- soak --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakBounds:
    """What a soak may grow by after warm-up; the test (45 s) and the benchmark (5 min) judge by the same.

    - the server's own descriptors: not one more (a leaked socket or file per job would show at once);
    - the server's memory (PSS): it warms up by a few MiB and levels off near 140 MiB. A 5-minute soak grows it
      by about 8 MiB in all, and by under 1 MiB per 100 jobs in its second half;
    - the browser: no extra processes (Chromium starts a spare renderer, and may drop it, at its own discretion).
    """

    server_fds: int = 0
    server_pss_mib: float = 15.0
    server_mib_per_100_jobs: float = 2.0  # judged over the second half, once that spans `slope_jobs` jobs
    slope_jobs: int = 200
    chromium: int = 2

    def leaks(self, report: SoakReport) -> list[str]:
        """What grew past these bounds, in words; empty when nothing did."""
        found = []
        if (fds := report.growth("server_fds")) > self.server_fds:
            found.append(f"server file descriptors grew by {fds}")
        if (mib := report.growth("server_pss_mib")) > self.server_pss_mib:
            found.append(f"server memory grew by {mib} MiB")
        slope = report.mib_per_100_jobs()
        if (
            slope is not None
            and report.jobs_in_second_half() >= self.slope_jobs
            and slope > self.server_mib_per_100_jobs
        ):
            found.append(f"server memory still grows by {slope} MiB per 100 jobs")
        if (procs := report.growth("chromium")) > self.chromium:
            found.append(f"Chromium processes grew by {procs}")
        return found


SOAK_BOUNDS = SoakBounds()


@dataclass
class SoakReport:
    seconds: float
    rounds: int
    jobs: int
    failed: int
    samples: list[ProcSample]  # taken idle, after each round
    warm: int  # samples taken during warm-up, left out of the growth figures

    def _mid(self, field_name: str, part: slice) -> float:
        values = sorted(getattr(s, field_name) for s in self.samples[self.warm :][part])
        return float(values[len(values) // 2]) if values else 0.0

    def growth(self, field_name: str) -> float:
        """Median of the last three idle samples minus the median of the first three after warm-up."""
        return round(self._mid(field_name, slice(-3, None)) - self._mid(field_name, slice(0, 3)), 1)

    def _second_half(self) -> list[ProcSample]:
        kept = self.samples[self.warm :]
        return kept[len(kept) // 2 :]

    def jobs_in_second_half(self) -> int:
        return round((len(self._second_half()) - 1) * self.jobs / max(self.rounds, 1))

    def mib_per_100_jobs(self) -> float | None:
        """How fast the server's memory still grows once warm: over the second half, median of its first three
        samples to median of its last three, per 100 jobs. None for a soak too short to tell."""
        half = self._second_half()
        jobs = self.jobs_in_second_half()
        if len(half) < 6 or jobs <= 0:
            return None
        first = sorted(s.server_pss_mib for s in half[:3])[1]
        last = sorted(s.server_pss_mib for s in half[-3:])[1]
        return round((last - first) / jobs * 100, 2)

    @property
    def peak_mib(self) -> float:
        return max((s.total_pss_mib for s in self.samples), default=0.0)


SoakMix = Literal["mixed", "scrapes", "tasks"]


def _soak_calls(mix: SoakMix, site: Site, n: int, key: str) -> list[tuple[str, dict[str, Any]]]:
    scrapes: list[tuple[str, dict[str, Any]]] = [
        ("scrape", {"url": site.url(f"{TINY}?n=s{n}"), "async": True}),
        ("scrape", {"url": site.url(f"{TINY}?n=p{n}"), "formats": ["markdown", "screenshot"], "async": True}),
        ("batch", {"urls": [site.url(f"{TINY}?n=b{n}-{j}") for j in range(2)]}),
    ]
    tasks = [
        ("run_task", {"task": f"Say it ({n}.{j})", "initial_url": site.url(f"{TINY}?n=t{n}.{j}"), "llm_api_key": key})
        for j in range(1 if mix == "mixed" else 3)
    ]
    return {"mixed": scrapes + tasks, "scrapes": scrapes, "tasks": tasks}[mix]


async def soak(
    client: Client, pid: int, site: Site, *, seconds: float, key: str, warm_rounds: int = 3, mix: SoakMix = "mixed"
) -> SoakReport:
    """Rounds of work until `seconds` have passed, with the server's memory and descriptors sampled idle after every
    round: `mixed` (scrapes with and without a screenshot, a small batch, an agent task), or only the scrapes, or
    only agent tasks, to tell which kind of work a growth comes from."""
    samples: list[ProcSample] = []
    jobs = failed = rounds = 0
    t0 = time.monotonic()
    while rounds < warm_rounds + 6 or time.monotonic() - t0 < seconds:
        calls = _soak_calls(mix, site, rounds, key)
        ids = [ok(await call(client, tool, args))["id"] for tool, args in calls]
        for job_id in ids:
            job = await finished(client, job_id, timeout=120)
            jobs += 1
            failed += job["status"] != "completed"
        await settled(client, pid)
        samples.append(await anyio.to_thread.run_sync(sample, pid))
        rounds += 1
    return SoakReport(round(time.monotonic() - t0, 1), rounds, jobs, failed, samples, warm_rounds)


# -- hostile pages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HostileOutcome:
    name: str
    status: str
    error_code: str | None
    error_message: str | None
    seconds: float
    result: dict[str, Any] | None


# Seconds each hostile page may take to load. Those that end on their own (the browser gives up on redirects, the
# tab dies of its memory) get room to do so on a loaded machine; the rest end in their timeout.
HOSTILE_TIMEOUTS = {"redirect-loop": 45.0, "memory-eater": 45.0, "50mb-page": 90.0}


TASK_TIMEOUT = 15.0  # timeout_seconds of the agent tasks sent to hostile pages


async def hostile_pages(
    client: Client,
    site: Site,
    *,
    timeout_seconds: float = 8,
    timeouts: dict[str, float] | None = None,
    task_key: str | None = None,
) -> dict[str, HostileOutcome]:
    """Scrape every hostile page at once (plus a page that never finishes loading) and, given `task_key`, start an
    agent task on each too (named "task:<page>"); how and when each ended."""
    timeouts = {**HOSTILE_TIMEOUTS, **(timeouts or {})}
    targets = {**HOSTILE, "never-loads": f"{STALLED}?t=hostile"}
    started: dict[str, tuple[str, float]] = {}
    for name, path in targets.items():
        args: dict[str, Any] = {"url": site.url(path), "async": True}
        args["timeout_seconds"] = timeouts.get(name, timeout_seconds)
        if name == "50mb-page":
            args["formats"] = ["markdown", "text", "html"]
        job = ok(await call(client, "scrape", args))
        started[name] = (job["id"], time.monotonic())
    if task_key is not None:
        for name, path in targets.items():
            url = site.url(path.replace("t=hostile", "t=task"))
            args = {
                "task": "Read this page",
                "initial_url": url,
                "llm_api_key": task_key,
                "timeout_seconds": TASK_TIMEOUT,
            }
            started[f"task:{name}"] = (ok(await call(client, "run_task", args))["id"], time.monotonic())
    outcomes: dict[str, HostileOutcome] = {}

    async def follow(name: str, job_id: str, t0: float) -> None:
        job = await finished(client, job_id, timeout=max(timeouts.values()) + 60)
        outcomes[name] = HostileOutcome(
            name,
            job["status"],
            job.get("error_code"),
            job.get("error_message"),
            time.monotonic() - t0,
            job.get("result"),
        )

    async with anyio.create_task_group() as tg:
        for name, (job_id, t0) in started.items():
            tg.start_soon(follow, name, job_id, t0)
    return outcomes
