"""`mcp-browsa live JOB_ID`: print the address of a running job's live view; the HTTP transport's live address.

The address is read from the data dir, so it works from any terminal while the process running the job serves
the view (on its HTTP port, or on the loopback port it opened for it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mcp_browsa.config import Settings
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE

__all__ = ["add_parser", "live_base_url", "run"]


def live_base_url(host: str, port: int, extra_hosts: list[str] | None) -> str:
    """Where views are served beside the HTTP transport: the first --allowed-host if the operator named one (the
    address people reach it by), else the bound address."""
    from mcp_browsa.live.web import url_host

    if extra_hosts:
        return f"http://{extra_hosts[0]}"
    return f"http://{url_host(host)}:{port}"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("live", help="print the live view address of a running job")
    p.add_argument("job_id")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace the job belongs to")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_browsa.app import Browsa, Caller

    async with Browsa(settings).running(workers=False) as app:
        job = await app.get_job(Caller(workspace_id=args.workspace), args.job_id)
    if job.live_url:
        print(job.live_url, flush=True)
        return 0
    if job.status in ("completed", "failed", "cancelled"):
        why = f"job {job.id} has ended ({job.status}); its live view ended with it"
    elif job.status == "queued":
        why = f"job {job.id} is queued; its live view opens when its browser starts"
    else:
        why = f"job {job.id} ({job.kind}, {job.status}) has no browser to show"
    print(why, file=sys.stderr, flush=True)
    return 1
