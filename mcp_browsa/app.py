"""Browsa: the one service object. Its lifespan owns the database, the engine, workers and the browser.

The MCP tools, the CLI and the tests all drive this object; it is the only place that composes
storage, engine, browser and (later) LLM and webhooks.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel

from mcp_browsa.browser.guard import EgressProxy
from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.browser.pool import Burner, BurnerPool
from mcp_browsa.browser.private_hint import private_network_hint
from mcp_browsa.browser.wiring import GuardWiring, make_policy
from mcp_browsa.config import Settings
from mcp_browsa.engine.agent.runner import AgentRunner
from mcp_browsa.engine.agent.tasks import AgentTasks, ScreenshotOptions, TaskRow
from mcp_browsa.engine.context import JobContext, Outcome, Runner
from mcp_browsa.engine.crawl import CrawlRequest, CrawlRunner, MapRequest, MapRunner
from mcp_browsa.engine.jobs import JobEngine, ProgressFn
from mcp_browsa.engine.login import LoginRunner
from mcp_browsa.engine.readonly import ReadOnlyRunners
from mcp_browsa.engine.retention import retention_loop
from mcp_browsa.engine.scrape import FORMATS
from mcp_browsa.engine.worker import WorkerPool
from mcp_browsa.errors import BadRequest, Forbidden
from mcp_browsa.events import EngineEvent, EventBus
from mcp_browsa.idempotent_calls import IdempotencyRunner, Recover
from mcp_browsa.identities import IdentityCore, IdentityService
from mcp_browsa.identities.cdp_browser import cdp_browser
from mcp_browsa.live import LiveServer
from mcp_browsa.live.hooks import job_hooks
from mcp_browsa.llm.sampling import Sampler
from mcp_browsa.models import TERMINAL, Capacity, Credits, Job, JobList, PriceTable
from mcp_browsa.netpolicy import Policy, PrivateNetworkRule, check_url
from mcp_browsa.sessions import SessionRunner, SessionService
from mcp_browsa.storage.crawl import CrawlRepo
from mcp_browsa.storage.db import Conn, Database
from mcp_browsa.storage.keys import ApiKeyRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from mcp_browsa.storage.screenshots import ScreenshotRepo
from mcp_browsa.validation import check_http_url
from mcp_browsa.webhooks.service import WebhookService
from mcp_browsa.workspace_secrets import Vault

__all__ = ["Browsa", "Caller"]

log = logging.getLogger(__name__)

MAX_BATCH_URLS = 1000
STATUS_VIEW = ("id", "status", "kind", "progress_done", "progress_total")  # get_job(view="status")
MAX_SCHEMA_CHARS = 100_000  # an extraction schema is a few KB; more is a mistake or abuse
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the workspace every read and write is scoped to, and the request id."""

    workspace_id: str = DEFAULT_WORKSPACE
    request_id: str | None = None
    local: bool = True  # the machine's own user (stdio, the CLI), not an API key holder over HTTP


@dataclass
class Browsa:
    settings: Settings
    prices: PriceTable = field(default_factory=lambda: PriceTable())
    db: Database = field(init=False)
    bus: EventBus = field(init=False)
    engine: JobEngine = field(init=False)
    host: BrowserHost = field(init=False)
    pool: BurnerPool = field(init=False)
    workers: WorkerPool = field(init=False)
    readonly: ReadOnlyRunners = field(init=False)
    keys: ApiKeyRepo = field(init=False)
    webhooks: WebhookService = field(init=False)
    idempotency: IdempotencyRunner = field(init=False)
    vault: Vault = field(init=False)
    logins: LoginRunner = field(init=False)
    identities: IdentityService = field(init=False)
    tasks: AgentTasks = field(init=False)
    agents: AgentRunner = field(init=False)
    sessions: SessionService = field(init=False)
    tg: TaskGroup | None = field(init=False, default=None)
    proxy: EgressProxy | None = field(init=False, default=None)  # the URL guard's egress proxy while running
    private: PrivateNetworkRule = field(init=False)
    live: LiveServer = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.private = PrivateNetworkRule.parse(s.allow_private_network)
        self.db = Database(s.database)
        self.bus = EventBus()
        self.engine = JobEngine(self.db, self.bus, poll_interval=s.poll_interval)
        self.host = BrowserHost(s)
        self.pool = BurnerPool(self.host, s)
        self.readonly = ReadOnlyRunners(
            self.pool, s, self.prices, policy_for=self.readonly_policy, browser_for=self.browser_for
        )
        for kind in ("scrape", "extract", "screenshot"):
            self.engine.register(kind, self._browser_first(self.readonly.single))
        self.engine.register("batch", self._browser_first(self.readonly.batch))
        self.engine.register("crawl", self._browser_first(CrawlRunner(self.readonly, CrawlRepo(self.db)).run))
        self.engine.register("map", self._browser_first(MapRunner(self.readonly).run))
        self.workers = WorkerPool(
            self.engine, slots=s.max_burners, lease_seconds=s.lease_seconds, sweep_interval=s.sweep_interval
        )
        self.keys = ApiKeyRepo(self.db)
        self.idempotency = IdempotencyRunner(self.db, owner=self.workers.owner)
        self.webhooks = WebhookService(self.db, private_network=s.allow_private_network, owner=self.workers.owner)
        self.webhooks.attach(self.engine.finish_hooks, self.bus)
        self.vault = Vault(self.db, s)
        self.engine.finish_hooks.append(self.vault.finish_hook)  # a job's secret answers end with it
        self.logins = LoginRunner(
            self.engine,
            self.vault,
            self.prices,
            s,
            browser_for=self.browser_for,
            policy=self.policy,
            precheck=self.precheck,
        )
        self.engine.register("login", self._browser_first(self.logins.run))
        self.identities = IdentityService(
            IdentityCore(
                self.db,
                self.bus,
                self.host,
                self.pool,
                s,
                self.prices,
                owner=self.workers.owner,
                policy_for=lambda domains: self.policy(domains, allow_writes=True),
            )
        )
        self.tasks = AgentTasks(self.engine, self.vault, s, owner=self.workers.owner)
        self.agents = AgentRunner(
            tasks=self.tasks,
            vault=self.vault,
            settings=s,
            prices=self.prices,
            browser_for=self.browser_for,
            policy_for=self.task_policy,
        )
        self.engine.register("task", self._browser_first(self.agents.run))
        self.readonly.task_item_runner = self.agents.batch_row
        self.readonly.model_for = self.agents.model_for
        self.sessions = SessionService(
            self.engine,
            self.pool,
            owner=self.workers.owner,
            policy=self.policy,
            precheck=self.precheck,
            identity_check=self.identities.check_usable,
            identity_state=self.identities.core.repo.job_session_end,
        )
        sessions = SessionRunner(
            slots=self.sessions.slots,
            browser_for=self.browser_for,
            cdp_for=functools.partial(cdp_browser, self.identities.sessions),
            policy=self.policy,
            vault=self.vault,
            prices=self.prices,
            settings=s,
        )
        self.engine.register("session", self._browser_first(sessions.run))
        self.live = LiveServer(s.live_host, s.live_port, own_ports=self.private.own_ports)
        self.live.registry.hooks_for = lambda ws, target: (
            None if target.startswith("agt_") else job_hooks(self.engine, self.tasks, ws, target)
        )
        self.agents.live = self.identities.core.live_views = sessions.live_views = self.live.registry
        self.logins.live_views = self.live.registry
        self.engine.finish_hooks.append(self._live_ended)

    async def _live_ended(self, _conn: Conn, event: EngineEvent) -> None:
        # A job's live view ends with it: its token answers 410 from the moment the job is over.
        if event.job_id and event.type in ("job.completed", "job.failed", "job.cancelled"):
            self.live.registry.end(event.job_id)

    def _browser_first(self, runner: Runner) -> Runner:
        """`runner`, started once the shared browser is up. Runners pay for their browser before they open it; a
        browser that cannot start must fail the job (UPSTREAM_UNAVAILABLE, saying how to get one) before that."""

        async def run(ctx: JobContext) -> Outcome:
            await self.host.browser()
            return await runner(ctx)

        return run

    @asynccontextmanager
    async def running(self, *, workers: bool = True) -> AsyncIterator[Browsa]:
        """Open everything; on exit cancel the workers and close the browser (no orphan Chromium)."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        await self.db.open()
        # The caller's own exception is re-raised as itself once every task group is closed, not wrapped
        # in the groups' ExceptionGroups, so callers can catch BrowsaError from inside the block.
        failure: Exception | None = None
        try:
            await self.engine.ledger.ensure_workspace(DEFAULT_WORKSPACE, initial_credits=self.settings.initial_credits)
            async with EgressProxy() as proxy:
                self.proxy = proxy
                self.pool.wiring = GuardWiring(proxy, self.private)
                try:
                    async with anyio.create_task_group() as tg:
                        self.tg = tg
                        self.live.bind(tg)
                        if workers:
                            self.pool.bind(tg)
                            await self.workers.run(tg)
                            tg.start_soon(
                                retention_loop,
                                self.db,
                                self.settings.screenshots_dir,
                                self.settings.screenshot_retention_days,
                                self.settings.webhook_log_retention_days,
                            )
                            self.webhooks.start(tg)
                        try:
                            # Identities end (burners stop, sessions save their state) before anything else closes.
                            async with self.identities.running(proxy):
                                yield self
                        except Exception as exc:
                            failure = exc
                        finally:
                            tg.cancel_scope.cancel()
                finally:
                    self.tg = self.proxy = None
                    self.live.bind(None)
                    if workers:
                        await self.workers.release_all()
                    await self.pool.close()
                    await self.host.close()
        finally:
            with anyio.CancelScope(shield=True):
                await self.db.close()
        if failure is not None:
            raise failure

    # -- idempotency --------------------------------------------------------------------------

    async def idempotent(
        self,
        caller: Caller,
        tool: str,
        key: str | None,
        params: Mapping[str, Any],
        fn: Callable[[], Awaitable[M]],
        *,
        model: type[M] | None = None,
        recover: Recover[M] | None = None,
    ) -> M:
        """Run `fn` at most once per (workspace, idempotency key); see mcp_browsa/idempotent_calls.py.

        `fn` must create its work with `caller.request_id`. `model` is what `fn` returns (default Job) and must
        have an `idempotent_replay` field; `recover(job_id)` answers for a job whose first caller died before
        responding (default: the job as get_job shows it).
        """

        async def from_job(job_id: str) -> M:
            return cast("M", await self.get_job(caller, job_id))

        return await self.idempotency.run(
            caller.workspace_id,
            caller.request_id,
            tool,
            key,
            params,
            fn,
            model=model if model is not None else cast("type[M]", Job),
            recover=recover or from_job,
        )

    # -- browsers for jobs ----------------------------------------------------------------------

    @asynccontextmanager
    async def browser_for(
        self,
        workspace_id: str,
        params: dict[str, Any],
        *,
        policy: Policy,
        on_block: Any = None,
        job_id: str | None = None,
    ) -> AsyncIterator[Burner]:
        """The browser a job runs in: a fresh burner, or (with `identity_id`) a persistent identity's session.

        Every job kind that drives a page gets its browser here, so identities, fingerprints and the
        URL guard apply the same way to all of them. `params` may carry `identity_id` (a persistent identity:
        its cookies and storage restored, written back at the end), or `os_type` / `country` (a burner with
        that fingerprint). The runner pays for the browser (burner_start or persistent_session); a country
        surcharge is charged here, on `job_id` when given.
        """
        async with self.identities.sessions.job_browser(
            workspace_id, params, policy=policy, on_block=on_block, job_id=job_id
        ) as burner:
            yield burner

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

    def task_policy(self, params: dict[str, Any]) -> Policy:
        return self.policy(params.get("allowed_domains"), allow_writes=bool(params.get("allow_writes", True)))

    # -- one-call tools -----------------------------------------------------------------------

    async def _submit_and_wait(
        self, caller: Caller, kind: str, params: dict[str, Any], *, wait: float, on_progress: ProgressFn | None = None
    ) -> Job:
        # A call that waits for its answer is synchronous: no job.completed webhook follows it. One that returns
        # the job still running (async=true, or the page took longer than the wait) is announced like any job.
        params = {**params, "sync": wait > 0}
        job = await self.engine.submit(
            caller.workspace_id, kind, params, request_id=caller.request_id, progress_total=1
        )
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job.id, wait, on_progress=on_progress)
            if job.status not in TERMINAL:
                await self.engine.jobs.mark_async(job.id)
        return _with_hint(job)

    async def scrape(
        self,
        caller: Caller,
        url: str,
        *,
        formats: list[str],
        max_chars: int = 50_000,
        full_page: bool = True,
        wait_until: str = "load",
        timeout_seconds: float = 30,
        wait: float = 0,
        allowed_domains: list[str] | None = None,
        main_content: bool = True,
        load_media: bool = False,
    ) -> Job:
        url = check_http_url(url)
        self.precheck(url, self.policy(allowed_domains, allow_writes=False))
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise BadRequest(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
        params = {
            "url": url,
            "formats": list(dict.fromkeys(formats)),
            "max_chars": max_chars,
            "full_page": full_page,
            "wait_until": wait_until,
            "timeout_ms": int(timeout_seconds * 1000),
            "allowed_domains": allowed_domains,
            "main_content": main_content,
            "load_media": load_media,
        }
        return await self._submit_and_wait(caller, "scrape", params, wait=wait)

    async def extract(
        self,
        caller: Caller,
        url: str,
        *,
        schema: dict[str, Any] | None,
        prompt: str | None,
        max_chars: int = 50_000,
        wait: float = 0,
        allowed_domains: list[str] | None = None,
        model: bool = False,
        llm: str | None = None,
        llm_api_key: str | None = None,
        sampler: Sampler | None = None,
    ) -> Job:
        """With `model`, the job's model (`llm`, the key, or the client's through `sampler`) reads `data` off the
        page (engine/extraction.py); without, the page's text comes back beside the schema or prompt."""
        url = check_http_url(url)
        self.precheck(url, self.policy(allowed_domains, allow_writes=False))
        if (schema is None) == (not prompt):
            raise BadRequest("give exactly one of `schema` (a JSON Schema object) or `prompt` (what to extract)")
        if schema is not None:
            _check_json_schema(schema)
        params = {
            "url": url,
            "formats": ["markdown", "text"],
            "schema": schema,
            "prompt": prompt,
            "max_chars": max_chars,
            "allowed_domains": allowed_domains,
        }
        if not model:
            return await self._submit_and_wait(caller, "extract", params, wait=wait)
        spec, key, source = await self.tasks.llm(llm, llm_api_key, local=caller.local)
        params["llm_local"] = caller.local
        params.update(llm=spec, key_source=source)
        job = await self.tasks.submit(
            caller.workspace_id, caller.request_id, "extract", params, key, progress_total=1, sampler=sampler
        )
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job.id, wait)
        return _with_hint(job)

    async def screenshot(
        self,
        caller: Caller,
        url: str,
        *,
        full_page: bool = True,
        wait: float = 0,
        allowed_domains: list[str] | None = None,
    ) -> Job:
        url = check_http_url(url)
        self.precheck(url, self.policy(allowed_domains, allow_writes=False))
        params = {"url": url, "formats": ["screenshot"], "full_page": full_page, "allowed_domains": allowed_domains}
        return await self._submit_and_wait(caller, "screenshot", params, wait=wait)

    async def batch_urls(
        self,
        caller: Caller,
        urls: list[str],
        *,
        formats: list[str],
        max_chars: int = 20_000,
        concurrency: int | None = None,
        allowed_domains: list[str] | None = None,
        main_content: bool = True,
        load_media: bool = False,
    ) -> Job:
        if not urls:
            raise BadRequest("urls is empty; give at least one URL")
        if len(urls) > MAX_BATCH_URLS:
            raise BadRequest(f"{len(urls)} URLs; a batch takes at most {MAX_BATCH_URLS}")
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise BadRequest(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
        checked = [check_http_url(u, field=f"urls[{i}]") for i, u in enumerate(urls)]
        self.policy(allowed_domains, allow_writes=False)
        row = {"formats": formats, "max_chars": max_chars, "allowed_domains": allowed_domains}
        row |= {"main_content": main_content, "load_media": load_media}
        items = [{"kind": "url", "url": u, **row} for u in checked]
        params = {"concurrency": concurrency, "count": len(items)}
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
        params = req.model_dump()
        return await self.engine.submit(
            caller.workspace_id, "crawl", params, request_id=caller.request_id, progress_total=1
        )

    async def map(self, caller: Caller, req: MapRequest, *, wait: float) -> Job:
        """A map job, waited for up to `wait` seconds."""
        req.url = check_http_url(req.url)
        self.precheck(req.url, self.policy(req.allowed_domains, allow_writes=False))
        return await self._submit_and_wait(caller, "map", req.model_dump(), wait=wait)

    # -- agent tasks --------------------------------------------------------------------------

    async def run_task(
        self,
        caller: Caller,
        task: str,
        *,
        llm: str | None = None,
        llm_api_key: str | None = None,
        initial_url: str | None = None,
        max_steps: int = 20,
        output: dict[str, Any] | None = None,
        input: dict[str, Any] | None = None,
        success_condition: str | None = None,
        timeout_seconds: float = 900,
        screenshots: ScreenshotOptions | dict[str, Any] | None = None,
        fanout: int = 1,
        max_credits: int | None = None,
        allowed_domains: list[str] | None = None,
        allow_writes: bool = True,
        os_type: str | None = None,
        country: str | None = None,
        identity_id: str | None = None,
        wait: float = 0,
        on_progress: ProgressFn | None = None,
        sampler: Sampler | None = None,
    ) -> Job:
        """Start a browser agent task (a job of kind "task"); with `wait`, long-poll it as get_job does.

        `llm_api_key` is held in this process's memory only, never stored; see engine/agent/tasks.py. With
        `llm="client"`, `sampler` carries its model calls to the client that asked.
        """
        policy = self.policy(allowed_domains, allow_writes=allow_writes)
        if initial_url is not None:
            initial_url = check_http_url(initial_url, field="initial_url")
            self.precheck(initial_url, policy)
        if identity_id is not None:
            await self.identities.check_usable(caller.workspace_id, identity_id)
        params, key = await self.tasks.task_params(
            caller.workspace_id,
            task,
            llm=llm,
            llm_api_key=llm_api_key,
            local=caller.local,
            initial_url=initial_url,
            max_steps=max_steps,
            output=output,
            input=input,
            success_condition=success_condition,
            timeout_seconds=timeout_seconds,
            screenshots=screenshots,
            fanout=fanout,
            max_credits=max_credits,
            allowed_domains=allowed_domains,
            allow_writes=allow_writes,
            os_type=os_type,
            country=country,
            identity_id=identity_id,
        )
        job = await self.tasks.submit(
            caller.workspace_id, caller.request_id, "task", params, key, progress_total=max_steps, sampler=sampler
        )
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job.id, wait, on_progress=on_progress)
        return _with_hint(job)

    async def batch_tasks(
        self,
        caller: Caller,
        tasks: list[TaskRow],
        *,
        llm: str | None = None,
        llm_api_key: str | None = None,
        max_steps: int = 20,
        concurrency: int | None = None,
        allowed_domains: list[str] | None = None,
        allow_writes: bool = True,
        sampler: Sampler | None = None,
    ) -> Job:
        """A batch of agent tasks: each row its own status and result; one failing row never fails the batch."""
        policy = self.policy(allowed_domains, allow_writes=allow_writes)

        def check(url: str, name: str) -> str:
            checked = check_http_url(url, field=name)
            self.precheck(checked, policy)
            return checked

        params, items, key = await self.tasks.batch_params(
            caller.workspace_id,
            tasks,
            check_url=check,
            llm=llm,
            llm_api_key=llm_api_key,
            local=caller.local,
            max_steps=max_steps,
            concurrency=concurrency,
            allowed_domains=allowed_domains,
            allow_writes=allow_writes,
        )
        return _with_hint(
            await self.tasks.submit(
                caller.workspace_id,
                caller.request_id,
                "batch",
                params,
                key,
                progress_total=len(items),
                items=items,
                sampler=sampler,
            )
        )

    async def respond_to_job(self, caller: Caller, job_id: str, answer: str, *, secret: bool = False) -> Job:
        """Answer a job in input_required; a secret answer is sealed in the vault and never shown to the model."""
        return _with_hint(await self.tasks.respond(caller.workspace_id, job_id, answer, secret=secret))

    # -- jobs ---------------------------------------------------------------------------------

    async def get_job(
        self,
        caller: Caller,
        job_id: str,
        *,
        wait: float = 0,
        on_progress: ProgressFn | None = None,
        events_after: int | None = None,
        events_limit: int = 20,
    ) -> Job:
        """The job (long-polled with `wait`), its screenshots as resource URIs, and with `events_after` (an event
        id, 0 for the start) the next `events_limit` events of its timeline."""
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job_id, wait, on_progress=on_progress)
        else:
            job = await self.engine.get(caller.workspace_id, job_id)
        if job.live_url and job.items:  # a batch's running task rows: each its own browser in the job's view
            for item in job.items:
                if item.status == "running":
                    item.live_url = f"{job.live_url}?view=row-{item.index}"
        shots = await self.screenshot_files(job.id)
        if shots:
            job.screenshots = [f"browsa://jobs/{job.id}/screenshots/{n}" for n, _path in shots]
        if events_after is not None:
            job.events = await self.engine.jobs.events(job.id, after=max(0, events_after), limit=events_limit)
        return _with_hint(job)

    async def job_status(
        self, caller: Caller, job_id: str, *, wait: float = 0, on_progress: ProgressFn | None = None
    ) -> dict[str, Any]:
        """The cheap poll: id, status, kind and progress only (no result, rows or screenshots are read)."""
        if wait > 0:
            job = await self.engine.wait(caller.workspace_id, job_id, wait, on_progress=on_progress, with_items=False)
        else:
            job = await self.engine.get(caller.workspace_id, job_id, with_items=False)
        return job.model_dump(mode="json", include=set(STATUS_VIEW))

    async def list_jobs(
        self,
        caller: Caller,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobList:
        jobs, next_cursor, total = await self.engine.jobs.list_jobs(
            caller.workspace_id, status=status, kind=kind, limit=limit, cursor=cursor
        )
        return JobList(jobs=jobs, count=len(jobs), next_cursor=next_cursor, total=total)

    async def cancel_job(self, caller: Caller, job_id: str) -> Job:
        return await self.engine.cancel(caller.workspace_id, job_id)

    async def screenshot_files(self, job_id: str) -> list[tuple[int, str]]:
        return await ScreenshotRepo(self.db).files(job_id)

    # -- account ------------------------------------------------------------------------------

    async def credits(self, caller: Caller, *, limit: int = 10) -> Credits:
        ledger = self.engine.ledger
        return Credits(
            workspace_id=caller.workspace_id,
            balance=await ledger.balance(caller.workspace_id),
            prices=self.prices,
            ledger=await ledger.entries(caller.workspace_id, limit),
            usd_spent=await ledger.usd_spent(caller.workspace_id),
        )

    async def capacity(self) -> Capacity:
        counts = await self.engine.jobs.counts()
        oldest = await self.engine.jobs.oldest_queued()
        in_use = self.pool.in_use
        return Capacity(
            queued=counts.get("queued", 0),
            running=counts.get("running", 0),
            input_required=counts.get("input_required", 0),
            burners_in_use=in_use,
            burners_max=self.pool.max,
            utilization=round(in_use / self.pool.max, 3),
            oldest_queued_age_seconds=round(time.time() - oldest, 2) if oldest else None,
            browser=self.host.describe(),
            browser_contexts=self.host.open_contexts(),
            spares_ready=self.pool.spares,
        )


def _with_hint(job: Job) -> Job:
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


def _check_json_schema(schema: dict[str, Any]) -> None:
    import jsonschema

    size = len(json.dumps(schema, ensure_ascii=False, default=str))
    if size > MAX_SCHEMA_CHARS:
        raise BadRequest(
            f"schema is {size:,} characters as JSON; the limit is {MAX_SCHEMA_CHARS:,}: describe only the fields you need"
        )
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise BadRequest(f"schema is not a valid JSON Schema: {exc.message}") from exc
