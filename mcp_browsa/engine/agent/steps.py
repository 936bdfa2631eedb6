"""Recording an agent's steps: each step's event, charge and job fields in one transaction; screenshots to files.

Shared by the attempts of one job (fanout) and by the task rows of a batch, which write into their batch job.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from mcp_browsa.engine.billing import charge_step
from mcp_browsa.engine.context import JobContext, Outcome
from mcp_browsa.engine.observation import mask_text
from mcp_browsa.engine.screenshots import SecretsNotHidden, capture
from mcp_browsa.llm import Completion, Usage
from mcp_browsa.models import PriceTable
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.progress import JobProgressRepo, StepCounts
from mcp_browsa.storage.screenshots import ScreenshotRepo

__all__ = ["ScreenshotMode", "ScreenshotPlan", "Shot", "StepRecord", "StepRecorder"]

log = logging.getLogger(__name__)

ScreenshotMode = Literal["final_only", "every_step", "on_navigation"]


@dataclass
class ScreenshotPlan:
    """When to take screenshots, and the job-wide counter that numbers the files (1, 2, …)."""

    mode: ScreenshotMode | None
    full_page: bool
    directory: Path
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))


@dataclass
class StepRecord:
    """What one step did, gathered for its event and its line in the history."""

    n: int
    action: str = "(none)"
    args: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    navigated: bool = False
    usage: Usage = field(default_factory=Usage)
    usd: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None

    def add(self, completion: Completion) -> None:
        self.usage = self.usage + completion.usage
        self.usd += completion.cost_usd


class StepRecorder:
    """Writes for one attempt. `attempt` (fanout) and `row` (batch task row) label the events."""

    def __init__(
        self,
        ctx: JobContext,
        prices: PriceTable,
        *,
        shots: ScreenshotPlan | None = None,
        attempt: int | None = None,
        row: int | None = None,
        max_credits: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.prices = prices
        self.shots = shots
        self.attempt = attempt
        self.row = row
        self.max_credits = max_credits
        # Set by the attempt to its secrets' masks: a page URL can carry a filled value (a form sent with GET), and
        # a page can show one where a screenshot would capture it.
        self.mask_values: Callable[[], Collection[str]] = tuple

    def mask(self, text: str) -> str:
        return mask_text(text, self.mask_values())

    def label(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.attempt is not None:
            data["attempt"] = self.attempt
        if self.row is not None:
            data["row"] = self.row
        return data

    def prefix(self) -> str:
        if self.row is not None:
            return f"row {self.row} "
        if self.attempt is not None:
            return f"#{self.attempt} "
        return ""

    async def budget_problem(self) -> str | None:
        """Why another step cannot be paid for, or None: the balance, or the task's max_credits."""
        room = await JobProgressRepo(self.ctx.engine.db).credit_room(self.ctx.id)
        if room is None:
            return None
        balance, charged = room
        step = self.prices.agent_step
        if balance < step:
            return (
                f"the credit balance ({balance}) cannot pay another step ({step} credits);"
                " top up with `mcp-browsa credits add N`"
            )
        if self.max_credits is not None and charged + step > self.max_credits:
            return f"max_credits ({self.max_credits}) reached: this task has been charged {charged} credits"
        return None

    async def step(
        self,
        step: int,
        data: dict[str, Any],
        *,
        summary: str,
        usage: Usage,
        usd: float,
        shot: Shot | None = None,
    ) -> None:
        """One step's event, its charge (credits + USD), its screenshot row and the job's counters, atomically."""
        ctx = self.ctx
        last_action = f"{self.prefix()}step {step}: {summary}"[:300]

        counts = StepCounts(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            usd=usd,
            last_action=last_action,
        )

        async def counters(conn: Conn) -> None:
            # A batch row's steps are that row's; only a whole task's steps move the job's progress.
            progress = step if self.row is None else None
            await JobProgressRepo.count_step(conn, ctx.id, counts, row=self.row, progress=progress)
            if shot is not None:
                await ScreenshotRepo.record(conn, ctx.id, shot.n, shot.path, shot.url)

        if shot is not None:
            data["screenshot"] = shot.n
        event = ("step", self.label({"step": step, **data}))
        # A step that ran is paid for even if the task is being cancelled or timed out meanwhile.
        with anyio.CancelScope(shield=True):
            await charge_step(
                ctx, self.prices, f"{self.prefix()}agent step {step}", usd=usd, event=event, also=counters
            )

    async def event(self, type_: str, data: dict[str, Any]) -> None:
        with anyio.CancelScope(shield=True):
            await self.ctx.event(type_, self.label(data))

    async def take(self, page: Page) -> Shot | None:
        """Save the page as the job's next numbered PNG (the file only); None if the page cannot be shot."""
        if self.shots is None:
            return None
        n = next(self.shots.counter)
        path = self.shots.directory / self.ctx.id / f"{n:04d}.png"
        try:
            await capture(page, path, full_page=self.shots.full_page, timeout_ms=15_000, mask_values=self.mask_values())
        except (PlaywrightError, OSError, SecretsNotHidden) as exc:
            log.info("screenshot %s of job %s failed: %s", n, self.ctx.id, exc)
            return None
        return Shot(n, path, self.mask(page.url))

    async def screenshot(self, page: Page, why: str) -> int | None:
        """A screenshot outside any step (the final page, the first page), with its row and event."""
        shot = await self.take(page)
        if shot is None:
            return None

        async def row(conn: Conn) -> None:
            await ScreenshotRepo.record(conn, self.ctx.id, shot.n, shot.path, shot.url)

        with anyio.CancelScope(shield=True):
            await self.ctx.write(
                row, event=("screenshot", self.label({"n": shot.n, "why": why, "url": shot.url[:300]}))
            )
        return shot.n


@dataclass(frozen=True)
class Shot:
    n: int
    path: Path
    url: str
