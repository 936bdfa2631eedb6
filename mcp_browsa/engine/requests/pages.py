"""One-call page work as requests: scrape, extract, screenshot, and batches of URLs (kinds of the same names).

A page request says what to load and what to bring back; the read-only runners read it back from the job's
params. A batch's own params (`BatchJob`) say how to run its rows; the rows are stored beside it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from mcp_browsa.engine.requests.base import (
    AllowedDomains,
    Concurrency,
    JobRequest,
    ModelChoice,
    SecondsTimeout,
    Url,
)
from mcp_browsa.engine.requests.tasks import MaxSteps

__all__ = [
    "MAX_BATCH_URLS",
    "BatchJob",
    "ExtractRequest",
    "Format",
    "Formats",
    "LoadMedia",
    "MainContent",
    "MaxChars",
    "PageRequest",
    "PageTimeout",
    "ScrapeRequest",
    "ScreenshotRequest",
    "UrlBatchRequest",
    "Urls",
    "WaitUntil",
]

MAX_BATCH_URLS = 1000
Format = Literal["html", "text", "links", "markdown", "screenshot"]
WaitUntil = Literal["load", "domcontentloaded", "networkidle", "commit"]
MaxChars = Annotated[int, Field(ge=100, le=500_000, description="Cap per text format; longer is cut and marked.")]
MainContent = Annotated[bool, Field(description="Main content only (no navigation, headers, footers, sidebars).")]
LoadMedia = Annotated[bool, Field(description="Load images, media and fonts for text formats too.")]
PageTimeout = Annotated[float, Field(ge=1, le=120, description="Page load timeout.")]
Urls = Annotated[
    list[Annotated[str, Field(max_length=4096)]],
    Field(min_length=1, max_length=MAX_BATCH_URLS, description="URLs to scrape, each in its own burner."),
]
Formats = Annotated[
    list[Format],
    Field(min_length=1, max_length=5, description="What to return: html, text, links, markdown, screenshot."),
]


def _markdown() -> list[Format]:
    return ["markdown"]


def _screenshot() -> list[Format]:
    return ["screenshot"]


def _page_text() -> list[Format]:
    return ["markdown", "text"]


class PageRequest(SecondsTimeout):
    """One page loaded in a fresh burner behind the URL guard; never sends writes."""

    url: Url
    formats: Formats = Field(default_factory=_markdown)
    max_chars: MaxChars = 50_000
    full_page: bool = Field(True, description="Screenshot the whole page, not only the viewport.")
    wait_until: WaitUntil = Field("load", description="Load state to wait for before reading.")
    # None: the server's navigation timeout (BROWSA_NAV_TIMEOUT_MS).
    timeout_seconds: PageTimeout | None = None
    allowed_domains: AllowedDomains = None
    main_content: MainContent = True
    load_media: LoadMedia = False
    # The caller waited for the answer in its call: no job.completed webhook announces it.
    sync: bool = False

    def page(self) -> dict[str, Any]:
        """The page as a batch row reads it: what fetch, the browser and the guard look at."""
        return self.params()


class ScrapeRequest(PageRequest):
    """scrape: a page's content in the formats asked for."""

    timeout_seconds: PageTimeout | None = 30


class ScreenshotRequest(PageRequest):
    """screenshot: a PNG of the page."""

    formats: Formats = Field(default_factory=_screenshot)
    full_page: bool = Field(True, description="Capture the whole page, not only the viewport.")


class ExtractRequest(PageRequest, ModelChoice):
    """extract: data read off a page by a model (`llm`), or without one the page's text beside the schema or
    prompt for the caller's own model."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    formats: Formats = Field(default_factory=_page_text)
    # `schema` is a BaseModel attribute; the field keeps that name on the wire and in the stored params.
    data_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="JSON Schema of the data wanted (give this or prompt)."
    )
    prompt: str | None = Field(None, max_length=4000, description="What to extract, in words (give this or schema).")

    @classmethod
    def pick(cls, values: dict[str, Any]) -> ExtractRequest:
        named = {k: v for k, v in values.items() if k in cls.model_fields or k == "schema"}
        return cls.model_validate(named)


class UrlBatchRequest(JobRequest):
    """batch(urls=…): pages scraped as one job of kind "batch", each its own row."""

    urls: Urls
    formats: Formats = Field(default_factory=_markdown)
    max_chars: MaxChars = 20_000
    concurrency: Concurrency = None
    allowed_domains: AllowedDomains = None
    main_content: MainContent = True
    load_media: LoadMedia = False


class BatchJob(ModelChoice):
    """A batch job's own params: how many rows, how many at once, and for agent tasks the model they share."""

    count: int = 0
    concurrency: int | None = None
    tasks: int | None = None  # how many of the rows are agent tasks
    max_steps: MaxSteps = 20
    allowed_domains: AllowedDomains = None
    allow_writes: bool = True
