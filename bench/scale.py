"""`python -m bench scale`: several processes on one database.

- throughput: N small scrapes through an HTTP front-end, one process on SQLite (`serve` running its own jobs)
  against a front-end with 1 and 2 `mcp-browsa worker`s (SQLite, and PostgreSQL when a server is available);
- claim latency: 4 claimers taking jobs from one queue at once, p50/p99 per claim (storage only, no browser);
- noticing: how long a job queued through the front-end waits before an idle worker in another process claims
  it (the job's `created_at` to its `job.started` event), and how long get_job(wait) on the front-end takes to
  return once a worker ended the job. Target: p50 <= 50 ms. Measured twice per database: with the wake-ups between
  processes (NOTIFY on PostgreSQL, the signal table on SQLite), and with them off (BROWSA_WAKEUPS=0), where only
  the slow poll finds the job: the fallback the wake-ups are measured against.

PostgreSQL: `--pg` starts a throw-away cluster (Debian's postgresql, as the `postgres` system user, fsync off as
in the tests), or `--database-url postgresql://…` names an empty database. The machine may be shared: medians
and ratios side by side are what count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench.common import print_table, stats_ms, write_json
from bench.scale_claims import claim_latency
from tests.support.cluster import cluster
from tests.support.mcp_server import call, ok, short_home, spawn_http
from tests.support.sites import Site, respond, serve_site

__all__ = ["main"]

PAGE = b"<html><head><title>Item</title></head><body><h1>Item</h1><p>Small and local.</p></body></html>"
TERMINAL = ("completed", "failed", "cancelled")


async def _run_scrapes(url: str, site: Site, n: int) -> float:
    """Seconds from the first submit to the last job ended, for `n` scrapes through the front-end at `url`."""
    async with Client(url) as client:
        ok(await call(client, "capacity"))
        t0 = time.monotonic()
        ids = [
            ok(await call(client, "scrape", {"url": site.url(f"/item?n={i}"), "async": True}))["id"] for i in range(n)
        ]
        for job_id in ids:
            while True:
                job = ok(await call(client, "get_job", {"job_id": job_id, "wait": 25}))
                if job["status"] in TERMINAL:
                    assert job["status"] == "completed", job
                    break
        return time.monotonic() - t0


async def _warm(url: str, site: Site, workers: int) -> None:
    """One job per worker first, so every browser is up before timing starts."""
    await _run_scrapes(url, site, 2 * workers)


async def _notice(url: str, site: Site, n: int) -> dict[str, list[float]]:
    """Per job: queued → claimed by an idle worker, and worker ended it → get_job(wait) returned on the front-end."""
    claimed, answered = [], []
    async with Client(url) as client:
        for i in range(n):
            await anyio.sleep(0.3)  # the worker is idle again, waiting for work
            job = ok(await call(client, "scrape", {"url": site.url(f"/item?w={i}"), "async": True}))
            while True:
                got = ok(await call(client, "get_job", {"job_id": job["id"], "wait": 25, "events_after": 0}))
                returned = time.time()
                if got["status"] in TERMINAL:
                    break
            events = {e["type"]: e["created_at"] for e in got.get("events") or []}
            claimed.append(events["job.started"] - got["created_at"])
            answered.append(returned - events["job.completed"])
    return {"claimed": claimed, "answered": answered}


def _env(site: Site, database_url: str | None) -> dict[str, str]:
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}", "BROWSA_INITIAL_CREDITS": "1000000"}
    if database_url:
        env["BROWSA_DATABASE_URL"] = database_url
    return env


def _throughput(site: Site, n: int, workers: int, database_url: str | None) -> dict[str, Any]:
    with short_home() as home, ExitStack() as stack:
        env = _env(site, database_url)
        if workers == 0:
            front = stack.enter_context(spawn_http(home, "--no-auth", **env))
        else:
            front = stack.enter_context(cluster(home, workers, **env)).front
        anyio.run(_warm, front.url, site, max(1, workers))
        seconds = anyio.run(_run_scrapes, front.url, site, n)
        notice = anyio.run(_notice, front.url, site, 10) if workers == 1 else None
    row: dict[str, Any] = {
        "database": "postgresql" if database_url else "sqlite",
        "processes": "1 (serve runs its jobs)" if workers == 0 else f"front-end + {workers} worker(s)",
        "jobs": n,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(n / seconds, 2),
    }
    if notice is not None:
        row["notice"] = {k: stats_ms(v) | {"p99": _p99(v)} for k, v in notice.items()}
    return row


def _notice_by_poll(site: Site, database_url: str | None) -> dict[str, dict[str, float]]:
    """The noticing figures of a front-end and one worker that do not wake each other: the slow-poll fallback."""
    with short_home() as home, cluster(home, 1, **_env(site, database_url), BROWSA_WAKEUPS="0") as running:
        anyio.run(_warm, running.front.url, site, 1)
        notice = anyio.run(_notice, running.front.url, site, 10)
    return {k: stats_ms(v) | {"p99": _p99(v)} for k, v in notice.items()}


def _p99(samples: list[float]) -> float:
    xs = sorted(samples)
    return round(xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))] * 1000, 2) if xs else 0.0


@contextmanager
def _site() -> Iterator[Site]:
    with serve_site() as site:
        site.routes["/item"] = lambda req: respond(req, PAGE, "text/html")
        yield site


@contextmanager
def _postgres(args: argparse.Namespace) -> Iterator[Callable[[], str] | None]:
    """A maker of fresh, empty PostgreSQL databases (each run starts from nothing), or None for SQLite only."""
    if args.database_url:
        yield lambda: args.database_url
    elif args.pg:
        from tests.support.postgres import running_cluster

        with running_cluster() as pg:
            yield pg.fresh_database
    else:
        yield None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--jobs", type=int, default=40, help="scrapes per throughput run (default 40)")
    parser.add_argument("--claims", type=int, default=400, help="jobs the 4 claimers take (default 400)")
    parser.add_argument("--database-url", help="an empty PostgreSQL database to compare against (it is written to)")
    parser.add_argument("--pg", action="store_true", help="start a throw-away PostgreSQL cluster for the run")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    with _site() as site, _postgres(args) as fresh_pg:
        runs = [_throughput(site, args.jobs, w, None) for w in (0, 1, 2)]
        polled = {"sqlite": _notice_by_poll(site, None)}
        if fresh_pg:
            runs += [_throughput(site, args.jobs, w, fresh_pg()) for w in (1, 2)]
            polled["postgresql"] = _notice_by_poll(site, fresh_pg())
        with tempfile.TemporaryDirectory(prefix="mb-claims-") as tmp:
            claims = [anyio.run(claim_latency, Path(tmp), None, 4, args.claims)]
            if fresh_pg:
                claims.append(anyio.run(claim_latency, Path(tmp), fresh_pg(), 4, args.claims))
    base = runs[0]["jobs_per_s"]
    for r in runs:
        r["vs_one_sqlite_process"] = round(r["jobs_per_s"] / base, 2)
    print_table(
        "Throughput (small local scrapes)",
        runs,
        ["database", "processes", "jobs", "seconds", "jobs_per_s", "vs_one_sqlite_process"],
    )
    woken = {r["database"]: r["notice"] for r in runs if "notice" in r}
    notices = [
        {
            "database": db,
            "wakeups": way,
            "what": what,
            **{k: figures[db][what][k] for k in ("n", "p50", "p99", "max")},
            "poll_over_wakeup_p50": round(polled[db][what]["p50"] / max(woken[db][what]["p50"], 0.01), 1),
        }
        for db in woken
        for way, figures in (("on", woken), ("off: slow poll", polled))
        for what in ("claimed", "answered")
    ]
    print_table(
        "Noticing across processes, ms (claimed: queued → an idle worker claims it; answered: a worker ends it → get_job(wait) returns on the front-end)",
        notices,
        ["database", "wakeups", "what", "n", "p50", "p99", "max", "poll_over_wakeup_p50"],
    )
    print_table(
        "Claim latency, 4 concurrent claimers, ms", claims, ["database", "claims", "p50", "p99", "max", "claims_per_s"]
    )
    summary = {
        "two_workers_vs_one_sqlite_process": {
            r["database"]: r["vs_one_sqlite_process"] for r in runs if r["processes"].startswith("front-end + 2")
        },
        "notice_p50_ms": {n["database"]: n["p50"] for n in notices if n["what"] == "claimed" and n["wakeups"] == "on"},
        "notice_p50_poll_over_wakeup": {
            n["database"]: n["poll_over_wakeup_p50"] for n in notices if n["what"] == "claimed" and n["wakeups"] == "on"
        },
        "load_average": os.getloadavg(),
        "note": "shared 2-core machine: compare the rows of one run, not absolute figures",
    }
    print(f"\n{summary}")
    write_json(
        "scale",
        {
            "throughput": runs,
            "noticing": notices,
            "claims": claims,
            "summary": summary,
            "wall_seconds": round(time.monotonic() - t0, 1),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
