"""Runners for the read-only kinds: scrape, extract, screenshot, and batches of URLs.

Each unit takes a burner, pays for it through the ledger before the browser starts, loads one
URL behind the URL guard and records what it saw. Safe to run again after a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any, Protocol

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response

from mcp_browsa.browser.guard import BlockedRequest
from mcp_browsa.browser.pool import Burner, BurnerPool, browser_gone
from mcp_browsa.browser.private_hint import private_network_hint
from mcp_browsa.config import Settings
from mcp_browsa.engine.billing import charge_browser, charge_minutes
from mcp_browsa.engine.context import JobContext, Outcome, progress_write
from mcp_browsa.engine.extraction import ModelFor, extract_result, extract_with_model
from mcp_browsa.engine.lanes import Lane, LaneGroup, OpenBurner
from mcp_browsa.engine.media import skip_media, skips_media
from mcp_browsa.engine.pdf import is_pdf, pdf_content, refetch_pdf
from mcp_browsa.engine.requests import BatchJob, ExtractRequest, PageRequest
from mcp_browsa.engine.scrape import NO_TARGET_STATUSES, PageFailure, navigate, page_content, refused_navigation
from mcp_browsa.models import JobStatus, PriceTable
from mcp_browsa.storage.db import Conn, now
from mcp_browsa.storage.rows import BatchRowRepo
from mcp_browsa.storage.screenshots import ScreenshotRepo

__all__ = ["ItemRunner", "ReadOnlyRunners", "cancel_rest", "item_finish", "row_outcome"]

log = logging.getLogger(__name__)

# A batch row runner: (ctx, row index, row params) -> (status, result, error_code, error_message)
ItemRunner = Callable[[JobContext, int, dict[str, Any]], Awaitable[Outcome]]
PolicyFactory = Callable[[dict[str, Any]], Any]


class BrowserFactory(Protocol):
    def __call__(
        self, workspace_id: str, params: dict[str, Any], *, policy: Any, on_block: Any, job_id: str | None
    ) -> AbstractAsyncContextManager[Burner]: ...


class ReadOnlyRunners:
    def __init__(
        self,
        pool: BurnerPool,
        settings: Settings,
        prices: PriceTable,
        policy_for: PolicyFactory | None = None,
        browser_for: BrowserFactory | None = None,
    ) -> None:
        self.pool = pool
        # The app's browser_for: identities, fingerprints and the guard applied as for every other job.
        self.browser_for: BrowserFactory = browser_for or (
            lambda _ws, _params, *, policy, on_block, job_id: pool.acquire(policy=policy, on_block=on_block)
        )
        self.settings = settings
        self.prices = prices
        self.policy_for = policy_for or (lambda _params: None)
        # Batch rows that are agent tasks are run by the agent runner, which registers here.
        self.task_item_runner: ItemRunner | None = None
        # The model of an extract job given one (llm in its params): the agent runner's, which registers here.
        self.model_for: ModelFor | None = None

    def screenshot_path(self, job_id: str, n: int) -> Path:
        return self.settings.screenshots_dir / job_id / f"{n:04d}.png"

    def _opener(self, ctx: JobContext) -> OpenBurner:
        @asynccontextmanager
        async def open_burner(
            params: dict[str, Any], on_block: Callable[[BlockedRequest], None]
        ) -> AsyncIterator[Burner]:
            async with self.browser_for(
                ctx.workspace_id, params, policy=self.policy_for(params), on_block=on_block, job_id=ctx.id
            ) as burner:
                if skips_media(params):
                    await skip_media(burner.context)
                yield burner

        return open_burner

    def lane_group(self, ctx: JobContext) -> LaneGroup:
        """Tabs of shared burners for the rows of one job (see engine/lanes.py)."""
        return LaneGroup(self._opener(ctx), lambda: self.pool.host.generation, self.pool.slot)

    def opener(self, ctx: JobContext) -> OpenBurner:
        """A burner for `ctx`'s job under its own policy, for work that is not one of its rows."""
        return self._opener(ctx)

    async def fetch(
        self,
        ctx: JobContext,
        params: dict[str, Any],
        *,
        shot_n: int = 0,
        lane: Lane | None = None,
        also: Callable[[Conn], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Load one URL in a fresh burner (or the lane's) and collect the formats asked for. Raises PageFailure.

        `also` is written in the same transaction as the charge. A browser that crashes under the page is
        relaunched by the pool and the page is tried once more, on the house: loading it again changes nothing.
        """
        url = params["url"]
        blocked: list[dict[str, Any]] = []

        def on_block(b: BlockedRequest) -> None:
            blocked.append({"url": b.url_or_host, "rule": b.rule, "reason": b.reason, "navigation": b.navigation})

        await charge_browser(ctx, self.prices, identity=False, purpose=url[:80], also=also)
        started = time.monotonic()
        try:
            for attempt in (1, 2):
                try:
                    return await self._visit(ctx, params, on_block, blocked, shot_n, lane)
                except _BrowserLost as lost:
                    if attempt == 2:
                        raise PageFailure(
                            "INTERNAL_ERROR",
                            f"the browser crashed twice while loading {url} ({lost}); it is relaunched for the next"
                            " job, so submitting this one again is safe",
                        ) from None
                    log.warning("the browser crashed under job %s (%s); loading %s again", ctx.id, lost, url)
                    await ctx.event("browser.crashed", {"url": url, "error": str(lost)[:300], "retrying": True})
                    blocked.clear()
            raise AssertionError("unreachable")
        finally:
            with anyio.CancelScope(shield=True):
                if blocked:
                    await ctx.event("blocked_requests", {"url": url, "blocked": blocked[:50]})
                await charge_minutes(ctx, self.prices, started, url[:80])

    async def _visit(
        self,
        ctx: JobContext,
        params: dict[str, Any],
        on_block: Callable[[BlockedRequest], None],
        blocked: list[dict[str, Any]],
        shot_n: int,
        lane: Lane | None,
    ) -> dict[str, Any]:
        url = params["url"]
        formats: list[str] = list(params.get("formats") or ["markdown"])
        timeout = params.get("timeout_seconds")  # None (rows, extract, screenshot): the server's navigation timeout
        timeout_ms = int(timeout * 1000) if timeout else self.settings.nav_timeout_ms
        lease = lane.lease if lane is not None else self._opener(ctx)
        async with lease(params, on_block) as burner:
            t0 = time.monotonic()
            try:
                try:
                    response = await navigate(
                        burner.page, url, wait_until=params.get("wait_until", "load"), timeout_ms=timeout_ms
                    )
                except PageFailure:
                    top = next((b for b in blocked if b["navigation"] or _same_target(b["url"], url)), None)
                    if top is not None:
                        hint = private_network_hint(top["rule"], top["url"])
                        raise PageFailure(
                            "BLOCKED", f"{url} was blocked by the URL guard ({top['rule']}: {top['reason']}){hint}"
                        ) from None
                    raise
                status = response.status if response is not None else None
                shot = self.screenshot_path(ctx.id, shot_n) if "screenshot" in formats else None
                max_chars = int(params.get("max_chars") or 50_000)
                if response is not None and is_pdf(response.headers.get("content-type")):
                    shot = None  # a PDF's text is its content; the viewer's pixels add nothing
                    content = await _pdf(burner.page, response, formats, url, max_chars)
                else:
                    content = await page_content(
                        burner.page,
                        formats,
                        max_chars=max_chars,
                        full_page=bool(params.get("full_page", True)),
                        screenshot_path=shot,
                        # Reading a loaded page takes well under a second; a page that holds it up longer than its
                        # own load was allowed to take is spinning or flooding dialogs.
                        timeout=max(10.0, timeout_ms / 1000),
                        main_content=bool(params.get("main_content", True)),
                    )
            except (PageFailure, PlaywrightError) as exc:
                if await browser_gone(burner, exc):
                    raise _BrowserLost(str(exc).splitlines()[0][:200]) from exc
                # A page that sends itself to a refused URL while it is read fails the read however it happens to
                # (a destroyed context, a timeout): the refusal is what the caller must hear about.
                moved = refused_navigation(url, blocked)
                if moved is not None and not (isinstance(exc, PageFailure) and exc.code == "BLOCKED"):
                    raise moved from None
                raise
            # After the read, the same: what was read is the browser's "blocked" page, not content.
            moved = refused_navigation(url, blocked)
            if moved is not None:
                raise moved
            content.update(url=url, status=status, load_ms=round((time.monotonic() - t0) * 1000))
            if shot is not None:
                await ctx.write(_screenshot_row(ctx.id, shot_n, shot, content["final_url"]))
            if blocked:
                content["blocked_requests"] = blocked[:50]
            return content

    async def page(self, ctx: JobContext) -> Outcome:
        """scrape / screenshot / extract: one URL, one burner; for extract with a model, the data read off it."""
        req = ctx.read(PageRequest)
        try:
            content = await self.fetch(ctx, req.page())
        except PageFailure as failure:
            return Outcome.fail(failure.code, failure.message)
        if isinstance(req, ExtractRequest) and req.llm:
            return await extract_with_model(ctx, self.model_for, self.prices, req, content)
        await ctx.progress(1, 1, last_action=f"loaded {content.get('final_url', req.url)[:100]}")
        if isinstance(req, ExtractRequest):
            return Outcome.ok(extract_result(content, schema=req.data_schema, prompt=req.prompt))
        return Outcome.ok(content)

    async def url_item(self, ctx: JobContext, idx: int, params: dict[str, Any], lane: Lane | None = None) -> Outcome:
        """One URL row of a batch or a crawl; what it costs is counted on the row as well as on the job."""
        running = _item_start(ctx.id, idx)
        try:
            with ctx.batch_row(idx):
                content = await self.fetch(ctx, params, shot_n=idx, lane=lane, also=running)
        except PageFailure as failure:
            return Outcome.fail(failure.code, failure.message)
        if content.get("status") in NO_TARGET_STATUSES:
            # The page the row is about is not there; what the server sent instead is kept as the row's result.
            message = f"{params['url']} answered HTTP {content['status']}: the page is not there"
            return Outcome.fail("NO_TARGET", message, result=content)
        return Outcome.ok(content)

    async def batch(self, ctx: JobContext) -> Outcome:
        """Run the unfinished rows (all of them, or what a crash left), `concurrency` workers taking them in
        order, each in a tab of one shared burner kept from row to row (see engine/lanes.py)."""
        pending = iter(await ctx.engine.jobs.pending_items(ctx.id))
        concurrency = max(1, min(ctx.read(BatchJob).concurrency or self.pool.max, 20))
        done = count(await _done_count(ctx) + 1)

        async def run_row(idx: int, item: dict[str, Any], lane: Lane) -> None:

            async def attempt() -> Outcome:
                if item.get("blocked"):  # refused by the URL guard at submit: the row ends without a browser
                    return Outcome.fail("BLOCKED", str(item["blocked"]))
                if item.get("kind") != "task":
                    return await self.url_item(ctx, idx, item, lane)  # marks the row running as it pays
                if self.task_item_runner is None:
                    return Outcome.fail("BAD_REQUEST", "this server cannot run agent tasks")
                await ctx.write(_item_start(ctx.id, idx))
                with ctx.batch_row(idx):
                    return await self.task_item_runner(ctx, idx, item)

            outcome = await row_outcome(ctx, idx, attempt)
            finish = item_finish(ctx.id, idx, outcome)
            moved = progress_write(ctx.id, next(done), last_action=f"row {idx} {outcome.status.value}")

            async def finish_row(conn: Conn) -> None:
                await finish(conn)
                await moved(conn)

            await ctx.write(
                finish_row,
                event=("batch.item", {"index": idx, "status": outcome.status.value, "error_code": outcome.error_code}),
            )

        lanes = self.lane_group(ctx)

        async def worker() -> None:
            lane = lanes.lane()
            try:
                for idx, item in pending:  # one iterator shared by the workers: each row is taken once
                    if ctx.cancelled:
                        return
                    await run_row(idx, item, lane)
            finally:
                await lane.close()

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)

        if ctx.cancelled:
            await ctx.write(cancel_rest(ctx.id))
            return Outcome(JobStatus.CANCELLED, error_message="cancelled; finished rows are kept")
        items = await ctx.engine.jobs.items(ctx.id)
        ok = len([i for i in items if i.status == JobStatus.COMPLETED])
        return Outcome.ok({"total": len(items), "completed": ok, "failed": len(items) - ok})


async def _pdf(page: Page, response: Response, formats: list[str], url: str, max_chars: int) -> dict[str, Any]:
    """A PDF's text as the page's content; a file that cannot be read is the site's fault, not ours.

    Chromium hands a PDF to its viewer, and what it keeps as the navigation's body may be the viewer's page: then
    the page fetches the file once more, a GET through the same route hook, egress proxy and guard as any other.
    """
    try:
        data = await response.body()
        if not data.startswith(b"%PDF-"):
            data = await refetch_pdf(page)
        content = await pdf_content(data, formats, url=url, max_chars=max_chars)
    except (ValueError, PlaywrightError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PageFailure("UPSTREAM_UNAVAILABLE", f"{url}: {first}") from None
    content["final_url"] = page.url
    return content


async def row_outcome(ctx: JobContext, idx: int, attempt: Callable[[], Awaitable[Outcome]]) -> Outcome:
    """The outcome of one row, whatever it raised: a row that fails never fails the rows beside it."""
    try:
        return await attempt()
    except Exception as exc:
        return Outcome.crashed(exc, f"row {ctx.id}/{idx}")


class _BrowserLost(Exception):
    """The browser process went away under a page (crashed or killed), not the page failing on its own."""


def _same_target(blocked_url: str, url: str) -> bool:
    from urllib.parse import urlsplit

    a, b = urlsplit(blocked_url if "://" in blocked_url else "http://" + blocked_url), urlsplit(url)
    return (a.hostname or "") == (b.hostname or "")


def _screenshot_row(job_id: str, n: int, path: Path, url: str) -> Callable[[Conn], Awaitable[None]]:
    async def write(conn: Conn) -> None:
        await ScreenshotRepo.record(conn, job_id, n, path, url)

    return write


def _item_start(job_id: str, idx: int) -> Callable[[Conn], Awaitable[None]]:
    started_at = now()  # when the row began, though the write may come later (with the row's first charge)

    async def write(conn: Conn) -> None:
        await BatchRowRepo.start(conn, job_id, idx, started_at)

    return write


def item_finish(job_id: str, idx: int, outcome: Outcome) -> Callable[[Conn], Awaitable[None]]:
    async def write(conn: Conn) -> None:
        await BatchRowRepo.finish(
            conn,
            job_id,
            idx,
            status=outcome.status.value,
            result=outcome.result,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
        )

    return write


def cancel_rest(job_id: str) -> Callable[[Conn], Awaitable[None]]:
    async def write(conn: Conn) -> None:
        await BatchRowRepo.cancel_rest(conn, job_id)

    return write


async def _done_count(ctx: JobContext) -> int:
    return await BatchRowRepo(ctx.engine.db).ended(ctx.id)
