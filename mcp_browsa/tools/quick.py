"""The one-call tools: scrape, extract, screenshot and batch — no LLM or key needed (extract uses one if there).

scrape/extract/screenshot answer in the same call when the page is ready in time (or at once with
`async=true`); batch always returns a job to poll.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.agent.tasks import MAX_BATCH_TASKS, TaskRow
from mcp_browsa.errors import BadRequest
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.params import LlmKey, LlmSpec, keyword_param
from mcp_browsa.tools.results import job_result, raise_if_failed
from mcp_browsa.tools.sampling import model_choice, sampling_mode
from mcp_browsa.tools.session_pages import session_extract, session_screenshot
from mcp_browsa.tools.waiting import follow_job, job_call, resumed

__all__ = ["register"]

Format = Literal["html", "text", "links", "markdown", "screenshot"]
WaitUntil = Literal["load", "domcontentloaded", "networkidle", "commit"]
# Hosts cut tool calls near 60 s; an answer must come back before that.
SYNC_WAIT_CAP = 50.0

Url = Annotated[str, Field(description="The page's http(s) URL.", max_length=4096)]
UrlOrSession = Annotated[str | None, Field(description="The page's http(s) URL.", max_length=4096)]
MaxChars = Annotated[int, Field(ge=100, le=500_000, description="Cap per text format; longer is cut and marked.")]
Async = Annotated[
    bool,
    Field(alias="async", description="Return the job at once; poll get_job."),
]
AllowedDomains = Annotated[
    list[Annotated[str, Field(max_length=253)]] | None,
    Field(
        max_length=100,
        description="Hosts it may contact (`*.x.com` wildcards); default any.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=255,
        description="Retry key: replays the first response (24 h).",
    ),
]
MainContent = Annotated[
    bool,
    Field(description="Main content only (no navigation, headers, footers, sidebars)."),
]
LoadMedia = Annotated[
    bool,
    Field(description="Load images, media and fonts for text formats too."),
]
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=True)
SessionPage = Annotated[
    str | None, Field(max_length=100, description="Instead of url: the active tab of this open session.")
]


def _one_target(url: str | None, session_id: str | None) -> None:
    if (url is None) == (session_id is None):
        raise BadRequest("give exactly one of `url` (a page to load) or `session_id` (an open session's page)")


def register(server: BrowsaServer, app: Browsa) -> None:
    def sync_wait(async_: bool, timeout_seconds: float) -> float:
        return 0.0 if async_ else min(SYNC_WAIT_CAP, timeout_seconds + 15.0)

    @server.tool(annotations=READ_ONLY)
    @keyword_param("async_", "async")
    async def scrape(
        url: Url,
        formats: Annotated[
            list[Format],
            Field(min_length=1, max_length=5, description="What to return: html, text, links, markdown, screenshot."),
        ] = ["markdown"],  # noqa: B006 - pydantic copies defaults
        max_chars: MaxChars = 50_000,
        full_page: Annotated[bool, Field(description="Screenshot the whole page, not only the viewport.")] = True,
        wait_until: Annotated[WaitUntil, Field(description="Load state to wait for before reading.")] = "load",
        timeout_seconds: Annotated[float, Field(ge=1, le=120, description="Page load timeout.")] = 30,
        async_: Async = False,
        allowed_domains: AllowedDomains = None,
        main_content: MainContent = True,
        load_media: LoadMedia = False,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Load a page in a real browser; returns its content (markdown by default), or a job if it is slow."""
        caller = caller_for(ctx)
        params = {
            "url": url,
            "formats": list(formats),
            "max_chars": max_chars,
            "full_page": full_page,
            "wait_until": wait_until,
            "timeout_seconds": timeout_seconds,
            "async": async_,
            "allowed_domains": allowed_domains,
            "main_content": main_content,
            "load_media": load_media,
        }
        job = await app.idempotent(
            caller,
            "scrape",
            idempotency_key,
            params,
            lambda: app.scrape(
                caller,
                url,
                formats=list(formats),
                max_chars=max_chars,
                full_page=full_page,
                wait_until=wait_until,
                timeout_seconds=timeout_seconds,
                wait=sync_wait(async_, timeout_seconds),
                allowed_domains=allowed_domains,
                main_content=main_content,
                load_media=load_media,
            ),
        )
        return await job_result(app, raise_if_failed(job), images="screenshot" in formats)

    @server.tool(annotations=READ_ONLY)
    @keyword_param("async_", "async")
    async def extract(
        url: UrlOrSession = None,
        schema: Annotated[
            dict[str, Any] | None, Field(description="JSON Schema of the data wanted (give this or prompt).")
        ] = None,
        prompt: Annotated[
            str | None, Field(max_length=4000, description="What to extract, in words (give this or schema).")
        ] = None,
        max_chars: MaxChars = 50_000,
        llm: LlmSpec = None,
        llm_api_key: LlmKey = None,
        async_: Async = False,
        allowed_domains: AllowedDomains = None,
        idempotency_key: IdempotencyKey = None,
        session_id: SessionPage = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job] | InputRequiredResult:
        """`data` matching `schema` (or a `prompt`'s answer) read off a page by a model (`llm`, the server's or
        yours); with none, the page's markdown beside them."""
        caller = caller_for(ctx)
        again = await resumed(app, ctx, caller)
        if again is not None:
            return again
        _one_target(url, session_id)
        if (schema is None) == (not prompt):
            raise BadRequest("give exactly one of `schema` (a JSON Schema object) or `prompt` (what to extract)")
        if session_id is not None:
            return await session_extract(
                app,
                ctx,
                caller,
                session_id,
                schema=schema,
                prompt=prompt,
                max_chars=max_chars,
                llm=llm,
                llm_api_key=llm_api_key,
            )
        assert url is not None
        params = {
            "url": url,
            "schema": schema,
            "prompt": prompt,
            "max_chars": max_chars,
            "llm": llm,
            "async": async_,
            "allowed_domains": allowed_domains,
        }
        wait = sync_wait(async_, 30)
        until = time.time() + wait
        use_model = (
            bool(llm or (llm_api_key or "").strip()) or app.tasks.has_key(None) or sampling_mode(ctx) is not None
        )

        async def start() -> Job:
            model, sampler = model_choice(app, ctx, llm, llm_api_key) if use_model else (None, None)
            job = await app.extract(
                caller,
                url,
                schema=schema,
                prompt=prompt,
                max_chars=max_chars,
                wait=0 if use_model else wait,
                allowed_domains=allowed_domains,
                model=use_model,
                llm=model,
                llm_api_key=llm_api_key,
                sampler=sampler,
            )
            return await follow_job(app, ctx, caller, job.id, until=until) if use_model and wait > 0 else job

        job = await app.idempotent(caller, "extract", idempotency_key, params, start)
        return await job_call(app, ctx, caller, raise_if_failed(job), until=until)

    @server.tool(annotations=READ_ONLY)
    @keyword_param("async_", "async")
    async def screenshot(
        url: UrlOrSession = None,
        full_page: Annotated[bool, Field(description="Capture the whole page, not only the viewport.")] = True,
        async_: Async = False,
        allowed_domains: AllowedDomains = None,
        idempotency_key: IdempotencyKey = None,
        session_id: SessionPage = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """A PNG screenshot of a page (or session), as image content."""
        caller = caller_for(ctx)
        _one_target(url, session_id)
        if session_id is not None:
            return await session_screenshot(app, caller, session_id, full_page=full_page)
        assert url is not None
        params = {"url": url, "full_page": full_page, "async": async_, "allowed_domains": allowed_domains}
        job = await app.idempotent(
            caller,
            "screenshot",
            idempotency_key,
            params,
            lambda: app.screenshot(
                caller, url, full_page=full_page, wait=sync_wait(async_, 30), allowed_domains=allowed_domains
            ),
        )
        return await job_result(app, raise_if_failed(job), images=True)

    # Not read-only: a batch of agent tasks may submit forms.
    @server.tool(annotations=ToolAnnotations(open_world_hint=True))
    async def batch(
        urls: Annotated[
            list[Annotated[str, Field(max_length=4096)]] | None,
            Field(min_length=1, max_length=1000, description="URLs to scrape, each in its own burner."),
        ] = None,
        formats: Annotated[
            list[Format], Field(min_length=1, max_length=5, description="Formats per URL, as in scrape.")
        ] = ["markdown"],  # noqa: B006
        max_chars: MaxChars = 20_000,
        concurrency: Annotated[
            int | None, Field(ge=1, le=20, description="How many rows at once (capped by the burner limit).")
        ] = None,
        allowed_domains: AllowedDomains = None,
        main_content: MainContent = True,
        load_media: LoadMedia = False,
        tasks: Annotated[
            list[TaskRow] | None,
            Field(
                min_length=1,
                max_length=MAX_BATCH_TASKS,
                description="Agent tasks instead of URLs, each its own browser agent.",
            ),
        ] = None,
        llm: LlmSpec = None,
        llm_api_key: LlmKey = None,
        max_steps: Annotated[int, Field(ge=1, le=100, description="Most steps per agent task.")] = 20,
        allow_writes: Annotated[bool, Field(description="Let agent tasks submit forms and send writes.")] = True,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Scrape `urls`, or run agent `tasks`, as one job (returns at once). One failing row never fails it."""
        caller = caller_for(ctx)
        if (urls is None) == (tasks is None):
            raise BadRequest("give exactly one of `urls` (pages to scrape) or `tasks` (agent tasks)")
        if tasks is not None:
            rows = list(tasks)
            model, sampler = model_choice(app, ctx, llm, llm_api_key)
            task_params = {
                "tasks": [r.model_dump() for r in rows],
                "llm": llm,
                "max_steps": max_steps,
                "concurrency": concurrency,
                "allowed_domains": allowed_domains,
                "allow_writes": allow_writes,
            }
            job = await app.idempotent(
                caller,
                "batch",
                idempotency_key,
                task_params,
                lambda: app.batch_tasks(
                    caller,
                    rows,
                    llm=model,
                    sampler=sampler,
                    llm_api_key=llm_api_key,
                    max_steps=max_steps,
                    concurrency=concurrency,
                    allowed_domains=allowed_domains,
                    allow_writes=allow_writes,
                ),
            )
            return await job_result(app, job)
        urls = list(urls or [])
        params = {
            "urls": list(urls),
            "formats": list(formats),
            "max_chars": max_chars,
            "concurrency": concurrency,
            "allowed_domains": allowed_domains,
            "main_content": main_content,
            "load_media": load_media,
        }
        job = await app.idempotent(
            caller,
            "batch",
            idempotency_key,
            params,
            lambda: app.batch_urls(
                caller,
                list(urls),
                formats=list(formats),
                max_chars=max_chars,
                concurrency=concurrency,
                allowed_domains=allowed_domains,
                main_content=main_content,
                load_media=load_media,
            ),
        )
        return await job_result(app, job)
