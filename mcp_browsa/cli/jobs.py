"""Terminal commands on jobs and credits: `mcp-browsa scrape`, `batch`, `jobs`, `job` and `credits`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.cli.output import emit, say
from mcp_browsa.cli.setup import ensure_browser
from mcp_browsa.config import Settings
from mcp_browsa.engine.requests import ScrapeRequest, UrlBatchRequest
from mcp_browsa.jobs_text import http_status_note, jobs_table
from mcp_browsa.models import Job

__all__ = ["cmd_batch", "cmd_credits", "cmd_job", "cmd_jobs", "cmd_scrape", "job_text"]


def job_text(job: Job) -> str:
    lines = [f"job {job.id}  {job.kind}  {job.status}  credits={job.credits_charged}"]
    if note := http_status_note(job.result):
        lines[0] += f"  {note}: the page answered with an error; what follows is that page"
    if job.error_code:
        lines.append(f"error: {job.error_code}: {job.error_message}")
    result = job.result or {}
    for key in ("final_url", "title"):
        if key in result:
            lines.append(f"{key}: {result[key]}")
    for key in ("markdown", "text", "content", "final_result"):
        if key in result:
            lines.append("")
            lines.append(str(result[key]))
    if "links" in result:
        lines += [f"- {lk['text'] or '(no text)'} <{lk['url']}>" for lk in result["links"]]
    if "screenshot" in result:
        lines.append(f"screenshot: {result['screenshot']}")
    for item in job.items or []:
        extra = f" {item.error_code}: {item.error_message}" if item.error_code else ""
        if not item.error_code and (note := http_status_note(item.result)):
            extra = f" {note}"
        lines.append(f"  [{item.index}] {item.status} {item.url or ''}{extra}")
    return "\n".join(lines)


def _progress_bar() -> Callable[[Job], Awaitable[None]]:
    async def show(job: Job) -> None:
        total = job.progress_total or 1
        done = min(job.progress_done, total)
        width = 30
        filled = int(width * done / total)
        bar = "█" * filled + "·" * (width - filled)
        sys.stderr.write(f"\r{job.status:<10} [{bar}] {done}/{total} {(job.last_action or '')[:40]:<40}")
        sys.stderr.flush()

    return show


async def _wait_done(app: Browsa, job: Job, show: bool) -> Job:
    progress = _progress_bar() if show and sys.stderr.isatty() else None
    while job.status in ("queued", "running"):
        job = await app.get_job(Caller(), job.id, wait=30, on_progress=progress)
    if progress is not None:
        sys.stderr.write("\n")
    return job


async def cmd_scrape(settings: Settings, args: argparse.Namespace) -> int:
    ensure_browser(settings)
    async with Browsa(settings).running() as app:
        req = ScrapeRequest(url=args.url, formats=args.format or ["markdown"], max_chars=args.max_chars)
        job = await app.scrape(Caller(), req)
        job = await _wait_done(app, job, not args.json)
        emit(job, args.json, job_text)
        return 0 if job.status == "completed" else 1


async def cmd_batch(settings: Settings, args: argparse.Namespace) -> int:
    ensure_browser(settings)
    async with Browsa(settings).running() as app:
        job = await app.batch_urls(Caller(), UrlBatchRequest(urls=args.urls, formats=args.format or ["markdown"]))
        job = await _wait_done(app, job, not args.json)
        emit(job, args.json, job_text)
        return 0 if job.status == "completed" else 1


async def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async with Browsa(settings).running(workers=False) as app:
        listing = await app.list_jobs(Caller(), status=args.status, kind=args.kind, limit=args.limit)
        targets = await app.engine.jobs.targets([j.id for j in listing.jobs])
        emit(listing, args.json, lambda lst: jobs_table(lst.jobs, targets))
    return 0


async def cmd_job(settings: Settings, args: argparse.Namespace) -> int:
    async with Browsa(settings).running(workers=False) as app:
        job = await app.get_job(Caller(), args.job_id)
        emit(job, args.json, job_text)
    return 0


async def cmd_credits(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "add" and (args.amount is None or args.amount <= 0):
        say("usage: mcp-browsa credits add N  (N > 0)")
        return 2
    async with Browsa(settings).running(workers=False) as app:
        if args.action == "add":
            await app.engine.ledger.top_up(Caller().workspace_id, args.amount, "top-up from the command line")
        credits = await app.credits(Caller(), limit=args.limit)

        def text(c: Any) -> str:
            rows = [f"balance: {c.balance} credits   LLM spend: ${c.usd_spent:.4f}"]
            rows += [f"  #{e.id} {e.kind:<7} {e.amount:+6d} → {e.balance_after:<6} {e.description}" for e in c.ledger]
            return "\n".join(rows)

        emit(credits, args.json, text)
    return 0
