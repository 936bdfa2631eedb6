"""Accepting agent tasks: checking their parameters, holding their API keys in memory, answering their questions.

A key given with a call is never written anywhere: it lives in `AgentTasks.keys` under the job id until the job
ends, and the job is pinned to this process (its queued row names this worker as lease owner), so no other
process claims a task whose key it cannot have. A task whose process died ends INTERRUPTED.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcp_browsa.config import Settings
from mcp_browsa.engine.agent.human import deliver_answer
from mcp_browsa.engine.agent.output import check_output_schema
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.requests import (
    MAX_TASK_CHARS,
    MAX_TASK_SECONDS,
    BatchJob,
    JobRequest,
    ModelChoice,
    TaskBatchRequest,
    TaskRequest,
)
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

__all__ = ["DEFAULT_LLM", "AgentTasks"]

DEFAULT_LLM = "anthropic:claude-haiku-4-5"
MAX_INPUT_CHARS = 8_000
MAX_ANSWER_CHARS = 10_000
RESUME_WAIT = 5.0  # respond_to_job waits this long for the task to pick its answer up
_ENDED = ("job.completed", "job.failed", "job.cancelled")

UrlCheck = Callable[[str, str], str]  # (url, field name) -> the checked URL, or BadRequest / Forbidden


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
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.settings = settings
        self.owner = owner
        # The vendors' variables (read with the settings) decide which key a task gets when the call has none.
        self.env: dict[str, str] = settings.vendor_env
        self.endpoints = EndpointPolicy.from_settings(
            settings.allow_private_network, settings.llm_endpoints, settings.llm
        )
        self.keys: dict[str, str] = {}
        self.samplers: dict[str, Sampler] = {}  # jobs on the client's own model: the client serving them
        self._waiting: dict[str, int] = {}
        self.runs_jobs = True  # False on a front-end started with --no-worker
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

    def guard_for(self, spec: LLMSpec, *, local: bool) -> EndpointGuard | None:
        """The address check the model calls of a job (local: from the machine's own user) pass."""
        return self.endpoints.guard_for(spec, local=local)

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

    async def task_params(self, workspace_id: str, req: TaskRequest, *, local: bool) -> tuple[TaskRequest, str]:
        """A run_task request as the job stores it (its model resolved, no key in it) plus the key to hold in
        memory; BadRequest if wrong."""
        spec, key, source = await self.llm(req.llm, req.llm_api_key, local=local)
        fields = self.task_fields(
            req.task,
            input=req.input,
            output=req.output,
            success_condition=req.success_condition,
            timeout_seconds=req.timeout_seconds,
        )
        await self._require_secrets(workspace_id, fields)
        resolved = {"llm": spec, "key_source": source, "llm_local": local, "llm_api_key": None}
        return req.model_copy(update={**fields, **resolved, "screenshots": req.shots}), key

    async def batch_params(
        self, workspace_id: str, req: TaskBatchRequest, *, check_url: UrlCheck, local: bool
    ) -> tuple[BatchJob, list[dict[str, Any]], str]:
        """(the batch job's params, one item per row, key) for a batch of agent tasks."""
        spec, key, source = await self.llm(req.llm, req.llm_api_key, local=local)
        items: list[dict[str, Any]] = []
        for i, row in enumerate(req.tasks):
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
        job = BatchJob(
            count=len(items),
            tasks=len(items),
            concurrency=req.concurrency,
            llm=spec,
            key_source=source,
            llm_local=local,
            max_steps=req.max_steps,
            allowed_domains=req.allowed_domains,
            allow_writes=req.allow_writes,
        )
        return job, items, key

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
        params: JobRequest,
        key: str,
        *,
        progress_total: int,
        items: list[dict[str, Any]] | None = None,
        sampler: Sampler | None = None,
    ) -> Job:
        """Queue the job. One whose key came with the call (or whose model is the calling client's) is pinned to
        this process, its key or client held in memory from the moment the row exists; one on the server's key
        may run on any worker sharing the database."""
        created: list[str] = []
        pinned = isinstance(params, ModelChoice) and params.key_source in ("call", "client")
        if pinned and not self.runs_jobs:
            raise BadRequest(
                "this server runs no jobs itself (--no-worker), and a task whose model key comes with the call, or"
                " whose model is the client's own, can only run in the process that received it: give the workers"
                " the key (BROWSA_LLM_API_KEY) and leave llm_api_key out, or call a server that runs jobs"
            )

        async def pin(conn: Conn, job_id: str) -> None:
            if pinned:
                await JobRepo.pin(conn, job_id, self.owner, self.settings.lease_seconds)
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
