"""The content tools: crawl (a site's pages as one job) and map (a site's URLs, no content)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.crawl import DEFAULT_DELAY, MAX_CRAWL_PAGES, CrawlRequest, MapRequest
from mcp_browsa.engine.requests import AllowedDomains, Format, LoadMedia, MainContent, Url
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.quick import READ_ONLY, SYNC_WAIT_CAP, IdempotencyKey
from mcp_browsa.tools.results import job_result, raise_if_failed

__all__ = ["register"]

Globs = Annotated[
    list[Annotated[str, Field(max_length=500)]],
    Field(max_length=50, description="URL globs (`/docs/*` on the path, `https://*` on the URL)."),
]
SameSite = Annotated[bool, Field(description="Only URLs on the start URL's host (a leading www. ignored).")]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=READ_ONLY)
    async def crawl(
        url: Url,
        max_pages: Annotated[int, Field(ge=1, le=MAX_CRAWL_PAGES, description="Pages at most, start included.")] = 50,
        max_depth: Annotated[int, Field(ge=0, le=50, description="Links followed from the start page, at most.")] = 3,
        include: Globs = [],  # noqa: B006 - pydantic copies defaults
        exclude: Globs = [],  # noqa: B006
        same_site: SameSite = True,
        formats: Annotated[
            list[Format], Field(min_length=1, max_length=5, description="Formats per page, as in scrape.")
        ] = ["markdown"],  # noqa: B006
        respect_robots: Annotated[
            bool, Field(description="Obey the site's robots.txt (rules and Crawl-delay).")
        ] = True,
        concurrency: Annotated[
            int | None, Field(ge=1, le=20, description="Pages at once (capped by the burner limit).")
        ] = None,
        delay_seconds: Annotated[
            float, Field(ge=0, le=60, description="Politeness: seconds between two page loads on one host.")
        ] = DEFAULT_DELAY,
        max_chars: Annotated[int, Field(ge=100, le=500_000, description="Cap on each page's text formats.")] = 20_000,
        main_content: MainContent = True,
        load_media: LoadMedia = False,
        allowed_domains: AllowedDomains = None,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Crawl a site from `url` (links and sitemap, each page once) as a job; get_job's `items` are the pages."""
        caller = caller_for(ctx)
        req = CrawlRequest(
            url=url,
            max_pages=max_pages,
            max_depth=max_depth,
            include=list(include),
            exclude=list(exclude),
            same_site=same_site,
            formats=list(dict.fromkeys(formats)),
            respect_robots=respect_robots,
            concurrency=concurrency,
            delay_seconds=delay_seconds,
            max_chars=max_chars,
            main_content=main_content,
            load_media=load_media,
            allowed_domains=allowed_domains,
        )
        job = await app.idempotent(caller, "crawl", idempotency_key, req.model_dump(), lambda: app.crawl(caller, req))
        return await job_result(app, job)

    @server.tool(name="map", annotations=READ_ONLY)
    async def map_site(
        url: Url,
        limit: Annotated[int, Field(ge=1, le=MAX_CRAWL_PAGES, description="URLs at most.")] = 200,
        include: Globs = [],  # noqa: B006
        exclude: Globs = [],  # noqa: B006
        same_site: SameSite = True,
        allowed_domains: AllowedDomains = None,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """A site's URLs without content (sitemap and links), in the call; crawl gets the pages."""
        caller = caller_for(ctx)
        req = MapRequest(
            url=url,
            limit=limit,
            include=list(include),
            exclude=list(exclude),
            same_site=same_site,
            allowed_domains=allowed_domains,
        )
        job = await app.idempotent(
            caller, "map", idempotency_key, req.model_dump(), lambda: app.map(caller, req, wait=SYNC_WAIT_CAP)
        )
        return await job_result(app, raise_if_failed(job))
