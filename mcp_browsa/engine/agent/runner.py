"""The job runner for agent tasks: the model with the task's key, a browser per attempt, fanout, batch task rows.

Each attempt pays for its burner before it starts and for its minutes after; `fanout=N` races N burners,
the first success wins and the others are cancelled, having paid only for the steps they took.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import anyio

from mcp_browsa.browser.pool import Burner, browser_gone
from mcp_browsa.config import Settings
from mcp_browsa.engine.agent.attempt import TaskSetup
from mcp_browsa.engine.agent.human import HumanChannel
from mcp_browsa.engine.agent.loop import AgentAttempt
from mcp_browsa.engine.agent.steps import ScreenshotPlan, StepRecorder
from mcp_browsa.engine.agent.tasks import AgentTasks
from mcp_browsa.engine.agent.walls import GuardWatch
from mcp_browsa.engine.billing import charge_browser, charge_minutes
from mcp_browsa.engine.context import JobContext, LeaseLost, Outcome
from mcp_browsa.engine.requests import BatchJob, ModelChoice, TaskRequest, TaskRow
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.engine.takeover import LiveViews, ViewHandle, control_recorder
from mcp_browsa.errors import BrowsaError
from mcp_browsa.llm import DEFAULT_TIMEOUT, ClosableChatModel, LLMError, RetryPolicy, make_chat_model, parse_llm_spec
from mcp_browsa.llm.sampling import SamplingChatModel
from mcp_browsa.models import JobStatus, PriceTable
from mcp_browsa.netpolicy import Policy
from mcp_browsa.storage.screenshots import ScreenshotRepo
from mcp_browsa.workspace_secrets import Vault, task_secrets

__all__ = ["AgentRunner", "BrowserFor"]

log = logging.getLogger(__name__)

KEY_LOST = (
    "the API key given with this task was held only in the memory of the server process that accepted it, and that"
    " process stopped; submit the task again"
)

CLIENT_LOST = (
    'this task runs on the model of the MCP client session that started it (llm="client"), and that session is'
    " gone (it disconnected, or the server restarted); submit the task again from a connected client"
)


class BrowserFor(Protocol):
    """`Browsa.browser_for`: the browser a job runs in (a burner, or an identity's session)."""

    def __call__(
        self,
        workspace_id: str,
        params: dict[str, Any],
        *,
        policy: Policy,
        on_block: Any = None,
        job_id: str | None = None,
    ) -> AbstractAsyncContextManager[Burner]: ...


class PolicyFor(Protocol):
    """`Browsa.policy`: the URL guard's policy for a job's domains and writes."""

    def __call__(self, allowed_domains: list[str] | None, *, allow_writes: bool) -> Policy: ...


class AgentRunner:
    def __init__(
        self,
        *,
        tasks: AgentTasks,
        vault: Vault,
        settings: Settings,
        prices: PriceTable,
        browser_for: BrowserFor,
        policy_for: PolicyFor,
        retry: RetryPolicy | None = None,
        llm_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.tasks = tasks
        self.vault = vault
        self.settings = settings
        self.prices = prices
        self.browser_for = browser_for
        self.policy_for = policy_for
        self.retry = retry
        self.llm_timeout = llm_timeout
        self.live: LiveViews | None = None  # set by the app: where a person can watch and take over

    # -- jobs of kind "task" -----------------------------------------------------------------------------

    async def run(self, ctx: JobContext) -> Outcome:
        req = ctx.read(TaskRequest)
        try:
            model = await self.model_for(ctx, req)
        except LLMError as exc:
            self.tasks.keys.pop(ctx.id, None)
            return Outcome.fail(exc.code, exc.message)
        if model is None:
            return Outcome.fail("INTERRUPTED", KEY_LOST)
        try:
            setup = self._setup(
                req,
                task=req.task,
                url=req.initial_url,
                timeout_seconds=req.timeout_seconds,
                screenshots=req.shots.mode,
                fields=req,
            )
            shots = ScreenshotPlan(
                req.shots.mode,
                req.shots.full_page,
                self.settings.screenshots_dir,
                itertools.count(await _next_shot(ctx)),
            )
            if req.fanout == 1:
                return await self._attempt(ctx, model, setup, req, shots=shots, human=True)
            return await self._race(ctx, model, setup, req, shots, req.fanout)
        finally:
            self.tasks.keys.pop(ctx.id, None)
            with anyio.CancelScope(shield=True):
                await model.aclose()

    async def model_for(self, ctx: JobContext, choice: ModelChoice) -> ClosableChatModel | None:
        """The task's model, or None when its key died with another process. Raises LLMError without a key.

        Built in a worker thread: the first one imports its vendor's SDK, seconds in which the event loop would
        otherwise answer no call and run no other job.
        """
        if choice.key_source == "client":
            sampler = self.tasks.samplers.get(ctx.id)
            if sampler is None:
                raise LLMError("LLM_ERROR", CLIENT_LOST)
            return SamplingChatModel(sampler)
        spec = parse_llm_spec(choice.llm or self.tasks.default_llm)
        key = self.tasks.key_for(ctx.id, spec, choice.key_source)
        if key is None and choice.key_source == "call":
            return None
        guard = self.tasks.guard_for(spec, local=choice.llm_local)
        check = guard.check if guard is not None else None
        return await anyio.to_thread.run_sync(
            lambda: make_chat_model(spec, key, timeout=self.llm_timeout, retry=self.retry, check=check)
        )

    async def _race(
        self, ctx: JobContext, model: ClosableChatModel, setup: TaskSetup, req: TaskRequest,
        shots: ScreenshotPlan, n: int,
    ) -> Outcome:  # fmt: skip
        outcomes: dict[int, Outcome] = {}
        winner: list[int] = []
        lease_lost = False

        async with anyio.create_task_group() as tg:

            async def one(i: int) -> None:
                nonlocal lease_lost
                try:
                    out = await self._attempt(ctx, model, setup, req, shots=shots, attempt=i, human=False)
                except LeaseLost:
                    lease_lost = True
                    tg.cancel_scope.cancel()
                    return
                outcomes[i] = out
                if out.status == JobStatus.COMPLETED and not winner:
                    winner.append(i)
                    tg.cancel_scope.cancel()  # the others stop where they are; their steps so far are paid

            for i in range(n):
                tg.start_soon(one, i)

        if lease_lost:
            raise LeaseLost(ctx.id)
        stopped = [i for i in range(n) if i not in outcomes]
        if winner:
            won = outcomes[winner[0]]
            await ctx.event("fanout.won", {"attempt": winner[0], "cancelled": stopped, "of": n})
            return Outcome.ok({**(won.result or {}), "attempt": winner[0], "fanout": n})
        if ctx.cancelled:
            return Outcome(JobStatus.CANCELLED, error_message="cancelled; every attempt stopped")
        first = min(outcomes)
        out = outcomes[first]
        codes = {str(i): o.error_code or o.status.value for i, o in sorted(outcomes.items())}
        message = f"all {n} attempts failed; attempt {first}: {out.error_message}"
        return Outcome.fail(
            out.error_code or "INTERNAL_ERROR", message, result={**(out.result or {}), "attempts": codes}
        )

    # -- batch rows of kind "task" ---------------------------------------------------------------------------

    async def batch_row(self, ctx: JobContext, idx: int, item: dict[str, Any]) -> Outcome:
        """One agent task of a batch: no human to ask, no screenshots; events and charges go to the batch job."""
        batch = ctx.read(BatchJob)
        try:
            model = await self.model_for(ctx, batch)
        except LLMError as exc:
            return Outcome.fail(exc.code, exc.message)
        if model is None:
            return Outcome.fail("INTERRUPTED", KEY_LOST)
        try:
            row = TaskRow.model_validate(item)
            setup = self._setup(
                batch, task=row.instruction, url=row.url, timeout_seconds=row.timeout_seconds, fields=row
            )
            return await self._attempt(ctx, model, setup, batch, shots=None, row=idx, human=False)
        finally:
            with anyio.CancelScope(shield=True):
                await model.aclose()

    # -- one attempt on one browser -----------------------------------------------------------------------

    async def _attempt(
        self,
        ctx: JobContext,
        model: ClosableChatModel,
        setup: TaskSetup,
        req: TaskRequest | BatchJob,
        *,
        shots: ScreenshotPlan | None,
        human: bool,
        attempt: int | None = None,
        row: int | None = None,
    ) -> Outcome:
        cap = req.max_credits if isinstance(req, TaskRequest) else None
        recorder = StepRecorder(ctx, self.prices, shots=shots, attempt=attempt, row=row, max_credits=cap)
        watch = GuardWatch()
        channel = HumanChannel(ctx, poll_interval=ctx.engine.poll_interval) if human else None
        label = recorder.prefix()
        identity = isinstance(req, TaskRequest) and bool(req.identity_id)
        try:
            policy = self.policy_for(req.allowed_domains, allow_writes=req.allow_writes)
            secrets = await self.vault.resolver(
                ctx.workspace_id, job_id=ctx.id, fills=task_secrets(setup.task, setup.input)
            )
            await charge_browser(ctx, self.prices, identity=identity, purpose="an agent task", prefix=label)
        except BrowsaError as exc:
            return Outcome.fail(exc.code, exc.message)
        started = time.monotonic()
        held: list[Burner] = []
        agents: list[AgentAttempt] = []  # what the crash handler below can still reach
        try:
            async with self.browser_for(
                ctx.workspace_id, req.params(), policy=policy, on_block=watch.on_block, job_id=ctx.id
            ) as burner:
                held.append(burner)
                tabs = await Tabs.create(burner.context)
                watch.attach(burner.context)
                try:
                    async with self._shown(ctx, tabs, lambda: secrets.mask_values, attempt, row) as live:
                        agent = AgentAttempt(
                            ctx,
                            model,
                            recorder,
                            watch,
                            setup,
                            secrets=secrets,
                            human=channel,
                            human_waiting=lambda: self.tasks.human_is_waiting(ctx.id) or bool(live and live.watched),
                            live=live,
                        )
                        agents.append(agent)
                        outcome = await agent.run(tabs)
                    if outcome.status == JobStatus.FAILED and await browser_gone(burner):
                        return _browser_crashed(agent.steps)
                    return outcome
                finally:
                    watch.detach()
                    tabs.close()
        except LeaseLost:
            raise
        except Exception as exc:
            if not isinstance(exc, BrowsaError) and held and await browser_gone(held[0], exc):
                log.warning("the browser crashed under job %s: %s", ctx.id, str(exc).split("\n", 1)[0])
                return _browser_crashed(agents[0].steps if agents else 0)
            return Outcome.crashed(exc, f"agent attempt of job {ctx.id}")
        finally:
            with anyio.CancelScope(shield=True):
                await charge_minutes(ctx, self.prices, started, f"{label}agent task")

    @asynccontextmanager
    async def _shown(
        self, ctx: JobContext, tabs: Tabs, masks: Callable[[], Collection[str]], attempt: int | None, row: int | None
    ) -> AsyncIterator[ViewHandle | None]:
        """The attempt's browser in the job's live view (its `live_url`), and the person's control of it."""
        if self.live is None:
            yield None
            return
        key = "main" if attempt is None and row is None else (f"row-{row}" if row is not None else f"attempt-{attempt}")
        async with AsyncExitStack() as stack:
            view = None
            try:
                view = await stack.enter_async_context(
                    self.live.view(
                        ctx.workspace_id, ctx.id, key, tabs, masks=masks, on_control=control_recorder(ctx, key)
                    )
                )
            except OSError as exc:  # the live server could not start (its port is taken): the task runs unwatched
                log.warning("job %s has no live view: %s", ctx.id, exc)
            if view is not None:
                await ctx.set_fields(live_url=view.job_url)
            yield view

    def _setup(
        self,
        work: TaskRequest | BatchJob,
        *,
        task: str,
        url: str | None,
        timeout_seconds: float,
        fields: TaskRequest | TaskRow,
        screenshots: str | None = None,
    ) -> TaskSetup:
        return TaskSetup(
            task=task,
            max_steps=work.max_steps,
            timeout_seconds=timeout_seconds,
            initial_url=url,
            input=fields.input,
            output=fields.output,
            success_condition=fields.success_condition,
            screenshot_mode=screenshots,
            nav_timeout_ms=min(self.settings.nav_timeout_ms, 20_000),
        )


def _browser_crashed(steps: int) -> Outcome:
    return Outcome.fail(
        "INTERRUPTED",
        f"the browser crashed under this task after {steps} steps; it is relaunched for the next job, but an agent"
        " task is not re-run on its own because it may have changed something (submit it again if that is safe)",
        result={"steps": steps},
    )


async def _next_shot(ctx: JobContext) -> int:
    return await ScreenshotRepo(ctx.engine.db).next_number(ctx.id)
