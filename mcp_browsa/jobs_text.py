"""Jobs as a person at a terminal reads them: the `mcp-browsa jobs` table, and a page's HTTP status that is not 2xx.

Plain functions over the public models, so the CLI stays a thin layer and the wording can be tested on its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mcp_browsa.models import Job

__all__ = ["age", "http_status_note", "jobs_table"]

_TARGET_WIDTH = 60


def age(created_at: float, now: float | None = None) -> str:
    """How long ago, in the largest unit that fits: 12s, 5m, 3h, 2d."""
    seconds = max(0, int((time.time() if now is None else now) - created_at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def http_status_note(result: Mapping[str, Any] | None) -> str | None:
    """'HTTP 404' when the page answered outside 2xx: the job still completed, and the content is the error page."""
    status = (result or {}).get("status")
    if isinstance(status, int) and not 200 <= status < 300:
        return f"HTTP {status}"
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TARGET_WIDTH else text[: _TARGET_WIDTH - 1] + "…"


def jobs_table(jobs: list[Job], targets: Mapping[str, str], *, now: float | None = None) -> str:
    """One row per job under a header: id, kind, status, age, credits, and the URL or task it was about."""
    if not jobs:
        return "no jobs"
    rows = [("ID", "KIND", "STATUS", "AGE", "CREDITS", "URL / TASK")]
    for job in jobs:
        status = job.status + (f" {job.error_code}" if job.error_code else "")
        rows.append(
            (
                job.id,
                job.kind,
                status,
                age(job.created_at, now),
                str(job.credits_charged),
                _clip(targets.get(job.id, "")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows
    ).rstrip()
