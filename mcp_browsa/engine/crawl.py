"""Crawl and map jobs: a site's pages found by following links and its sitemap, each URL once.

A crawl is a URL batch whose rows it discovers itself: every row is a page loaded like a batch row (a tab of a
shared burner, the URL guard on every request, paid per page), and the links it finds become new rows in the
transaction that finishes it. After a crash the job is queued again and goes on from the rows it had, loading no
finished page twice. robots.txt is obeyed unless the caller says otherwise, and pages of one host start at least
the politeness delay apart. A map lists URLs only: the sitemap, the start page's links and theirs, no content.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from pydantic import Field

from mcp_browsa.browser.guard import BlockedRequest
from mcp_browsa.engine.context import JobContext, Outcome, progress_write
from mcp_browsa.engine.lanes import Lane
from mcp_browsa.engine.readonly import ReadOnlyRunners, cancel_rest, item_finish, row_outcome
from mcp_browsa.engine.requests import JobRequest
from mcp_browsa.engine.scrape import PageFailure, navigate
from mcp_browsa.engine.siteurls import Robots, UrlFilter, normalize_url, sitemap_locations, unique
from mcp_browsa.models import JobStatus
from mcp_browsa.storage.crawl import CrawlRepo
from mcp_browsa.storage.db import Conn

__all__ = ["MAX_CRAWL_PAGES", "CrawlRequest", "CrawlRunner", "MapRequest", "MapRunner"]

MAX_CRAWL_PAGES = 10_000
DEFAULT_DELAY = 0.1  # seconds between two page loads on one host, unless robots.txt asks for more
_MAX_SITEMAPS = 10
_MAX_TEXT = 5_000_000  # characters of a robots.txt or sitemap read at most
_MAP_FOLLOW = 30  # pages of the second level a map loads for their links
_MAP_SECONDS = 40.0  # a map answers within this, with what it found so far


class CrawlRequest(JobRequest):
    """A crawl as stored in its job's params and read back by the runner."""

    url: str
    max_pages: int = Field(50, ge=1, le=MAX_CRAWL_PAGES)
    max_depth: int = Field(3, ge=0, le=50)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    same_site: bool = True
    formats: list[str] = Field(default_factory=lambda: ["markdown"])
    respect_robots: bool = True
    concurrency: int | None = Field(None, ge=1, le=20)
    delay_seconds: float = Field(DEFAULT_DELAY, ge=0, le=60)
    max_chars: int = 20_000
    main_content: bool = True
    load_media: bool = False
    allowed_domains: list[str] | None = None

    def row(self, url: str, depth: int) -> dict[str, Any]:
        return {
            "kind": "url",
            "url": url,
            "depth": depth,
            "formats": self.formats,
            "max_chars": self.max_chars,
            "main_content": self.main_content,
            "load_media": self.load_media,
            "allowed_domains": self.allowed_domains,
        }

    @property
    def filter(self) -> UrlFilter:
        return UrlFilter(self.url, tuple(self.include), tuple(self.exclude), self.same_site)


class MapRequest(JobRequest):
    """A map as stored in its job's params and read back by the runner."""

    url: str
    limit: int = Field(200, ge=1, le=MAX_CRAWL_PAGES)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    same_site: bool = True
    allowed_domains: list[str] | None = None
    sync: bool = False  # the caller waited for the answer in its call: no webhook announces it

    @property
    def filter(self) -> UrlFilter:
        return UrlFilter(self.url, tuple(self.include), tuple(self.exclude), self.same_site)


async def _read_text(page: Page, url: str) -> str | None:
    """A text file of the site (robots.txt, a sitemap) loaded in the burner's page; None when it is not there."""
    try:
        response = await navigate(page, url, wait_until="domcontentloaded", timeout_ms=15_000)
        if response is None or response.status >= 400:
            return None
        return (await response.text())[:_MAX_TEXT]
    except (PageFailure, PlaywrightError, UnicodeDecodeError):
        return None


async def _site(
    readonly: ReadOnlyRunners, ctx: JobContext, url: str, allowed: list[str] | None, *, sitemap: bool
) -> tuple[Robots, list[str]]:
    """The site's robots.txt rules and (when asked) the page URLs its sitemaps list, read through the guard."""
    origin = normalize_url(url) or url
    root = origin.split("/", 3)
    base = "/".join(root[:3])
    params = {"url": base + "/robots.txt", "allowed_domains": allowed, "formats": ["text"]}
    pages: list[str] = []

    def ignore(_blocked: BlockedRequest) -> None:
        pass  # a refused robots.txt or sitemap is the same as a missing one

    async with readonly.opener(ctx)(params, ignore) as burner:
        robots = Robots(await _read_text(burner.page, base + "/robots.txt"))
        if sitemap:
            queue = deque(robots.sitemaps or [base + "/sitemap.xml"])
            read = 0
            while queue and read < _MAX_SITEMAPS:
                text = await _read_text(burner.page, queue.popleft())
                read += 1
                if text is None:
                    continue
                locations, index = sitemap_locations(text)
                (queue.extend if index else pages.extend)(locations)
    return robots, pages


class _HostGate:
    """Page loads on one host start at least `delay` seconds apart, whichever worker starts them."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._next: dict[str, float] = {}

    async def wait(self, url: str) -> None:
        if self.delay <= 0:
            return
        host = url.split("/", 3)[2]
        now = time.monotonic()
        start = max(now, self._next.get(host, now))
        self._next[host] = start + self.delay
        # A rate, not a condition: there is nothing to wait on but the clock.
        await anyio.sleep(start - now)


class CrawlRunner:
    def __init__(self, readonly: ReadOnlyRunners, repo: CrawlRepo) -> None:
        self.readonly = readonly
        self.repo = repo

    async def run(self, ctx: JobContext) -> Outcome:
        req = ctx.read(CrawlRequest)
        keep = req.filter
        rows = await self.repo.rows(ctx.id)
        robots, listed = Robots(None), list[str]()
        if req.respect_robots or not rows:
            robots, listed = await _site(self.readonly, ctx, req.url, req.allowed_domains, sitemap=not rows)
            if not req.respect_robots:
                robots = Robots(None)
        if not rows:
            start = normalize_url(req.url) or req.url
            found = [u for u in unique(normalize_url(u) for u in listed) if u != start and keep.keeps(u)]
            found = [u for u in found if robots.allows(u)] if req.max_depth >= 1 else []
            seeds = [req.row(start, 0), *(req.row(u, 1) for u in found[: req.max_pages - 1])]
            await ctx.write(CrawlRepo.add_rows(ctx.id, 0, seeds), event=("crawl.seeded", {"sitemap_urls": len(found)}))
            rows = [(i, "queued", p) for i, p in enumerate(seeds)]
        crawl = _Crawl(self, ctx, req, robots, rows)
        await crawl.run()
        if ctx.cancelled:
            await ctx.write(cancel_rest(ctx.id))
            return Outcome(JobStatus.CANCELLED, error_message="cancelled; finished pages are kept")
        items = await ctx.engine.jobs.items(ctx.id)
        ok = sum(1 for i in items if i.status == JobStatus.COMPLETED)
        return Outcome.ok({"total": len(items), "completed": ok, "failed": len(items) - ok})


class _Crawl:
    """One run of a crawl job: the frontier, the URLs seen, and the workers that load pages off the frontier."""

    def __init__(
        self, runner: CrawlRunner, ctx: JobContext, req: CrawlRequest, robots: Robots, rows: list[Any]
    ) -> None:
        self.readonly = runner.readonly
        self.ctx = ctx
        self.req = req
        self.robots = robots
        self.keep = req.filter
        self.seen = {normalize_url(p["url"]) or p["url"] for _i, _s, p in rows}
        self.pending = deque((i, p) for i, s, p in rows if s in ("queued", "running"))
        self.total = len(rows)
        self.done = len(rows) - len(self.pending)
        self.busy = 0
        self.changed = anyio.Event()
        delay = max(req.delay_seconds, robots.delay or 0.0) if req.respect_robots else req.delay_seconds
        self.gate = _HostGate(delay)
        self.links_asked = "links" in req.formats

    def _notify(self) -> None:
        changed, self.changed = self.changed, anyio.Event()
        changed.set()

    async def run(self) -> None:
        lanes = self.readonly.lane_group(self.ctx)
        concurrency = max(1, min(self.req.concurrency or self.readonly.pool.max, 20))

        async def worker() -> None:
            lane = lanes.lane()
            try:
                while not self.ctx.cancelled:
                    if not self.pending:
                        if self.busy == 0:
                            return
                        await self.changed.wait()
                        continue
                    idx, params = self.pending.popleft()
                    self.busy += 1
                    try:
                        await self._page(idx, params, lane)
                    finally:
                        self.busy -= 1
                        self._notify()
            finally:
                await lane.close()

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)

    async def _page(self, idx: int, params: dict[str, Any], lane: Lane) -> None:
        url = params["url"]
        if self.req.respect_robots and not self.robots.allows(url):
            outcome = Outcome.fail("BLOCKED", f"{url}: robots.txt disallows it (respect_robots=false crawls it anyway)")
        else:
            await self.gate.wait(url)
            formats = list(dict.fromkeys([*params["formats"], "links"]))
            row = {**params, "formats": formats}
            with self.ctx.batch_row(idx):  # the page's charges count on its own row too
                outcome = await row_outcome(self.ctx, idx, lambda: self.readonly.url_item(self.ctx, idx, row, lane))
        found = self._discovered(outcome, int(params.get("depth", 0)))
        first = self.total
        self.total += len(found)
        self.done += 1
        new_rows = [self.req.row(u, int(params.get("depth", 0)) + 1) for u in found]
        writes: list[Callable[[Conn], Any]] = [
            item_finish(self.ctx.id, idx, outcome),
            CrawlRepo.add_rows(self.ctx.id, first, new_rows),
            progress_write(self.ctx.id, self.done, self.total, f"page {idx} {outcome.status.value}: {url[:80]}"),
        ]

        async def finish(conn: Conn) -> None:
            for write in writes:
                await write(conn)

        data = {"index": idx, "status": outcome.status.value, "error_code": outcome.error_code, "found": len(found)}
        await self.ctx.write(finish, event=("crawl.page", data))
        self.pending.extend((first + i, row) for i, row in enumerate(new_rows))

    def _discovered(self, outcome: Outcome, depth: int) -> list[str]:
        """New URLs worth a row from a finished page (marking the page's own final and canonical URLs as seen)."""
        result = outcome.result
        if result is None:
            return []
        links = result.get("links") if self.links_asked else result.pop("links", None)
        for own in (result.get("final_url"), result.pop("canonical", None)):
            if isinstance(own, str) and (n := normalize_url(own)):
                self.seen.add(n)
        if outcome.status != JobStatus.COMPLETED or depth + 1 > self.req.max_depth:
            return []
        found: list[str] = []
        for link in links or []:
            url = normalize_url(str(link.get("url", "")))
            if self.total + len(found) >= self.req.max_pages:
                break
            if url is None or url in self.seen or not self.keep.keeps(url):
                continue
            if self.req.respect_robots and not self.robots.allows(url):
                continue
            self.seen.add(url)
            found.append(url)
        return found


class MapRunner:
    """`map`: the URLs of a site without their content, from its sitemap and two levels of links."""

    def __init__(self, readonly: ReadOnlyRunners) -> None:
        self.readonly = readonly

    async def run(self, ctx: JobContext) -> Outcome:
        req = ctx.read(MapRequest)
        keep = req.filter
        start = normalize_url(req.url) or req.url
        robots, listed = await _site(self.readonly, ctx, req.url, req.allowed_domains, sitemap=True)
        from_sitemap = [u for u in unique(normalize_url(u) for u in listed) if keep.keeps(u) and robots.allows(u)]
        urls = unique([start, *from_sitemap])
        row = {"url": start, "formats": ["links"], "allowed_domains": req.allowed_domains}
        try:
            first = await self.readonly.fetch(ctx, row)
        except PageFailure as failure:
            return Outcome.fail(failure.code, failure.message)
        level = self._links(first, keep, robots)
        urls = unique([*urls, *level])
        follow = [u for u in level if u != start][:_MAP_FOLLOW]
        lanes = self.readonly.lane_group(ctx)
        queue = iter(follow)
        known = set(urls)

        async def worker() -> None:
            lane = lanes.lane()
            try:
                for url in queue:
                    if len(urls) >= req.limit:
                        return
                    try:
                        page = await self.readonly.fetch(ctx, {**row, "url": url}, lane=lane)
                    except PageFailure:
                        continue
                    for url in self._links(page, keep, robots):
                        if url not in known:
                            known.add(url)
                            urls.append(url)
            finally:
                await lane.close()

        with anyio.move_on_after(_MAP_SECONDS):
            async with anyio.create_task_group() as tg:
                for _ in range(min(4, self.readonly.pool.max)):
                    tg.start_soon(worker)
        shown = urls[: req.limit]
        await ctx.progress(1, 1, last_action=f"mapped {len(shown)} URLs")
        return Outcome.ok({"url": start, "count": len(shown), "from_sitemap": len(from_sitemap), "urls": shown})

    @staticmethod
    def _links(content: dict[str, Any], keep: UrlFilter, robots: Robots) -> list[str]:
        found = (normalize_url(str(link.get("url", ""))) for link in content.get("links") or [])
        return [u for u in unique(found) if keep.keeps(u) and robots.allows(u)]
