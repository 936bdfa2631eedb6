"""What the host pays for: `tools/list` and tool results, measured over a real stdio session.

The budget is the host's context: every group's tools listed in ≤ 25,000 characters, no Job schema repeated
per tool, and a result's text block the content itself (a page's markdown, a job's status), not JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ListToolsResult, TextContent, TextResourceContents

from tests.support.mcp_server import call, ok, run_cli, stdio_client
from tests.support.pages import add_pages
from tests.support.sites import Site, respond, serve_site

pytestmark = pytest.mark.anyio

BUDGET = 25_000
ARTICLE = "/foundation/article.html"
BIG = "/big"  # a page of about 40 KB of prose, tables and links


def _big_page(handler: Any) -> None:
    rows = "".join(f"<tr><td>Item {i}</td><td>${i}.99</td></tr>" for i in range(200))
    paras = "".join(
        f"<p>Paragraph {i}: the quick brown fox \"jumps\" over the lazy dog, see <a href='/p/{i}'>page {i}</a>.</p>"
        for i in range(300)
    )
    body = f"<html><head><title>Big page</title></head><body><main><h1>Big</h1>{paras}<table>{rows}</table></main>"
    respond(handler, (body + "</body></html>").encode())


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        site.routes[BIG] = _big_page
        yield site


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory, pages: Site) -> AsyncIterator[Client]:
    home = tmp_path_factory.mktemp("surface-home")
    async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK="1") as c:
        yield c


def text_of(result: Any) -> str:
    blocks = [c.text for c in result.content if isinstance(c, TextContent)]
    assert len(blocks) == 1, result.content
    return blocks[0]


def listed_chars(listing: ListToolsResult) -> int:
    """The characters of `tools/list` as it crosses the wire."""
    return len(listing.model_dump_json(by_alias=True, exclude_none=True))


async def test_tools_list_with_every_group_fits_the_budget_and_repeats_no_schema(client: Client) -> None:
    listing = await client.list_tools()
    assert {"scrape", "run_task", "get_job", "open_session", "act", "create_identity", "create_webhook", "credits"} <= {
        t.name for t in listing.tools
    }
    assert listed_chars(listing) <= BUDGET
    outputs = [json.dumps(t.output_schema) for t in listing.tools if t.output_schema is not None]
    assert all(len(o) <= 300 for o in outputs), max(outputs, key=len)  # larger ones are resources
    for tool in listing.tools:
        assert '"title"' not in json.dumps(tool.input_schema), tool.name  # pydantic's per-field titles are gone
        assert tool.description and not tool.description.startswith(" ")


async def test_result_schemas_are_served_once_as_resources(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["get_job"].output_schema is None
    [index] = (await client.read_resource("browsa://schemas")).contents
    assert isinstance(index, TextResourceContents)
    catalog = json.loads(index.text)
    assert catalog["results"]["get_job"] == catalog["results"]["scrape"] == "Job"
    assert "Job" in catalog["schemas"]
    [content] = (await client.read_resource("browsa://schemas/Job")).contents
    assert isinstance(content, TextResourceContents)
    schema = json.loads(content.text)
    assert {"id", "status", "result", "error_code", "question"} <= set(schema["properties"])
    with pytest.raises(MCPError, match="no result schema named 'Nothing'"):
        await client.read_resource("browsa://schemas/Nothing")


async def test_optional_arguments_still_accept_null(client: Client, pages: Site) -> None:
    """The advertised schema drops `null` alternatives; the server's validation still takes them."""
    job = ok(await call(client, "scrape", {"url": pages.url(ARTICLE), "allowed_domains": None}))
    assert job["status"] == "completed"


async def test_a_scrape_reads_as_its_markdown_under_a_one_line_header(client: Client, pages: Site) -> None:
    result = await call(client, "scrape", {"url": pages.url(BIG)})
    job = ok(result)
    markdown = job["result"]["markdown"]
    assert len(markdown) > 20_000
    text = text_of(result)
    header, _, body = text.partition("\n")
    assert header.startswith("scrape completed · " + pages.url(BIG))
    assert job["id"] in header and "HTTP" not in header  # 200: no status shown
    assert body == markdown  # the markdown itself, not escaped in JSON
    assert len(text) <= 1.1 * len(markdown) + 500
    assert result.structured_content is not None and result.structured_content["result"]["markdown"] == markdown


async def test_a_page_that_is_not_2xx_says_its_status_in_the_header(client: Client, pages: Site) -> None:
    result = await call(client, "scrape", {"url": pages.url("/no-such-page.html")})
    job = ok(result)
    assert job["result"]["status"] == 404
    header = text_of(result).split("\n", 1)[0]
    assert header.startswith("scrape completed · ") and "HTTP 404" in header


async def test_a_job_in_flight_reads_as_one_status_line(client: Client, pages: Site) -> None:
    result = await call(client, "scrape", {"url": pages.url("/slow?s=2"), "async": True})
    job = ok(result)
    text = text_of(result)
    assert text.startswith(f"scrape {job['status']} ")
    assert "get_job(job_id=" in text.split("\n", 1)[1]  # what to do next
    assert len(text) < 300
    done = await call(client, "get_job", {"job_id": job["id"], "wait": 30})
    assert text_of(done).startswith("scrape completed · ")


def test_tools_takes_groups_tool_names_and_the_host_profile(tmp_path: Path) -> None:
    bad = run_cli(tmp_path, "--tools", "quick,no_such_tool", timeout=60)
    assert bad.returncode == 2
    assert "unknown tool group, tool or profile: no_such_tool" in bad.stderr


async def test_a_selection_of_single_tools_and_a_group(tmp_path: Path) -> None:
    async with stdio_client(tmp_path, "--tools", "jobs,scrape") as picked:
        names = {t.name for t in (await picked.list_tools()).tools}
    assert names == {"get_job", "list_jobs", "cancel_job", "scrape"}


async def test_the_host_profile_serves_reading_and_jobs_but_no_agent_or_admin_tools(tmp_path: Path) -> None:
    async with stdio_client(tmp_path, "--profile", "host") as host:
        listing = await host.list_tools()
    names = {t.name for t in listing.tools}
    assert {"scrape", "extract", "screenshot", "batch", "get_job", "list_jobs", "cancel_job"} <= names
    assert {"open_session", "navigate", "act", "observe", "close_session"} <= names
    assert not names & {"run_task", "create_webhook", "credits", "create_identity"}
    assert listed_chars(listing) <= 15_000
