"""The one-call tools: scrape, extract, screenshot and batch — no LLM or key needed (extract uses one if there).

scrape/extract/screenshot answer in the same call when the page is ready in time (or at once with
`async=true`); batch always returns a job to poll.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import (
    MAX_STEPS,
    AllowedDomains,
    ExtractRequest,
    Format,
    LlmKey,
    LlmSpec,
    LoadMedia,
    MainContent,
    MaxChars,
    ScrapeRequest,
    ScreenshotRequest,
    TaskBatchRequest,
    Url,
    UrlBatchRequest,
    WaitUntil,
)
from mcp_browsa.engine.requests.base import Concurrency
from mcp_browsa.engine.requests.pages import Formats, PageTimeout, Urls
from mcp_browsa.engine.requests.tasks import TaskRows
from mcp_browsa.errors import BadRequest
from mcp_browsa.models import Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.params import keyword_param
from mcp_browsa.tools.results import job_result, raise_if_failed
from mcp_browsa.tools.sampling import model_choice, sampling_mode
from mcp_browsa.tools.session_pages import session_extract, session_screenshot
from mcp_browsa.tools.waiting import follow_job, job_call, resumed

__all__ = ["register"]

# Hosts cut tool calls near 60 s; an answer must come back before that.
SYNC_WAIT_CAP = 50.0

UrlOrSession = Annotated[str | None, Field(description="The page's http(s) URL.", max_length=4096)]
Async = Annotated[
    bool,
    Field(alias="async", description="Return the job at once; poll get_job."),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=255,
        description="Retry key: replays the first response (24 h).",
    ),
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
        formats: Formats = ["markdown"],  # noqa: B006 - pydantic copies defaults
        max_chars: MaxChars = 50_000,
        full_page: Annotated[bool, Field(description="Screenshot the whole page, not only the viewport.")] = True,
        wait_until: Annotated[WaitUntil, Field(description="Load state to wait for before reading.")] = "load",
        timeout_seconds: PageTimeout = 30,
        async_: Async = False,
        allowed_domains: AllowedDomains = None,
        main_content: MainContent = True,
        load_media: LoadMedia = False,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Load a page in a real browser; returns its content (markdown by default), or a job if it is slow."""
        req = ScrapeRequest.pick(locals())
        caller = caller_for(ctx)
        job = await app.idempotent(
            caller,
            "scrape",
            idempotency_key,
            {**req.params(), "async": async_},
            lambda: app.scrape(caller, req, wait=sync_wait(async_, timeout_seconds)),
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
        req = ExtractRequest.pick(locals())
        wait = sync_wait(async_, 30)
        until = time.time() + wait
        use_model = (
            bool(llm or (llm_api_key or "").strip()) or app.tasks.has_key(None) or sampling_mode(ctx) is not None
        )

        async def start() -> Job:
            model, sampler = model_choice(app, ctx, llm, llm_api_key) if use_model else (None, None)
            chosen = req.model_copy(update={"llm": model})
            job = await app.extract(caller, chosen, wait=0 if use_model else wait, model=use_model, sampler=sampler)
            return await follow_job(app, ctx, caller, job.id, until=until) if use_model and wait > 0 else job

        job = await app.idempotent(caller, "extract", idempotency_key, {**req.params(), "async": async_}, start)
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
        req = ScreenshotRequest.pick(locals())
        job = await app.idempotent(
            caller,
            "screenshot",
            idempotency_key,
            {**req.params(), "async": async_},
            lambda: app.screenshot(caller, req, wait=sync_wait(async_, 30)),
        )
        return await job_result(app, raise_if_failed(job), images=True)

    # Not read-only: a batch of agent tasks may submit forms.
    @server.tool(annotations=ToolAnnotations(open_world_hint=True))
    async def batch(
        urls: Urls | None = None,
        formats: Annotated[
            list[Format], Field(min_length=1, max_length=5, description="Formats per URL, as in scrape.")
        ] = ["markdown"],  # noqa: B006
        max_chars: MaxChars = 20_000,
        concurrency: Concurrency = None,
        allowed_domains: AllowedDomains = None,
        main_content: MainContent = True,
        load_media: LoadMedia = False,
        tasks: TaskRows | None = None,
        llm: LlmSpec = None,
        llm_api_key: LlmKey = None,
        max_steps: Annotated[int, Field(ge=1, le=MAX_STEPS, description="Most steps per agent task.")] = 20,
        allow_writes: Annotated[bool, Field(description="Let agent tasks submit forms and send writes.")] = True,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Scrape `urls`, or run agent `tasks`, as one job (returns at once). One failing row never fails it."""
        caller = caller_for(ctx)
        if (urls is None) == (tasks is None):
            raise BadRequest("give exactly one of `urls` (pages to scrape) or `tasks` (agent tasks)")
        if tasks is not None:
            task_req = TaskBatchRequest.pick(locals())
            model, sampler = model_choice(app, ctx, llm, llm_api_key)
            job = await app.idempotent(
                caller,
                "batch",
                idempotency_key,
                task_req.params(),
                lambda: app.batch_tasks(caller, task_req.model_copy(update={"llm": model}), sampler=sampler),
            )
            return await job_result(app, job)
        url_req = UrlBatchRequest.pick(locals())
        job = await app.idempotent(
            caller, "batch", idempotency_key, url_req.params(), lambda: app.batch_urls(caller, url_req)
        )
        return await job_result(app, job)
