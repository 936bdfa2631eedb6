"""What callers ask the service to start: each job kind's request checked (URL guard, schema, model) and submitted.

A tool builds the request once; these methods check what only the server can check, store the request as the
job's params and, for the one-call tools, wait for the answer within the call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_browsa.browser.private_hint import private_network_hint
from mcp_browsa.browser.wiring import make_policy
from mcp_browsa.engine.agent.tasks import AgentTasks
from mcp_browsa.engine.crawl import CrawlRequest, MapRequest
from mcp_browsa.engine.jobs import JobEngine, ProgressFn
from mcp_browsa.engine.requests import (
    BatchJob,
    ExtractRequest,
    PageRequest,
    ScrapeRequest,
    ScreenshotRequest,
    TaskBatchRequest,
    TaskRequest,
    UrlBatchRequest,
)
from mcp_browsa.engine.scrape import FORMATS
from mcp_browsa.errors import BadRequest, Forbidden
from mcp_browsa.identities import IdentityService
from mcp_browsa.llm.sampling import Sampler
from mcp_browsa.models import TERMINAL, Job
from mcp_browsa.netpolicy import Policy, PrivateNetworkRule, check_url
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from mcp_browsa.validation import check_http_url

__all__ = ["Caller", "JobCalls", "check_json_schema", "with_hint"]

MAX_SCHEMA_CHARS = 100_000  # an extraction schema is a few KB; more is a mistake or abuse
P = TypeVar("P", bound=PageRequest)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the workspace every read and write is scoped to, and the request id."""

    workspace_id: str = DEFAULT_WORKSPACE
    request_id: str | None = None
    local: bool = True  # the machine's own user (stdio, the CLI), not an API key holder over HTTP


class JobCalls:
    """The submitting half of Browsa: the guard's checks, then one job per call."""

    engine: JobEngine
    tasks: AgentTasks
    identities: IdentityService
    private: PrivateNetworkRule

    # -- URL guard policies --------------------------------------------------------------------

    def policy(self, allowed_domains: list[str] | None, *, allow_writes: bool) -> Policy:
        """The guard policy for a job; a malformed allowed_domains pattern is the caller's error."""
        try:
            return make_policy(self.private, allowed_domains=allowed_domains, allow_writes=allow_writes)
        except ValueError as exc:
            raise BadRequest(f"allowed_domains: {exc}") from exc

    def precheck(self, url: str, policy: Policy) -> None:
        """Refuse at once what the guard would refuse anyway (scheme, allowlist, literal private IPs)."""
        decision = check_url(url, policy)
        if not decision.allowed:
            hint = private_network_hint(decision.rule, url)
            raise Forbidden(f"{url[:200]} is blocked by the URL guard ({decision.rule}): {decision.reason}{hint}")

    def readonly_policy(self, params: dict[str, Any]) -> Policy:
        # One-call tools never send writes: a page cannot post a form or a fetch body on their behalf.
        return self.policy(params.get("allowed_domains"), allow_writes=False)

    # -- one-call tools -----------------------------------------------------------------------

    async def _submit_and_wait(self, caller: Caller, kind: str, req: PageRequest | MapRequest, *, wait: float) -> Job:
        # A call that waits for its answer is synchronous: no job.completed webhook follows it. One that returns
        # the job still running (async=true, or the page took longer than the wait) is announced like any job.
        req = req.model_copy(update={"sync": wait > 0})
        job = await self.engine.submit(caller.workspace_id, kind, req, request_id=caller.request_id, progress_total=1)
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job.id, wait)
            if job.status not in TERMINAL:
                await self.engine.jobs.mark_async(job.id)
        return with_hint(job)

    def _checked_page(self, req: P) -> P:
        url = check_http_url(req.url)
        self.precheck(url, self.policy(req.allowed_domains, allow_writes=False))
        return req.model_copy(update={"url": url, "formats": list(dict.fromkeys(req.formats))})

    async def scrape(self, caller: Caller, req: ScrapeRequest, *, wait: float = 0) -> Job:
        return await self._submit_and_wait(caller, "scrape", self._checked_page(req), wait=wait)

    async def screenshot(self, caller: Caller, req: ScreenshotRequest, *, wait: float = 0) -> Job:
        return await self._submit_and_wait(caller, "screenshot", self._checked_page(req), wait=wait)

    async def extract(
        self,
        caller: Caller,
        req: ExtractRequest,
        *,
        wait: float = 0,
        model: bool = False,
        sampler: Sampler | None = None,
    ) -> Job:
        """With `model`, the job's model (`req.llm`, the key, or the client's through `sampler`) reads `data` off
        the page (engine/extraction.py); without, the page's text comes back beside the schema or prompt."""
        req = self._checked_page(req)
        if (req.data_schema is None) == (not req.prompt):
            raise BadRequest("give exactly one of `schema` (a JSON Schema object) or `prompt` (what to extract)")
        if req.data_schema is not None:
            check_json_schema(req.data_schema)
        if not model:
            return await self._submit_and_wait(caller, "extract", req.model_copy(update={"llm": None}), wait=wait)
        spec, key, source = await self.tasks.llm(req.llm, req.llm_api_key, local=caller.local)
        req = req.model_copy(update={"llm": spec, "key_source": source, "llm_local": caller.local, "llm_api_key": None})
        job = await self.tasks.submit(
            caller.workspace_id, caller.request_id, "extract", req, key, progress_total=1, sampler=sampler
        )
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job.id, wait)
        return with_hint(job)

    async def batch_urls(self, caller: Caller, req: UrlBatchRequest) -> Job:
        checked = [check_http_url(u, field=f"urls[{i}]") for i, u in enumerate(req.urls)]
        self.policy(req.allowed_domains, allow_writes=False)
        row = {"formats": list(req.formats), "max_chars": req.max_chars, "allowed_domains": req.allowed_domains}
        row |= {"main_content": req.main_content, "load_media": req.load_media}
        items = [{"kind": "url", "url": u, **row} for u in checked]
        params = BatchJob(concurrency=req.concurrency, count=len(items))
        return await self.engine.submit(
            caller.workspace_id, "batch", params, request_id=caller.request_id, progress_total=len(items), items=items
        )

    async def crawl(self, caller: Caller, req: CrawlRequest) -> Job:
        """A crawl job; its rows appear as pages are found (get_job shows them)."""
        req.url = check_http_url(req.url)
        self.precheck(req.url, self.policy(req.allowed_domains, allow_writes=False))
        unknown = [f for f in req.formats if f not in FORMATS]
        if unknown or not req.formats:
            raise BadRequest(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
        return await self.engine.submit(
            caller.workspace_id, "crawl", req, request_id=caller.request_id, progress_total=1
        )

    async def map(self, caller: Caller, req: MapRequest, *, wait: float) -> Job:
        """A map job, waited for up to `wait` seconds."""
        req.url = check_http_url(req.url)
        self.precheck(req.url, self.policy(req.allowed_domains, allow_writes=False))
        return await self._submit_and_wait(caller, "map", req, wait=wait)

    # -- agent tasks --------------------------------------------------------------------------

    async def run_task(
        self,
        caller: Caller,
        req: TaskRequest,
        *,
        wait: float = 0,
        on_progress: ProgressFn | None = None,
        sampler: Sampler | None = None,
    ) -> Job:
        """Start a browser agent task (a job of kind "task"); with `wait`, long-poll it as get_job does.

        `req.llm_api_key` is held in this process's memory only, never stored; see engine/agent/tasks.py. With
        `llm="client"`, `sampler` carries its model calls to the client that asked.
        """
        policy = self.policy(req.allowed_domains, allow_writes=req.allow_writes)
        if req.initial_url is not None:
            url = check_http_url(req.initial_url, field="initial_url")
            self.precheck(url, policy)
            req = req.model_copy(update={"initial_url": url})
        if req.identity_id is not None:
            await self.identities.check_usable(caller.workspace_id, req.identity_id)
        stored, key = await self.tasks.task_params(caller.workspace_id, req, local=caller.local)
        job = await self.tasks.submit(
            caller.workspace_id,
            caller.request_id,
            "task",
            stored,
            key,
            progress_total=stored.max_steps,
            sampler=sampler,
        )
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job.id, wait, on_progress=on_progress)
        return with_hint(job)

    async def batch_tasks(self, caller: Caller, req: TaskBatchRequest, *, sampler: Sampler | None = None) -> Job:
        """A batch of agent tasks: each row its own status and result; one failing row never fails the batch."""
        policy = self.policy(req.allowed_domains, allow_writes=req.allow_writes)

        def check(url: str, name: str) -> str:
            checked = check_http_url(url, field=name)
            self.precheck(checked, policy)
            return checked

        params, items, key = await self.tasks.batch_params(
            caller.workspace_id, req, check_url=check, local=caller.local
        )
        job = await self.tasks.submit(
            caller.workspace_id,
            caller.request_id,
            "batch",
            params,
            key,
            progress_total=len(items),
            items=items,
            sampler=sampler,
        )
        return with_hint(job)

    async def respond_to_job(self, caller: Caller, job_id: str, answer: str, *, secret: bool = False) -> Job:
        """Answer a job in input_required; a secret answer is sealed in the vault and never shown to the model."""
        return with_hint(await self.tasks.respond(caller.workspace_id, job_id, answer, secret=secret))


def with_hint(job: Job) -> Job:
    if job.status in ("queued", "running"):
        job.hint = f"still {job.status}; call get_job(job_id={job.id!r}, wait=25) to wait for the result"
    elif job.status == "input_required":
        job.hint = f"the job asks: {job.question!r}; answer with respond_to_job(job_id={job.id!r}, answer=...)"
    elif job.status == "human_control":
        job.hint = (
            f"a person has control of the browser in the live view; the job goes on when they hand it back:"
            f" call get_job(job_id={job.id!r}, wait=25)"
        )
    return job


def check_json_schema(schema: dict[str, Any]) -> None:
    import jsonschema  # loaded on the first schema, not at every start

    size = len(json.dumps(schema, ensure_ascii=False, default=str))
    if size > MAX_SCHEMA_CHARS:
        raise BadRequest(
            f"schema is {size:,} characters as JSON; the limit is {MAX_SCHEMA_CHARS:,}: describe only the fields you need"
        )
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise BadRequest(f"schema is not a valid JSON Schema: {exc.message}") from exc
