"""Public pydantic models: the shapes tools return, the CLI prints and webhooks carry.

Field descriptions here are the documentation the host model reads in each tool's output schema.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL",
    "BatchItem",
    "Capacity",
    "Credits",
    "Job",
    "JobEvent",
    "JobKind",
    "JobList",
    "JobStatus",
    "LedgerEntry",
    "PriceTable",
]


class JobStatus(str, Enum):
    QUEUED = "queued"  # waiting for a worker and a burner
    RUNNING = "running"  # a worker holds the lease
    INPUT_REQUIRED = "input_required"  # the agent asked a human; respond_to_job resumes it
    HUMAN_CONTROL = "human_control"  # a person took over the browser in the live view; the agent waits for it back
    COMPLETED = "completed"  # finished; `result` holds the output
    FAILED = "failed"  # finished with `error_code` / `error_message`
    CANCELLED = "cancelled"  # stopped on request; billed only for work done


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobKind(str, Enum):
    TASK = "task"
    SCRAPE = "scrape"
    EXTRACT = "extract"
    SCREENSHOT = "screenshot"
    BATCH = "batch"
    LOGIN = "login"  # the login tool: vaulted credentials filled into one site's form
    SESSION = "session"  # a browser the host's own model drives step by step (open_session)
    CRAWL = "crawl"  # a URL batch whose rows are found by following links and the sitemap
    MAP = "map"  # a site's URLs, without their content


class _Model(BaseModel):
    model_config = ConfigDict(use_enum_values=True)


class BatchItem(_Model):
    index: int = Field(description="Position of this row in the batch, from 0.")
    url: str | None = Field(None, description="The row's URL (URL batches and tasks with a start URL).")
    status: JobStatus = Field(description="This row's own status; one failing row never fails the batch.")
    result: dict[str, Any] | None = Field(None, description="The row's output when completed.")
    error_code: str | None = Field(None, description="Why the row failed, e.g. NO_TARGET, BLOCKED, TIMEOUT.")
    error_message: str | None = Field(None, description="What went wrong, in words.")
    credits_charged: int = Field(0, description="Credits this row cost.")
    duration_ms: int | None = Field(None, description="How long the row ran.")
    live_url: str | None = Field(None, description="While this task row runs: its browser, live.")


class Job(_Model):
    id: str = Field(description="Job id (UUID). Poll it with get_job.")
    kind: JobKind = Field(description="task | scrape | extract | screenshot | batch | login | session | crawl | map")
    status: JobStatus = Field(
        description="queued | running | input_required | human_control | completed | failed | cancelled"
    )
    step_count: int = Field(0, description="Agent steps taken so far.")
    progress_done: int = Field(0, description="Units finished (steps, or batch rows).")
    progress_total: int = Field(0, description="Units planned (max steps, or batch rows).")
    credits_charged: int = Field(0, description="Credits this job has cost so far.")
    cost_usd: float = Field(0.0, description="LLM spend in USD recorded for this job.")
    input_tokens: int = Field(0, description="LLM input tokens this job has used.")
    output_tokens: int = Field(0, description="LLM output tokens this job has used.")
    agent_id: str | None = Field(None, description="Identity the job ran on, if any.")
    live_url: str | None = Field(
        None, description="While the job runs: a page to watch its browser live and take control (no key needed)."
    )
    created_at: float = Field(0.0, description="Unix time the job was created.")
    started_at: float | None = Field(None, description="Unix time a worker first picked it up.")
    completed_at: float | None = Field(None, description="Unix time it ended.")
    result: dict[str, Any] | None = Field(None, description="The output, once completed.")
    error_code: str | None = Field(None, description="Failure code when failed, e.g. TIMEOUT, BLOCKED, INTERRUPTED.")
    error_message: str | None = Field(None, description="What went wrong and what to do about it.")
    question: str | None = Field(None, description="The question to answer with respond_to_job when input_required.")
    request_id: str | None = Field(None, description="Id of the request that created the job.")
    last_action: str | None = Field(None, description="The newest step, in a few words.")
    items: list[BatchItem] | None = Field(None, description="Per-row status and results (batch jobs).")
    events: list[JobEvent] | None = Field(
        None, description="Step timeline, when asked for (get_job events_after); the last id is the next cursor."
    )
    screenshots: list[str] | None = Field(
        None, description="Resource URIs of the job's screenshots (browsa://jobs/{id}/screenshots/{n})."
    )
    idempotent_replay: bool | None = Field(None, description="True when this response replays an earlier call.")
    hint: str | None = Field(None, description="What to do next, e.g. when to poll again.")
    notes: list[str] | None = Field(
        None, description="What this answer leaves out and why, e.g. a screenshot too big to attach as an image."
    )
    routed_via: Literal["scrape", "task"] | None = Field(
        None, description="auto only: which path the request took (scrape needs no LLM)."
    )
    routing_reason: str | None = Field(None, description="auto only: why it was routed that way.")


class JobEvent(_Model):
    id: int = Field(description="Event sequence number (use as a cursor).")
    type: str = Field(description="Event type, e.g. job.started, step, blocked_request, job.completed.")
    created_at: float = Field(description="Unix time.")
    data: dict[str, Any] = Field(default_factory=dict, description="Event details.")


class JobList(_Model):
    jobs: list[Job] = Field(description="Newest first.")
    count: int = Field(description="How many jobs are on this page.")
    next_cursor: str | None = Field(None, description="The `cursor` of the next page; absent on the last.")
    total: int = Field(0, description="How many jobs match, over every page.")


class LedgerEntry(_Model):
    id: int
    created_at: float
    kind: Literal["charge", "refund", "topup", "grant"] = Field(description="What moved the balance.")
    amount: int = Field(description="Credits: negative for charges, positive for top-ups and refunds.")
    balance_after: int = Field(description="Running balance after this row.")
    job_id: str | None = None
    agent_id: str | None = None
    usd: float = Field(0.0, description="LLM spend in USD recorded with this row.")
    description: str


class PriceTable(_Model):
    burner_start: int = Field(1, description="Credits to start a burner (per job or identity).")
    burner_minute: int = Field(1, description="Credits per started burner-minute after the first.")
    agent_step: int = Field(1, description="Credits per agent step (LLM decision + action).")
    persistent_session: int = Field(5, description="Credits per persistent-identity session.")
    non_default_country: int = Field(2, description="Surcharge for a burner in a non-default country.")


class Credits(_Model):
    workspace_id: str
    balance: int = Field(description="Credits left. At 0, new work fails with INSUFFICIENT_CREDIT.")
    prices: PriceTable
    ledger: list[LedgerEntry] = Field(description="Latest ledger rows, newest first.")
    usd_spent: float = Field(description="Total LLM spend recorded, USD.")


class Capacity(_Model):
    queued: int = Field(description="Jobs waiting.")
    running: int = Field(description="Jobs running now (all processes on this data dir).")
    input_required: int = Field(description="Jobs waiting for a human answer.")
    burners_in_use: int = Field(description="Browser contexts busy in this process.")
    burners_max: int = Field(description="BROWSA_MAX_BURNERS.")
    utilization: float = Field(description="burners_in_use / burners_max.")
    oldest_queued_age_seconds: float | None = Field(description="Age of the oldest queued job.")
    browser: str | None = Field(None, description="The browser this process drives.")
    browser_contexts: int = Field(
        0,
        description="Contexts open in this process's shared browser: burners in use plus warm spares (more means"
        " contexts of finished work are not being closed).",
    )
    spares_ready: int = Field(0, description="Warm contexts ready for hand-over now (BROWSA_WARM_SPARES at most).")


Job.model_rebuild()
