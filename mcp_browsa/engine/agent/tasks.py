"""Accepting agent tasks: checking their parameters, holding their API keys in memory, answering their questions.

A key given with a call is never written anywhere: it lives in `AgentTasks.keys` under the job id until the job
ends, and the job is pinned to this process (its queued row names this worker as lease owner), so no other
process claims a task whose key it cannot have. A task whose process died ends INTERRUPTED.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_browsa.config import Settings
from mcp_browsa.engine.agent.human import deliver_answer
from mcp_browsa.engine.agent.output import check_output_schema
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.errors import AgentNotRunning, BadRequest, Forbidden
from mcp_browsa.events import EngineEvent
from mcp_browsa.llm import LLMSpec, parse_llm_spec, resolve_api_key
from mcp_browsa.llm.endpoint import EndpointGuard, EndpointPolicy, EndpointRefused
from mcp_browsa.llm.sampling import CLIENT_LLM, Sampler
from mcp_browsa.models import Job, JobStatus
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.progress import JobProgressRepo
from mcp_browsa.workspace_secrets import Vault, task_secrets

__all__ = [
    "DEFAULT_LLM",
    "MAX_BATCH_TASKS",
    "MAX_FANOUT",
    "MAX_STEPS",
    "MAX_TASK_SECONDS",
    "AgentTasks",
    "ScreenshotOptions",
    "TaskRow",
]

DEFAULT_LLM = "anthropic:claude-haiku-4-5"
MAX_STEPS = 100
MAX_FANOUT = 10
MAX_BATCH_TASKS = 1000
MAX_TASK_SECONDS = 3 * 3600  # a task or a batch row may run up to three hours
MAX_TASK_CHARS = 10_000
MAX_INPUT_CHARS = 8_000
MAX_ANSWER_CHARS = 10_000
RESUME_WAIT = 5.0  # respond_to_job waits this long for the task to pick its answer up
_ENV_NAMES = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "BROWSA_LLM")
_ENDED = ("job.completed", "job.failed", "job.cancelled")

UrlCheck = Callable[[str, str], str]  # (url, field name) -> the checked URL, or BadRequest / Forbidden


class ScreenshotOptions(BaseModel):
    mode: Literal["final_only", "every_step", "on_navigation"] = Field(
        "final_only",
        description="final_only, every_step or on_navigation (each new page).",
    )
    full_page: bool = Field(False, description="Capture whole pages, not only the viewport.")


class TaskRow(BaseModel):
    """One agent task in a batch."""

    instruction: str = Field(min_length=1, max_length=MAX_TASK_CHARS, description="What to do, in plain English.")
    url: str | None = Field(None, max_length=4096, description="Page to start on (http or https).")
    input: dict[str, Any] | None = Field(None, description="Values the task may use.")
    output: dict[str, Any] | None = Field(None, description="JSON Schema the row's `data` must match.")
    success_condition: str | None = Field(None, max_length=2000, description="What must hold on the final page.")
    timeout_seconds: float = Field(300, ge=10, le=MAX_TASK_SECONDS, description="Wallclock limit for this row.")


def _check_key_text(api_key: str | None) -> None:
    """An API key travels in an HTTP header: printable ASCII only. The message names the position, never the key."""
    if api_key is None:
        return
    for i, ch in enumerate(api_key.strip()):
        if not "!" <= ch <= "~":
            what = "a space" if ch == " " else "a control character" if ch.isascii() else "a non-ASCII character"
            raise BadRequest(
                f"llm_api_key has {what} at position {i + 1}; API keys are printable ASCII — check it was copied whole"
            )


class AgentTasks:
    """The in-memory side of agent tasks in this process: keys, pins, and who is waiting on which job."""

    def __init__(
        self,
        engine: JobEngine,
        vault: Vault,
        settings: Settings,
        *,
        owner: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.settings = settings
        self.owner = owner
        source = os.environ if env is None else env
        # Read once, like Settings: the vendors' variables decide which key a task gets when the call has none.
        self.env: dict[str, str] = {k: source[k] for k in _ENV_NAMES if source.get(k)}
        if settings.llm_api_key:
            self.env["BROWSA_LLM_API_KEY"] = settings.llm_api_key
        self.endpoints = EndpointPolicy.from_settings(
            settings.allow_private_network, settings.llm_endpoints, self.env.get("BROWSA_LLM")
        )
        self.keys: dict[str, str] = {}
        self.samplers: dict[str, Sampler] = {}  # jobs on the client's own model: the client serving them
        self._waiting: dict[str, int] = {}
        engine.bus.subscribe(self._on_event)

    # -- checking a task ----------------------------------------------------------------------------------

    @property
    def default_llm(self) -> str:
        return self.env.get("BROWSA_LLM") or DEFAULT_LLM

    def has_key(self, llm: str | None) -> bool:
        """Whether a task with this `llm` (None: the default) and no key of its own would find one here."""
        try:
            return resolve_api_key(parse_llm_spec(llm or self.default_llm), None, self.env) is not None
        except ValueError:
            return False

    async def llm(self, llm: str | None, api_key: str | None, *, local: bool) -> tuple[str, str, str]:
        """(spec, key, where the key came from: call, env or client); BadRequest when the spec or the key is bad or
        no key can be found, Forbidden when the caller may not send work to the server the spec names.
        `llm="client"` is the calling client's own model: no key; the sampler comes with submit."""
        if llm is not None and llm.strip() == CLIENT_LLM:
            return CLIENT_LLM, "", "client"
        try:
            spec = parse_llm_spec(llm or self.default_llm)
        except ValueError as exc:
            raise BadRequest(f"llm: {exc}") from exc
        _check_key_text(api_key)
        try:
            await self.endpoints.precheck(spec, local=local)
        except EndpointRefused as exc:
            raise Forbidden(f"llm: {exc.reason}", rule=exc.rule) from None
        key = resolve_api_key(spec, api_key, self.env)
        if not key:
            env_name = "ANTHROPIC_API_KEY" if spec.provider == "anthropic" else "OPENAI_API_KEY"
            raise BadRequest(
                f"no API key for {spec.provider}: pass llm_api_key, or start the server with BROWSA_LLM_API_KEY or {env_name}"
            )
        return str(spec), key, "call" if api_key and api_key.strip() else "env"

    def guard_for(self, spec: LLMSpec, params: dict[str, Any]) -> EndpointGuard | None:
        """The address check a job's model calls pass; a job from before the flag existed counts as remote."""
        return self.endpoints.guard_for(spec, local=bool(params.get("llm_local", False)))

    @staticmethod
    def task_fields(
        task: str,
        *,
        input: dict[str, Any] | None,
        output: dict[str, Any] | None,
        success_condition: str | None,
        timeout_seconds: float,
        field: str = "task",
    ) -> dict[str, Any]:
        text = (task or "").strip()
        if not text:
            raise BadRequest(f"{field} is empty; say what the browser should do")
        if len(text) > MAX_TASK_CHARS:
            raise BadRequest(f"{field} is {len(text):,} characters; the limit is {MAX_TASK_CHARS:,}")
        if input is not None:
            size = len(json.dumps(input, ensure_ascii=False, default=str))
            if size > MAX_INPUT_CHARS:
                raise BadRequest(f"input is {size:,} characters as JSON; the limit is {MAX_INPUT_CHARS:,}")
        if output is not None:
            try:
                check_output_schema(output)
            except ValueError as exc:
                raise BadRequest(str(exc)) from exc
        if not 10 <= timeout_seconds <= MAX_TASK_SECONDS:
            raise BadRequest(f"timeout_seconds must be between 10 and {MAX_TASK_SECONDS} (3 hours)")
        condition = (success_condition or "").strip() or None
        return {
            "task": text,
            "input": input,
            "output": output,
            "success_condition": condition,
            "timeout_seconds": timeout_seconds,
        }

    async def task_params(
        self,
        workspace_id: str,
        task: str,
        *,
        llm: str | None,
        llm_api_key: str | None,
        local: bool,
        initial_url: str | None,
        max_steps: int,
        output: dict[str, Any] | None,
        input: dict[str, Any] | None,
        success_condition: str | None,
        timeout_seconds: float,
        screenshots: ScreenshotOptions | dict[str, Any] | None,
        fanout: int,
        max_credits: int | None,
        allowed_domains: list[str] | None,
        allow_writes: bool,
        os_type: str | None,
        country: str | None,
        identity_id: str | None,
    ) -> tuple[dict[str, Any], str]:
        """A run_task call as job params (no key in them) plus the key to hold in memory; BadRequest if wrong."""
        spec, key, source = await self.llm(llm, llm_api_key, local=local)
        if not 1 <= max_steps <= MAX_STEPS:
            raise BadRequest(f"max_steps must be between 1 and {MAX_STEPS}")
        if not 1 <= fanout <= MAX_FANOUT:
            raise BadRequest(f"fanout must be between 1 and {MAX_FANOUT}")
        if max_credits is not None and max_credits < 1:
            raise BadRequest("max_credits must be at least 1")
        fields = self.task_fields(
            task, input=input, output=output, success_condition=success_condition, timeout_seconds=timeout_seconds
        )
        await self._require_secrets(workspace_id, fields)
        shots = ScreenshotOptions.model_validate(screenshots or {})
        return {
            **fields,
            "llm": spec,
            "key_source": source,
            "llm_local": local,
            "initial_url": initial_url,
            "max_steps": max_steps,
            "screenshots": shots.model_dump(),
            "fanout": fanout,
            "max_credits": max_credits,
            "allowed_domains": allowed_domains,
            "allow_writes": allow_writes,
            "os_type": os_type,
            "country": country,
            "identity_id": identity_id,
        }, key

    async def batch_params(
        self,
        workspace_id: str,
        rows: list[TaskRow],
        *,
        check_url: UrlCheck,
        llm: str | None,
        llm_api_key: str | None,
        local: bool,
        max_steps: int,
        concurrency: int | None,
        allowed_domains: list[str] | None,
        allow_writes: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        """(batch params, one item per row, key) for a batch of agent tasks."""
        if not rows:
            raise BadRequest("tasks is empty; give at least one task")
        if len(rows) > MAX_BATCH_TASKS:
            raise BadRequest(f"{len(rows)} tasks; a batch takes at most {MAX_BATCH_TASKS}")
        spec, key, source = await self.llm(llm, llm_api_key, local=local)
        if not 1 <= max_steps <= MAX_STEPS:
            raise BadRequest(f"max_steps must be between 1 and {MAX_STEPS}")
        items: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            fields = self.task_fields(
                row.instruction,
                input=row.input,
                output=row.output,
                success_condition=row.success_condition,
                timeout_seconds=row.timeout_seconds,
                field=f"tasks[{i}].instruction",
            )
            await self._require_secrets(workspace_id, fields)
            item: dict[str, Any] = {"kind": "task", "url": None, "instruction": fields.pop("task"), **fields}
            if row.url:
                try:
                    item["url"] = check_url(row.url, f"tasks[{i}].url")
                except Forbidden as exc:
                    # As in URL batches, a refused URL fails its own row (BLOCKED), never the other rows.
                    item.update(url=row.url.strip(), blocked=exc.message)
            items.append(item)
        params = {
            "count": len(items),
            "tasks": len(items),
            "concurrency": concurrency,
            "llm": spec,
            "key_source": source,
            "llm_local": local,
            "max_steps": max_steps,
            "allowed_domains": allowed_domains,
            "allow_writes": allow_writes,
        }
        return params, items, key

    async def _require_secrets(self, workspace_id: str, fields: dict[str, Any]) -> None:
        # A task naming {{secret:NAME}} that the vault lacks fails now, before any browser or model call.
        names = task_secrets(fields["task"], fields.get("input"))
        if names:
            await self.vault.require(workspace_id, names)

    # -- submitting -----------------------------------------------------------------------------------------

    async def submit(
        self,
        workspace_id: str,
        request_id: str | None,
        kind: str,
        params: dict[str, Any],
        key: str,
        *,
        progress_total: int,
        items: list[dict[str, Any]] | None = None,
        sampler: Sampler | None = None,
    ) -> Job:
        """Queue the job pinned to this process, its key (or the client serving its model) held in memory from
        the moment the row exists."""
        created: list[str] = []

        async def pin(conn: Conn, job_id: str) -> None:
            await JobRepo.pin(conn, job_id, self.owner)
            # Before the commit: a worker may claim the job the moment it is visible.
            self.keys[job_id] = key
            if sampler is not None:
                self.samplers[job_id] = sampler
            created.append(job_id)

        try:
            return await self.engine.submit(
                workspace_id,
                kind,
                params,
                request_id=request_id,
                progress_total=progress_total,
                items=items,
                extra=pin,
            )
        except BaseException:
            for job_id in created:
                self.keys.pop(job_id, None)
                self.samplers.pop(job_id, None)
            raise

    def key_for(self, job_id: str, spec: LLMSpec, key_source: str) -> str | None:
        """The key a running job uses; None when it came with a call this process never saw (it restarted)."""
        key = self.keys.get(job_id)
        if key is not None:
            return key
        if key_source == "call":
            return None
        return resolve_api_key(spec, None, self.env)

    async def _on_event(self, event: EngineEvent) -> None:
        if event.job_id is None or event.job_id not in self.keys:
            return
        if event.type in _ENDED:
            self.keys.pop(event.job_id, None)
            self.samplers.pop(event.job_id, None)
        elif event.type == "job.cancel_requested":
            status = await JobProgressRepo(self.engine.db).status(event.job_id)
            if status is None or status == "cancelled":  # cancelled while queued: no runner will end it
                self.keys.pop(event.job_id, None)
                self.samplers.pop(event.job_id, None)

    # -- humans -------------------------------------------------------------------------------------------

    @contextmanager
    def human_waiting(self, job_id: str) -> Iterator[None]:
        """Mark that a client able to ask its user (elicitation) is waiting on this job right now."""
        self._waiting[job_id] = self._waiting.get(job_id, 0) + 1
        try:
            yield
        finally:
            left = self._waiting.get(job_id, 1) - 1
            if left > 0:
                self._waiting[job_id] = left
            else:
                self._waiting.pop(job_id, None)

    def human_is_waiting(self, job_id: str) -> bool:
        return self._waiting.get(job_id, 0) > 0

    async def respond(self, workspace_id: str, job_id: str, answer: str, *, secret: bool) -> Job:
        """Deliver a human's answer to a job in input_required and wait briefly for the task to take it."""
        job = await self.engine.get(workspace_id, job_id, with_items=False)
        if job.status != JobStatus.INPUT_REQUIRED:
            raise AgentNotRunning(
                f"job {job.id} is {job.status}, not waiting for an answer; only a job in input_required takes one",
                job_id=job.id,
                status=job.status,
            )
        text = answer.strip()
        if not text:
            raise BadRequest("answer is empty")
        if len(text) > MAX_ANSWER_CHARS:
            raise BadRequest(f"answer is {len(text):,} characters; the limit is {MAX_ANSWER_CHARS:,}")
        question = job.question
        if not await deliver_answer(self.engine.db, self.vault, workspace_id, job.id, text, secret=secret):
            raise AgentNotRunning(f"job {job.id} was answered already or stopped waiting", job_id=job.id)
        self.engine.bus.job_changed(job.id)
        deadline = time.monotonic() + RESUME_WAIT
        while time.monotonic() < deadline:
            job = await self.engine.get(workspace_id, job.id, with_items=False)
            if job.status != JobStatus.INPUT_REQUIRED or job.question != question:
                break
            await self.engine.bus.wait_job(job.id, 0.25)
        return job
