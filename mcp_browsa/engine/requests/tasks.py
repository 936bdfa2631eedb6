"""Agent work as requests: a task (`run_task`, kind "task") and a batch of tasks (`batch(tasks=…)`, kind "batch").

The bounds and descriptions live here once, as the argument types the tools declare and the fields the models
hold; the runner reads the same model back from the job's params.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from mcp_browsa.engine.requests.base import AllowedDomains, Concurrency, Country, IdentityRef, ModelChoice, OsTypeName

__all__ = [
    "MAX_BATCH_TASKS",
    "MAX_FANOUT",
    "MAX_STEPS",
    "MAX_TASK_CHARS",
    "MAX_TASK_SECONDS",
    "AllowWrites",
    "Fanout",
    "MaxCredits",
    "MaxSteps",
    "OsType",
    "OutputSchema",
    "ScreenshotOptions",
    "Screenshots",
    "StartUrl",
    "SuccessCondition",
    "TaskBatchRequest",
    "TaskInput",
    "TaskRequest",
    "TaskRow",
    "TaskRows",
    "TaskText",
    "TaskTimeout",
]

MAX_STEPS = 100
MAX_FANOUT = 10
MAX_BATCH_TASKS = 1000
MAX_TASK_SECONDS = 3 * 3600  # a task or a batch row may run up to three hours
MAX_TASK_CHARS = 10_000

TaskText = Annotated[
    str, Field(min_length=1, max_length=MAX_TASK_CHARS, description="What the browser should do, in words.")
]
StartUrl = Annotated[str | None, Field(max_length=4096, description="Page to start on (http/https).")]
MaxSteps = Annotated[int, Field(ge=1, le=MAX_STEPS, description="Most steps (one model call + one action each).")]
OutputSchema = Annotated[dict[str, Any] | None, Field(description="JSON Schema the result's `data` must match.")]
TaskInput = Annotated[
    dict[str, Any] | None, Field(description="Values the task may use ({{secret:NAME}} for vaulted ones).")
]
SuccessCondition = Annotated[
    str | None, Field(max_length=2000, description="What the final page must show (a model checks it).")
]
TaskTimeout = Annotated[
    float, Field(ge=10, le=MAX_TASK_SECONDS, description="Wallclock limit, up to 3 h (answer waits excluded).")
]
Fanout = Annotated[int, Field(ge=1, le=MAX_FANOUT, description="Race this many browsers; the first success wins.")]
MaxCredits = Annotated[int | None, Field(ge=1, description="Credit cap for this task.")]
AllowWrites = Annotated[bool, Field(description="Let the agent submit forms (POST, PUT, …); off: read only.")]
OsType = Annotated[OsTypeName | None, Field(description="Operating system the browser presents.")]


class ScreenshotOptions(BaseModel):
    mode: Literal["final_only", "every_step", "on_navigation"] = Field(
        "final_only",
        description="final_only, every_step or on_navigation (each new page).",
    )
    full_page: bool = Field(False, description="Capture whole pages, not only the viewport.")


Screenshots = Annotated[ScreenshotOptions | None, Field(description="When to take screenshots (default final_only).")]


class _AgentWork(ModelChoice):
    """What a job's agents may do, shared by a task and a batch of tasks."""

    max_steps: MaxSteps = 20
    allowed_domains: AllowedDomains = None
    allow_writes: AllowWrites = True


class TaskRequest(_AgentWork):
    """run_task: one browser agent on a task in plain English (a job of kind "task")."""

    task: TaskText
    initial_url: StartUrl = None
    output: OutputSchema = None
    input: TaskInput = None
    success_condition: SuccessCondition = None
    timeout_seconds: TaskTimeout = 900
    screenshots: Screenshots = None
    fanout: Fanout = 1
    max_credits: MaxCredits = None
    os_type: OsType = None
    country: Country = None
    identity_id: IdentityRef = None

    @field_validator("screenshots", mode="after")
    @classmethod
    def _default_shots(cls, value: ScreenshotOptions | None) -> ScreenshotOptions:
        return ScreenshotOptions() if value is None else value

    @property
    def shots(self) -> ScreenshotOptions:
        return self.screenshots or ScreenshotOptions()


class TaskRow(BaseModel):
    """One agent task in a batch."""

    instruction: str = Field(min_length=1, max_length=MAX_TASK_CHARS, description="What to do, in plain English.")
    url: str | None = Field(None, max_length=4096, description="Page to start on (http or https).")
    input: dict[str, Any] | None = Field(None, description="Values the task may use.")
    output: dict[str, Any] | None = Field(None, description="JSON Schema the row's `data` must match.")
    success_condition: str | None = Field(None, max_length=2000, description="What must hold on the final page.")
    timeout_seconds: float = Field(300, ge=10, le=MAX_TASK_SECONDS, description="Wallclock limit for this row.")


TaskRows = Annotated[
    list[TaskRow],
    Field(
        min_length=1, max_length=MAX_BATCH_TASKS, description="Agent tasks instead of URLs, each its own browser agent."
    ),
]


class TaskBatchRequest(_AgentWork):
    """batch(tasks=…): agent tasks as one job of kind "batch", each row its own browser agent."""

    tasks: TaskRows
    concurrency: Concurrency = None
