"""A job's row read into its shapes: the public Job, a claimed job's working copy, a row's duration."""

from __future__ import annotations

from typing import Any

from mcp_browsa.models import Job
from mcp_browsa.storage.db import Row, loads

__all__ = ["ClaimedJob", "duration_ms", "job_from_row"]


def job_from_row(row: Row) -> Job:
    data = dict(row)
    data["result"] = loads(data.get("result"))
    return Job.model_validate(data)


def duration_ms(started: float | None, ended: float | None) -> int | None:
    """How long a row ran: None while it runs, 0 for one that ended without starting (refused, cancelled)."""
    if ended is None:
        return None
    return round((ended - started) * 1000) if started is not None else 0


class ClaimedJob:
    """A job this worker holds: its row at claim time plus the lease token proving ownership."""

    def __init__(self, row: Row, token: str) -> None:
        self.id: str = row["id"]
        self.kind: str = row["kind"]
        self.workspace_id: str = row["workspace_id"]
        self.params: dict[str, Any] = loads(row["params"]) or {}
        self.attempts: int = row["attempts"]
        self.created_at: float = row["created_at"]
        self.answer: str | None = row["answer"]
        self.step_count: int = row["step_count"]
        self.token = token
