"""Jobs as MCP tasks (2025-11-25 task-augmented requests): the task is our job, under its own id.

A client that sends `tools/call` with `task` for run_task, batch or crawl gets a `CreateTaskResult` at once, and
`tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` read and cancel the same job that get_job, list_jobs,
cancel_job and webhooks see. Served as an SDK extension (the tasks/* methods) and a server middleware (the
`tools/call` answer); clients that never ask for a task keep the job + long-poll flow unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CancelTaskRequestParams,
    GetTaskPayloadRequestParams,
    GetTaskRequestParams,
    PaginatedRequestParams,
    Task,
    TaskStatus,
)

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.errors import BrowsaError, new_request_id
from mcp_browsa.models import Job
from mcp_browsa.server import WORKSPACE_STATE_KEY, current_workspace, error_result
from mcp_browsa.tools.results import job_result

__all__ = ["TASK_TOOLS", "JobTasks", "task_calls"]

TASK_TOOLS = frozenset({"run_task", "batch", "crawl"})
POLL_MS = 2000
RESULT_WAIT = 50.0  # tasks/result waits for the end in slices no host cuts; the client asks again after
_STATUS: dict[str, TaskStatus] = {
    "queued": "working",
    "running": "working",
    "input_required": "input_required",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0, timezone.utc).isoformat().replace("+00:00", "Z")


def task_of(job: Job) -> dict[str, Any]:
    """The job as the fields of an MCP Task."""
    message = job.question if job.status == "input_required" else job.error_message or job.last_action
    updated = job.completed_at or job.started_at or job.created_at
    return {
        "task_id": job.id,
        "status": _STATUS.get(str(job.status), "working"),
        "status_message": message,
        "created_at": _iso(job.created_at),
        "last_updated_at": _iso(updated),
        "ttl": None,  # jobs are kept; nothing expires them
        "poll_interval": POLL_MS,
    }


def task_wire(job: Job) -> dict[str, Any]:
    """The job as a Task on the wire: `ttl` stays (null = kept), other empty fields go."""
    task = Task(**task_of(job)).model_dump(by_alias=True, mode="json")
    return {k: v for k, v in task.items() if v is not None or k == "ttl"}


def _caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    scope = getattr(ctx.request, "scope", None)
    state = scope.get("state") if isinstance(scope, dict) else None
    workspace = state.get(WORKSPACE_STATE_KEY) if isinstance(state, dict) else None
    return Caller(workspace_id=workspace or current_workspace.get(), request_id=new_request_id())


class JobTasks(Extension):
    identifier = "io.modelcontextprotocol/tasks"

    def __init__(self, app: Browsa) -> None:
        self.app = app

    def settings(self) -> dict[str, Any]:
        return {"tools": sorted(TASK_TOOLS), "list": True, "cancel": True}

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding("tasks/get", GetTaskRequestParams, self._get),
            MethodBinding("tasks/result", GetTaskPayloadRequestParams, self._result),
            MethodBinding("tasks/list", PaginatedRequestParams, self._list),
            MethodBinding("tasks/cancel", CancelTaskRequestParams, self._cancel),
        ]

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: GetTaskRequestParams) -> HandlerResult:
        try:
            job = await self.app.get_job(_caller(ctx), params.task_id)
        except BrowsaError as exc:
            return _refusal(exc)
        return task_wire(job)

    async def _result(self, ctx: ServerRequestContext[Any, Any], params: GetTaskPayloadRequestParams) -> HandlerResult:
        try:
            job = await self.app.get_job(_caller(ctx), params.task_id, wait=RESULT_WAIT)
        except BrowsaError as exc:
            return _refusal(exc)
        return await job_result(self.app, job)

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams) -> HandlerResult:
        jobs = await self.app.list_jobs(_caller(ctx), limit=100)
        return {"tasks": [task_wire(j) for j in jobs.jobs if j.kind in ("task", "batch", "crawl")]}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: CancelTaskRequestParams) -> HandlerResult:
        try:
            job = await self.app.cancel_job(_caller(ctx), params.task_id)
        except BrowsaError as exc:
            return _refusal(exc)
        return task_wire(job)


async def task_calls(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a `tools/call` of a task tool made with `task` answers with the job as a task.

    A middleware, not a tool-call interceptor, because the SDK shapes a handler's `tools/call` answer as a
    CallToolResult on handshake-era connections; a middleware's own answer goes out as it is.
    """
    params = ctx.params
    if ctx.method != "tools/call" or not isinstance(params, dict) or params.get("task") is None:
        return await call_next(ctx)
    if params.get("name") not in TASK_TOOLS:
        return await call_next(ctx)
    arguments = params.get("arguments")
    if isinstance(arguments, dict) and "wait" in arguments:
        # A task returns at once; tasks/result is where one waits.
        ctx = replace(ctx, params={**params, "arguments": {**arguments, "wait": 0}})
    answer = await call_next(ctx)
    job = answer.get("structuredContent") if isinstance(answer, dict) and not answer.get("isError") else None
    if not isinstance(job, dict) or "id" not in job:
        return answer  # refused: the error envelope, as for any call
    return {"task": task_wire(Job.model_validate(job))}


def _refusal(exc: BrowsaError) -> HandlerResult:
    """A refused task request: an MCP error carrying our envelope, so the client sees code and message."""
    envelope = error_result(exc, new_request_id()).content[0]
    raise MCPError(code=INVALID_PARAMS, message=exc.message, data=getattr(envelope, "text", None))
