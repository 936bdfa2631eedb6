"""Reliability benchmark: load, crashes, a killed browser, a full and a read-only disk, fuzzing, hostile pages
and a soak, each through a real MCP client against a spawned server, with what happened and how long it took.

Run: `python -m bench reliability` (about 15 minutes; `--quick` runs the test-suite sizes, `--only load,soak`
picks parts, `--soak-seconds N` sets the soak; `soak-split` runs it as scrapes only and as tasks only). Writes bench/results/reliability.json to compare releases.
The scenarios are the ones tests/reliability asserts on (tests/reliability/scenarios.py and crashes.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from bench.common import print_table, write_json
from bench.session_flood import UNCAPPED, flood_row, session_flood
from tests.reliability.common import probing, settled, site_env, tiny_scrape
from tests.reliability.crashes import browser_crash, browser_crash_twice, disk_full, disk_read_only, server_crash
from tests.reliability.faults import loopback_only
from tests.reliability.fuzz import FUZZ_ENV, fuzz_tools
from tests.reliability.pages import add_reliability_pages
from tests.reliability.scenarios import SOAK_BOUNDS, SoakMix, SoakReport, always_done, hostile_pages, load, soak
from tests.support.fake_llm import FakeLLM
from tests.support.mcp_server import StdioServer, spawn_stdio
from tests.support.pages import add_pages
from tests.support.sites import Site, serve_site

__all__ = ["main"]

KEY = "sk-ant-bench-reliability-key"
PARTS = ("load", "crash", "browser", "disk", "fuzz", "hostile", "soak", "soak-split", "sessions")


@asynccontextmanager
async def _served(home: Path, site: Site, **env: str) -> AsyncIterator[tuple[StdioServer, Any, FakeLLM]]:
    with FakeLLM(always_done, valid_keys={KEY}) as vendor:
        async with spawn_stdio(home, **site_env(site, **vendor.env(), **env)) as server, server.client() as client:
            yield server, client, vendor


def _home(base: Path, name: str) -> Path:
    # Short: Chromium's socket path, under the server's TMPDIR, must stay under 108 bytes.
    path = base / name
    path.mkdir(parents=True)
    return path


async def part_load(base: Path, site: Site, quick: bool) -> dict[str, Any]:
    async with _served(_home(base, "load"), site, BROWSA_MAX_BURNERS="4") as (server, client, vendor):
        report = await load(
            client, server.pid, site, server.home / "browsa.db", tasks=50, batches=20, urls_per_batch=3, key=KEY
        )
        jobs = report.tasks + report.batches
        return {
            "jobs": jobs,
            "tasks": report.tasks,
            "batches": report.batches,
            "batch_rows": report.rows,
            "burners": 4,
            "submit_seconds": report.submit_seconds,
            "drain_seconds": report.drain_seconds,
            "jobs_per_s": round(jobs / report.drain_seconds, 2),
            "statuses": report.statuses,
            "row_statuses": report.row_statuses,
            "error_codes": report.codes,
            "ran_more_than_once": len(report.ran_more_than_once),
            "ended_twice": len(report.ended_twice),
            "ledger_rows": len(report.ledger.rows),
            "ledger_consistent": report.ledger.consistent,
            "model_calls": vendor.calls,
            "peak_pss_mib": report.peak.total_pss_mib if report.peak else None,
            "chromium_before": report.baseline.procs.chromium,
            "chromium_after": report.after.procs.chromium,
            "contexts_before": report.baseline.contexts,
            "contexts_after": report.after.contexts,
        }


async def part_crash(base: Path, site: Site, quick: bool) -> dict[str, Any]:
    crash = await server_crash(_home(base, "crash"))
    return {
        "faults": ["SIGKILL of the server with 4 jobs in flight and 2 webhook deliveries pending"],
        "job_endings": {role: f"{j['status']} {j.get('error_code') or ''}".strip() for role, j in crash.jobs.items()},
        "recovery_seconds": crash.recovery_seconds,
        "orphan_processes": len(crash.orphans),
        "batch_rows_fetched_again": crash.rows_fetched_again,
        "ledger_rows_before": len(crash.ledger_before.rows),
        "ledger_rows_after": len(crash.ledger_after.rows),
        "ledger_rows_kept": crash.ledger_after.rows[: len(crash.ledger_before.rows)] == crash.ledger_before.rows,
        "ledger_consistent": crash.ledger_before.consistent and crash.ledger_after.consistent,
        "webhooks_undelivered": len(crash.undelivered),
        "signatures_ok": crash.signatures_ok,
        "integrity": crash.state["integrity"],
        "left_running": {k: v for k, v in crash.state["statuses"].items() if k not in ("completed", "failed")},
    }


async def part_browser(base: Path, site: Site, quick: bool) -> dict[str, Any]:
    crash = await browser_crash(_home(base, "browser"))
    twice, after_twice = await browser_crash_twice(_home(base, "twice"))
    return {
        "faults": ["SIGKILL of Chromium under 4 jobs", "SIGKILL of Chromium twice under one page"],
        "job_endings": {role: f"{j['status']} {j.get('error_code') or ''}".strip() for role, j in crash.jobs.items()},
        "reload_seconds": crash.reloaded_seconds,
        "jobs_after_ok": sum(1 for j in crash.after_jobs if j["status"] == "completed"),
        "jobs_after": len(crash.after_jobs),
        "contexts_before": crash.baseline.contexts,
        "contexts_after": crash.after.contexts,
        "browser_processes_after": crash.browsers,
        "old_browser_processes_alive": len(crash.old_alive),
        "killed_twice": f"{twice['status']} {twice.get('error_code') or ''}".strip(),
        "next_after_twice": after_twice["status"],
    }


async def part_disk(base: Path, site: Site, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, scenario in (("full", disk_full), ("read_only", disk_read_only)):
        fault = await scenario()
        out[name] = {
            "disk": fault.kind,
            "refused_with": (fault.refused or {}).get("code"),
            "message": (fault.refused or {}).get("error"),
            "reads_ok": fault.reads_ok,
            "held_job": fault.held["status"],
            "held_page_fetches": fault.held_fetches,
            "next_job": fault.next_job["status"],
            "recovery_seconds": fault.recovery_seconds,
            "integrity": fault.state["integrity"],
            "statuses": fault.state["statuses"],
            "ledger_consistent": fault.ledger_ok,
            **(
                {"restart": {k: v for k, v in fault.restart.items() if k.endswith("rc") or k == "stopped"}}
                if fault.restart
                else {}
            ),
        }
    return out


async def part_fuzz(base: Path, site: Site, quick: bool) -> dict[str, Any]:
    wrapper = loopback_only()
    examples = 30 if quick else 100
    home = _home(base, "fuzz")
    async with spawn_stdio(home, wrapper=wrapper, **FUZZ_ENV) as server, server.client() as client:
        report = await fuzz_tools(
            client,
            examples=examples,
            dns_names=bool(wrapper),
            derandomize=False,
            alive=lambda: server.process.returncode is None,
        )
        alive = server.process.returncode is None
    return {
        "examples_per_tool": examples,
        "calls": report.calls,
        "seconds": report.seconds,
        "slowest_call_seconds": round(report.slowest, 2),
        "unsendable": report.unsendable,
        "answered_ok_by_tool": report.ok_by_tool,
        "errors_by_code": report.errors_by_code,
        "problems": report.problems[:50],
        "server_alive": alive,
        "network": "loopback-only namespace" if wrapper else "host network, local addresses only",
    }


async def part_hostile(base: Path, site: Site, quick: bool) -> dict[str, Any]:
    async with _served(_home(base, "hostile"), site, BROWSA_MAX_BURNERS="16") as (server, client, _vendor):
        await tiny_scrape(client, site, "warm-up")
        baseline = await settled(client, server.pid)
        async with probing(client, server.pid) as prober:
            outcomes = await hostile_pages(client, site, task_key=KEY)
        nxt, next_seconds = await tiny_scrape(client, site)
        after = await settled(client, server.pid, like=baseline)
    return {
        "pages": {
            name: {"status": o.status, "code": o.error_code, "seconds": round(o.seconds, 1)}
            for name, o in sorted(outcomes.items())
        },
        "worst_capacity_latency_seconds": round(prober.worst, 2),
        "peak_pss_mib": prober.peak_mib,
        "next_job": nxt["status"],
        "next_job_seconds": round(next_seconds, 2),
        "contexts_before": baseline.contexts,
        "contexts_after": after.contexts,
    }


async def part_soak(base: Path, site: Site, quick: bool, seconds: float) -> dict[str, Any]:
    async with _served(_home(base, "soak"), site) as (server, client, _vendor):
        await tiny_scrape(client, site, "warm-up")
        before = await settled(client, server.pid)
        report = await soak(client, server.pid, site, seconds=seconds, key=KEY)
        after = await settled(client, server.pid, like=before)
    growth = {f: report.growth(f) for f in ("server_fds", "total_fds", "server_pss_mib", "total_pss_mib", "chromium")}
    leaks = SOAK_BOUNDS.leaks(report)
    if after.contexts > before.contexts:
        leaks.append(f"browser contexts {before.contexts} -> {after.contexts}")
    return {
        "seconds": report.seconds,
        "rounds": report.rounds,
        "jobs": report.jobs,
        "failed": report.failed,
        "growth_after_warmup": growth,
        "server_pss_mib_per_100_jobs": _per_100_jobs(report),
        "server_pss_mib_per_100_jobs_second_half": report.mib_per_100_jobs(),
        "jobs_in_second_half": report.jobs_in_second_half(),
        "server_pss_mib": [s.server_pss_mib for s in report.samples],
        "server_fds": [s.server_fds for s in report.samples],
        "peak_pss_mib": report.peak_mib,
        "contexts_before": before.contexts,
        "contexts_after": after.contexts,
        "bounds": dataclasses.asdict(SOAK_BOUNDS),
        "leaks_found": leaks,
    }


async def part_sessions(base: Path, _site: Site, quick: bool) -> dict[str, Any]:
    """An `initialize` flood over HTTP with the session caps, and with them lifted, one after the other."""
    size: dict[str, Any] = (
        {"clients": 50, "seconds": 8.0, "keys": 4} if quick else {"clients": 100, "seconds": 20.0, "keys": 12}
    )
    # A short idle time, so the bench sees the sessions expire; the server's default is 300 s.
    capped = await session_flood(_home(base, "sessions-capped"), idle_seconds=10, env={}, **size)
    uncapped = await session_flood(_home(base, "sessions-uncapped"), idle_seconds=1800, env=UNCAPPED, **size)
    return {"capped": capped, "uncapped": uncapped}


def _per_100_jobs(report: SoakReport) -> float | None:
    """Growth after warm-up per 100 jobs run after warm-up: the whole run, for soaks too short for a second half."""
    warm_jobs = report.jobs * report.warm / max(report.rounds, 1)
    after = report.jobs - warm_jobs
    return round(report.growth("server_pss_mib") / after * 100, 2) if after > 0 else None


async def part_soak_split(base: Path, site: Site, quick: bool, seconds: float) -> dict[str, Any]:
    """The soak again as scrapes only and as agent tasks only, each on its own server over stdio, to tell which
    work a memory growth comes from; each reports MiB per 100 jobs once warm."""
    out: dict[str, Any] = {}
    mixes: tuple[SoakMix, ...] = ("scrapes", "tasks")
    for mix in mixes:
        async with _served(_home(base, f"soak-{mix}"), site) as (server, client, _vendor):
            await tiny_scrape(client, site, "warm-up")
            report = await soak(client, server.pid, site, seconds=seconds / 2, key=KEY, mix=mix)
        out[mix] = {
            "seconds": report.seconds,
            "jobs": report.jobs,
            "failed": report.failed,
            "server_pss_mib_after_warmup": report.growth("server_pss_mib"),
            "server_pss_mib_per_100_jobs": _per_100_jobs(report),
            "server_pss_mib_per_100_jobs_second_half": report.mib_per_100_jobs(),
            "server_pss_mib": [s.server_pss_mib for s in report.samples],
            "leaks_found": SOAK_BOUNDS.leaks(report),
        }
    return out


async def run(parts: list[str], quick: bool, soak_seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    base = Path(tempfile.mkdtemp(prefix="mb-rel-"))
    runners: dict[str, Callable[[Path, Site, bool], Awaitable[dict[str, Any]]]] = {
        "load": part_load,
        "crash": part_crash,
        "browser": part_browser,
        "disk": part_disk,
        "fuzz": part_fuzz,
        "hostile": part_hostile,
        "soak": lambda b, s, q: part_soak(b, s, q, soak_seconds),
        "sessions": part_sessions,
        "soak-split": lambda b, s, q: part_soak_split(b, s, q, soak_seconds),
    }
    try:
        with serve_site() as site:
            add_pages(site)
            add_reliability_pages(site)
            for name in parts:
                print(f"… {name}", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                try:
                    results[name] = await runners[name](base, site, quick)
                except Exception as exc:  # one part failing must not hide the others' figures
                    traceback.print_exc()
                    results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                results[name]["wall_seconds"] = round(time.monotonic() - t0, 1)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    load_r = results.get("load", {})
    if "jobs" in load_r:
        rows.append(
            {
                "part": "load",
                "figures": f"{load_r['jobs']} jobs ({load_r['batch_rows']} batch rows) drained in "
                f"{load_r['drain_seconds']} s, {load_r['jobs_per_s']} jobs/s, peak {load_r['peak_pss_mib']} MiB",
                "verdict": "ok"
                if load_r["statuses"] == {"completed": load_r["jobs"]}
                and load_r["ledger_consistent"]
                and not load_r["ended_twice"]
                and load_r["contexts_after"] == load_r["contexts_before"]
                else "PROBLEM",
            }
        )
    crash = results.get("crash", {})
    if "recovery_seconds" in crash:
        rows.append(
            {
                "part": "server SIGKILL",
                "figures": f"recovered in {crash['recovery_seconds']} s; ledger {crash['ledger_rows_before']}"
                f"->{crash['ledger_rows_after']} rows; {crash['webhooks_undelivered']} webhooks undelivered",
                "verdict": "ok"
                if crash["ledger_rows_kept"]
                and crash["ledger_consistent"]
                and not crash["webhooks_undelivered"]
                and not crash["left_running"]
                and not crash["orphan_processes"]
                else "PROBLEM",
            }
        )
    browser = results.get("browser", {})
    if "reload_seconds" in browser:
        rows.append(
            {
                "part": "Chromium SIGKILL",
                "figures": f"pages reloaded {browser['reload_seconds']} s after the kill; "
                f"{browser['jobs_after_ok']}/{browser['jobs_after']} next jobs ok; killed twice: {browser['killed_twice']}",
                "verdict": "ok"
                if browser["jobs_after_ok"] == browser["jobs_after"]
                and browser["contexts_after"] == browser["contexts_before"]
                else "PROBLEM",
            }
        )
    disk = results.get("disk", {})
    for name in ("full", "read_only"):
        d = disk.get(name)
        if d:
            rows.append(
                {
                    "part": f"disk {name} ({d['disk']})",
                    "figures": f"refused with {d['refused_with']}; back in {d['recovery_seconds']} s; "
                    f"integrity {d['integrity']}",
                    "verdict": "ok"
                    if d["integrity"] == "ok" and d["ledger_consistent"] and d["held_job"] == "completed"
                    else "PROBLEM",
                }
            )
    fuzz = results.get("fuzz", {})
    if "calls" in fuzz:
        rows.append(
            {
                "part": "fuzz",
                "figures": f"{fuzz['calls']} calls in {fuzz['seconds']} s, slowest {fuzz['slowest_call_seconds']} s, "
                f"{len(fuzz['problems'])} problems",
                "verdict": "ok" if not fuzz["problems"] and fuzz["server_alive"] else "PROBLEM",
            }
        )
    hostile = results.get("hostile", {})
    if "pages" in hostile:
        slowest = max(p["seconds"] for p in hostile["pages"].values())
        rows.append(
            {
                "part": "hostile pages",
                "figures": f"{len(hostile['pages'])} jobs, slowest {slowest} s; server answered within "
                f"{hostile['worst_capacity_latency_seconds']} s; peak {hostile['peak_pss_mib']} MiB",
                "verdict": "ok" if hostile["next_job"] == "completed" else "PROBLEM",
            }
        )
    soak_r = results.get("soak", {})
    if "jobs" in soak_r:
        g = soak_r["growth_after_warmup"]
        rows.append(
            {
                "part": "soak",
                "figures": f"{soak_r['jobs']} jobs in {soak_r['seconds']} s; server +{g['server_pss_mib']} MiB "
                f"+{g['server_fds']} fds; {soak_r['server_pss_mib_per_100_jobs']} MiB/100 jobs once warm "
                f"({soak_r['server_pss_mib_per_100_jobs_second_half']} in the second half); "
                f"peak {soak_r['peak_pss_mib']} MiB",
                "verdict": "ok" if not soak_r["leaks_found"] and not soak_r["failed"] else "PROBLEM",
            }
        )
    flood = results.get("sessions", {})
    rows.extend(flood_row(name, r) for name, r in flood.items() if isinstance(r, dict) and "clients" in r)
    split = results.get("soak-split", {})
    for mix, r in ((m, split[m]) for m in ("scrapes", "tasks") if m in split):
        rows.append(
            {
                "part": f"soak ({mix} only)",
                "figures": f"{r['jobs']} jobs in {r['seconds']} s; server +{r['server_pss_mib_after_warmup']} MiB; "
                f"{r['server_pss_mib_per_100_jobs']} MiB/100 jobs once warm",
                "verdict": "ok" if not r["leaks_found"] and not r["failed"] else "PROBLEM",
            }
        )
    for name, value in results.items():
        if "error" in value:
            rows.append({"part": name, "figures": value["error"][:100], "verdict": "ERROR"})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reliability")
    parser.add_argument("--quick", action="store_true", help="the test-suite sizes (a few minutes)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma list of parts: {', '.join(PARTS)}")
    parser.add_argument("--soak-seconds", type=float, default=None, help="soak length (default 300, quick 45)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    soak_seconds = args.soak_seconds or (45.0 if args.quick else 300.0)
    t0 = time.monotonic()
    results = anyio.run(run, parts, args.quick, soak_seconds)
    summary = _summary(results)
    print_table("Reliability", summary, ["part", "verdict", "figures"])
    faults = {
        "server_sigkills": 1 if "crash" in results else 0,
        "chromium_sigkills": 3 if "browser" in results else 0,
        "disk_faults": 2 if "disk" in results else 0,
        "hostile_pages": len(results.get("hostile", {}).get("pages", {})),
        "fuzzed_calls": results.get("fuzz", {}).get("calls", 0),
    }
    print("\nfaults injected: " + ", ".join(f"{k}={v}" for k, v in faults.items()))
    leaks = results.get("soak", {}).get("leaks_found", [])
    print("leaks found: " + ("; ".join(leaks) if leaks else "none"))
    write_json(
        "reliability",
        {
            "mode": "quick" if args.quick else "full",
            "wall_seconds": round(time.monotonic() - t0, 1),
            "load_average": os.getloadavg(),
            "faults_injected": faults,
            "summary": summary,
            "results": results,
        },
    )
    return 0 if all(row["verdict"] == "ok" for row in summary) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
