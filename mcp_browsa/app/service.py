"""The service object's composition and lifespan: storage, engine, browsers, identities, sessions, live views and
webhooks wired together once, opened together and closed in order (no orphan Chromium)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import InitVar, dataclass, field
from typing import Any, TypeVar, cast

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel

from mcp_browsa.app.calls import Caller, JobCalls
from mcp_browsa.app.reading import JobReading
from mcp_browsa.browser.guard import EgressProxy
from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.browser.pool import BurnerPool
from mcp_browsa.browser.remote import egress_listen
from mcp_browsa.browser.wiring import GuardWiring
from mcp_browsa.config import Settings
from mcp_browsa.engine.agent.runner import AgentRunner, BrowserFor
from mcp_browsa.engine.agent.tasks import AgentTasks
from mcp_browsa.engine.context import JobContext, Outcome, Runner
from mcp_browsa.engine.crawl import CrawlRequest, CrawlRunner, MapRequest, MapRunner
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.login import LoginRunner
from mcp_browsa.engine.readonly import ReadOnlyRunners
from mcp_browsa.engine.requests import (
    BatchJob,
    ExtractRequest,
    ScrapeRequest,
    ScreenshotRequest,
    TaskRequest,
)
from mcp_browsa.engine.requests.login import LoginRequest
from mcp_browsa.engine.retention import retention_loop
from mcp_browsa.engine.worker import WorkerPool
from mcp_browsa.events import EngineEvent, EventBus
from mcp_browsa.idempotent_calls import IdempotencyRunner, Recover
from mcp_browsa.identities import IdentityCore, IdentityService
from mcp_browsa.identities.cdp_browser import cdp_browser
from mcp_browsa.live import LiveServer
from mcp_browsa.live.hooks import job_hooks
from mcp_browsa.models import Job, PriceTable
from mcp_browsa.netpolicy import PrivateNetworkRule
from mcp_browsa.sessions import SessionRunner, SessionService
from mcp_browsa.sessions.models import SessionRequest
from mcp_browsa.storage.crawl import CrawlRepo
from mcp_browsa.storage.db import Conn, Database
from mcp_browsa.storage.keys import ApiKeyRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from mcp_browsa.storage.wakeups import open_wakeups
from mcp_browsa.webhooks.delivery import DeliveryConfig
from mcp_browsa.webhooks.service import WebhookService
from mcp_browsa.workspace_secrets import Vault

__all__ = ["Browsa"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass
class Browsa(JobCalls, JobReading):
    settings: Settings
    prices: PriceTable = field(default_factory=lambda: PriceTable())
    # A host whose browser is already launching (a server starts it before loading the rest); else one of its own.
    early_host: InitVar[BrowserHost | None] = None
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
    browser_for: BrowserFor = field(init=False)

    def __post_init__(self, early_host: BrowserHost | None) -> None:
        s = self.settings
        self.private = PrivateNetworkRule.parse(s.allow_private_network)
        self.db = Database(s.database)
        self.bus = EventBus()
        self.engine = JobEngine(self.db, self.bus, poll_interval=s.poll_interval)
        self.host = early_host or BrowserHost(s)
        self.pool = BurnerPool(self.host, s)
        self.workers = WorkerPool(
            self.engine,
            slots=s.max_burners,
            lease_seconds=s.lease_seconds,
            sweep_interval=s.sweep_interval,
            name=s.worker_id,
        )
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
                hooks=self.engine.finish_hooks,
            )
        )
        # Every job kind that drives a page gets its browser here: a fresh burner, or an identity's session (see
        # identities/sessions.py), so identities, fingerprints and the URL guard apply the same way to all.
        self.browser_for = self.identities.sessions.job_browser
        self.readonly = ReadOnlyRunners(
            self.pool, s, self.prices, policy_for=self.readonly_policy, browser_for=self.browser_for
        )
        self.engine.register("scrape", self._browser_first(self.readonly.page), ScrapeRequest)
        self.engine.register("screenshot", self._browser_first(self.readonly.page), ScreenshotRequest)
        self.engine.register("extract", self._browser_first(self.readonly.page), ExtractRequest)
        self.engine.register("batch", self._browser_first(self.readonly.batch), BatchJob)
        crawl = CrawlRunner(self.readonly, CrawlRepo(self.db))
        self.engine.register("crawl", self._browser_first(crawl.run), CrawlRequest)
        self.engine.register("map", self._browser_first(MapRunner(self.readonly).run), MapRequest)
        self.keys = ApiKeyRepo(self.db)
        self.idempotency = IdempotencyRunner(self.db, owner=self.workers.owner)
        self.webhooks = WebhookService(
            self.db,
            private_network=s.allow_private_network,
            owner=self.workers.owner,
            config=DeliveryConfig.from_settings(s),
        )
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
        self.engine.register("login", self._browser_first(self.logins.run), LoginRequest)
        self.tasks = AgentTasks(self.engine, self.vault, s, owner=self.workers.owner)
        self.agents = AgentRunner(
            tasks=self.tasks,
            vault=self.vault,
            settings=s,
            prices=self.prices,
            browser_for=self.browser_for,
            policy_for=self.policy,
        )
        self.engine.register("task", self._browser_first(self.agents.run), TaskRequest)
        self.readonly.task_item_runner = self.agents.batch_row
        self.readonly.model_for = self.agents.model_for
        self.sessions = SessionService(
            self.engine,
            self.pool,
            owner=self.workers.owner,
            lease_seconds=s.lease_seconds,
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
        self.engine.register("session", self._browser_first(sessions.run), SessionRequest)
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
    async def running(self, *, workers: bool = True, background: bool | None = None) -> AsyncIterator[Browsa]:
        """Open everything; on exit cancel the workers and close the browser (no orphan Chromium).

        `workers=False` runs no browsers here. `background` (default: `workers`) runs what a serving process
        runs besides: wake-ups from other processes, webhook delivery, the sweeper that rescues dead workers'
        jobs, retention. A front-end with --no-worker has background work and no workers; a CLI listing has
        neither.
        """
        background = workers if background is None else background
        self.settings.home.mkdir(parents=True, exist_ok=True)
        await self.db.open()
        # The caller's own exception is re-raised as itself once every task group is closed, not wrapped
        # in the groups' ExceptionGroups, so callers can catch BrowsaError from inside the block.
        failure: Exception | None = None
        try:
            await self.engine.ledger.ensure_workspace(DEFAULT_WORKSPACE, initial_credits=self.settings.initial_credits)
            async with EgressProxy(listen=egress_listen(self.settings)) as proxy:
                self.proxy = proxy
                self.pool.wiring = GuardWiring(proxy, self.private)
                try:
                    async with anyio.create_task_group() as tg:
                        self.tg = tg
                        self.live.bind(tg)
                        if workers:
                            self.pool.bind(tg)
                        self.sessions.browsers = self.tasks.runs_jobs = workers
                        if background:
                            if self.settings.wakeups:
                                wakeups = open_wakeups(self.db, self.workers.owner)
                                self.bus.connect(wakeups.publish)
                                tg.start_soon(wakeups.run, self.bus.deliver)
                            await self.workers.run(tg, claim=workers)
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
                    self.bus.connect(None)
                    self.live.bind(None)
                    if background:
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
