"""Every tool over stdio, the way Claude Desktop runs us: `mcp-browsa` spawned as a subprocess, the SDK client.

One server for the module (max 2 burners, so queueing is easy to reach); pages come from a local site.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import BlobResourceContents, ImageContent, TextResourceContents

from mcp_browsa.surface import SHARED_ARGUMENTS
from tests.support.mcp_server import call, envelope, finished, free_port, installed_script, ok, stdio_client
from tests.support.pages import SLOW, STALLED, add_pages
from tests.support.sites import Site, respond, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

QUICK_TOOLS = {"scrape", "extract", "screenshot", "batch"}
JOB_TOOLS = {"get_job", "list_jobs", "cancel_job"}
ACCOUNT_TOOLS = {"credits", "capacity"}
BROWSER_TOOLS = {"open_session", "navigate", "act", "observe", "close_session", "list_sessions"}
ARTICLE = "/foundation/article.html"
DETAILS = "/foundation/details.html"
HELD_LOAD = "/foundation/held-load.html"  # readable at once, but its load event never fires
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        yield site


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stdio-home")


@pytest.fixture(scope="module")
async def client(home: Path, pages: Site) -> AsyncIterator[Client]:
    async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_MAX_BURNERS="2") as c:
        yield c


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE), data[:16]
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def images(result: Any) -> list[bytes]:
    return [base64.b64decode(c.data) for c in result.content if isinstance(c, ImageContent)]


async def test_every_tool_has_a_described_input_schema_and_a_result_schema(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) >= QUICK_TOOLS | JOB_TOOLS | ACCOUNT_TOOLS | BROWSER_TOOLS
    for name in QUICK_TOOLS | JOB_TOOLS | ACCOUNT_TOOLS | BROWSER_TOOLS:
        tool = tools[name]
        assert tool.description, name
        assert tool.input_schema["type"] == "object"
        for field, spec in tool.input_schema.get("properties", {}).items():
            assert spec.get("description") or field in SHARED_ARGUMENTS, f"{name}.{field} has no description"
    # Result schemas are not repeated per tool: browsa://schemas names each tool's (tests/test_surface.py).
    [index] = (await client.read_resource("browsa://schemas")).contents
    results = json.loads(index.text)["results"]  # type: ignore[union-attr]
    for name in QUICK_TOOLS | {"get_job", "cancel_job"}:
        assert tools[name].output_schema is None and results[name] == "Job", name
    assert results["credits"] == "Credits" and results["capacity"] == "Capacity"
    scrape = tools["scrape"].input_schema["properties"]
    assert set(scrape) >= {"url", "formats", "max_chars", "full_page", "wait_until", "async"}
    assert set(scrape["formats"]["items"]["enum"]) == {"html", "text", "links", "markdown", "screenshot"}
    assert set(tools["extract"].input_schema["properties"]) >= {"url", "schema", "prompt"}
    # A batch takes URLs or agent tasks: exactly one of them, checked by the tool.
    assert "required" not in tools["batch"].input_schema
    assert {"urls", "tasks"} <= set(tools["batch"].input_schema["properties"])


async def test_scrape_turns_the_rendered_page_into_markdown(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url(ARTICLE)}))
    assert job["status"] == "completed"
    assert job["kind"] == "scrape"
    assert job["credits_charged"] >= 1
    result = job["result"]
    assert result["status"] == 200
    assert result["title"] == "Field notes on headless browsers"
    md = result["markdown"]
    assert "# Field notes on headless browsers" in md
    assert "## Why render at all" in md
    assert "### Footnote" in md
    assert "this sentence was written by JavaScript" in md  # rendered, not the source
    assert "| Plan | Price |" in md
    assert "| Starter | $9 |" in md
    assert re.search(r"^[*+-] Scripts build the content$", md, re.M)
    assert "**Bold claim**" in md
    assert "[external spec](https://example.org/spec)" in md
    assert "Site menu" not in md and "Footer text" not in md  # page chrome is dropped
    assert not re.search(r"</?(h1|table|ul|p|a)\b", md)


async def test_markdown_links_are_absolute(client: Client, pages: Site) -> None:
    md = ok(await call(client, "scrape", {"url": pages.url(ARTICLE)}))["result"]["markdown"]
    assert f"[detailed comparison]({pages.url(DETAILS)})" in md


async def test_scrape_returns_every_format_and_the_screenshot_as_image_content(client: Client, pages: Site) -> None:
    formats = ["html", "text", "links", "markdown", "screenshot"]
    result = await call(client, "scrape", {"url": pages.url(ARTICLE), "formats": formats})
    job = ok(result)
    page = job["result"]
    assert "<h1>Field notes on headless browsers</h1>" in page["html"]
    assert "Field notes on headless browsers" in page["text"] and "<h1>" not in page["text"]
    links = {link["url"]: link["text"] for link in page["links"]}
    assert links[pages.url(DETAILS)] == "detailed comparison"
    assert links["https://example.org/spec"] == "external spec"
    assert all(url.startswith(("http://", "https://")) for url in links)
    assert page["markdown"].startswith("# Field notes")
    [png] = images(result)
    assert png_size(png)[1] > 2000  # full page by default: the tall article
    # One field for the screenshots, and it is the one the result's schema (a resource) declares.
    [uri] = job["screenshots"]
    [schema] = (await client.read_resource("browsa://schemas/Job")).contents
    declared = json.loads(schema.text)["properties"]  # type: ignore[union-attr]
    assert "screenshots" in declared
    assert not set(job) - set(declared), set(job)
    [blob] = (await client.read_resource(uri)).contents
    assert isinstance(blob, BlobResourceContents)
    assert base64.b64decode(blob.blob) == png


async def test_text_content_is_the_page_and_structured_content_the_job(client: Client, pages: Site) -> None:
    result = await call(client, "scrape", {"url": pages.url(DETAILS), "formats": ["markdown", "screenshot"]})
    job = ok(result)
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"scrape completed · {pages.url(DETAILS)}")
    assert job["result"]["markdown"] in text
    assert f"screenshot: browsa://jobs/{job['id']}/screenshots/0" in text


async def test_scrape_cuts_text_at_max_chars_and_says_so(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url(ARTICLE), "formats": ["text"], "max_chars": 100}))
    text = job["result"]["text"]
    assert job["result"]["truncated"] is True
    assert "Field notes on headless browsers" in text
    assert len(text.split("\n…")[0]) == 100
    assert "[truncated:" in text


async def test_scrape_async_returns_a_job_at_once_and_get_job_returns_when_it_ends(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url(f"{SLOW}?s=3"), "async": True}))
    assert job["status"] in ("queued", "running")  # back before the page could have loaded
    assert "get_job" in job["hint"]
    t0 = time.monotonic()
    done = ok(await call(client, "get_job", {"job_id": job["id"], "wait": 60}))
    waited = time.monotonic() - t0
    assert done["status"] == "completed"
    assert done["result"]["title"] == "Slow page"
    assert waited < 30  # long-poll: back as soon as the job ended, not when the wait ran out
    assert "hint" not in done


async def test_get_job_returns_a_running_job_when_the_wait_runs_out_then_cancel_stops_it(
    client: Client, pages: Site
) -> None:
    job = ok(
        await call(client, "scrape", {"url": pages.url(f"{STALLED}?t=wait"), "timeout_seconds": 90, "async": True})
    )
    t0 = time.monotonic()
    still = ok(await call(client, "get_job", {"job_id": job["id"], "wait": 2}))
    assert 1.5 <= time.monotonic() - t0 < 20
    assert still["status"] in ("queued", "running")
    assert "get_job" in still["hint"]

    ok(await call(client, "cancel_job", {"job_id": job["id"]}))
    t0 = time.monotonic()
    ended = ok(await call(client, "get_job", {"job_id": job["id"], "wait": 30}))
    assert ended["status"] == "cancelled"
    assert time.monotonic() - t0 < 15  # the page load was stopped, not waited out

    again = envelope(await call(client, "cancel_job", {"job_id": job["id"]}))
    assert again["code"] == "AGENT_NOT_RUNNING"
    assert "already ended (cancelled)" in again["error"]
    assert again["job_id"] == job["id"]


async def test_work_beyond_max_burners_queues_and_capacity_shows_it_live(client: Client, pages: Site) -> None:
    async def capacity() -> dict[str, Any]:
        return ok(await call(client, "capacity"))

    running = [
        ok(
            await call(
                client, "scrape", {"url": pages.url(f"{STALLED}?t=busy{i}"), "timeout_seconds": 90, "async": True}
            )
        )
        for i in range(2)
    ]

    async def both_running() -> bool:
        snap = await capacity()
        return bool(snap["running"] == 2 and snap["burners_in_use"] == 2)

    await wait_until(both_running, "both stalled scrapes running, each in a burner")
    queued = ok(await call(client, "scrape", {"url": pages.url(f"{STALLED}?t=queued"), "async": True}))

    async def aged() -> dict[str, Any] | None:
        snap = await capacity()
        age = snap["oldest_queued_age_seconds"]
        return snap if age is not None and age >= 0.4 else None

    # The queue's age counts up while the job waits: shown live, not only when it starts.
    snap = await wait_until(aged, "the queued job's age passing 0.4 s in capacity")
    assert snap["queued"] == 1
    assert snap["running"] == 2
    assert snap["burners_in_use"] == snap["burners_max"] == 2
    assert snap["utilization"] == 1.0
    assert ok(await call(client, "get_job", {"job_id": queued["id"], "wait": 0}))["status"] == "queued"

    cancelled = ok(await call(client, "cancel_job", {"job_id": queued["id"]}))
    assert cancelled["status"] == "cancelled"
    assert cancelled["error_message"] == "cancelled before it started"
    for job in running:
        ok(await call(client, "cancel_job", {"job_id": job["id"]}))
    for job in running:
        assert (await finished(client, job["id"], 30))["status"] == "cancelled"

    async def idle() -> bool:
        snap = await capacity()
        return bool(snap["running"] == snap["queued"] == snap["burners_in_use"] == 0)

    await wait_until(idle, "nothing running, queued or holding a burner")
    assert not [p for _m, p in pages.requests if "t=queued" in p]  # the queued job never reached a browser


async def test_extract_with_a_schema_or_a_prompt(client: Client, pages: Site) -> None:
    schema = {"type": "object", "properties": {"plans": {"type": "array", "items": {"type": "string"}}}}
    job = ok(await call(client, "extract", {"url": pages.url(ARTICLE), "schema": schema}))
    assert job["kind"] == "extract"
    assert job["status"] == "completed"
    assert job["result"]["schema"] == schema
    assert "| Starter | $9 |" in job["result"]["content"]
    assert "schema" in job["result"]["instructions"]

    job = ok(await call(client, "extract", {"url": pages.url(ARTICLE), "prompt": "Which plans are there?"}))
    assert job["result"]["prompt"] == "Which plans are there?"
    assert "# Field notes on headless browsers" in job["result"]["content"]
    # The documented `text` field: the same page as plain visible text, no markdown.
    assert "Field notes on headless browsers" in job["result"]["text"]
    assert "# Field notes" not in job["result"]["text"] and "| Starter |" not in job["result"]["text"]


async def test_scrape_with_wait_until_domcontentloaded_reads_a_page_whose_load_never_fires(
    client: Client, pages: Site
) -> None:
    url = pages.url(HELD_LOAD)
    timed_out = envelope(await call(client, "scrape", {"url": url, "formats": ["text"], "timeout_seconds": 3}))
    assert timed_out["job_error_code"] == "TIMEOUT"
    assert "wait_until='domcontentloaded'" in timed_out["error"]  # the advice this test follows

    t0 = time.monotonic()
    job = ok(await call(client, "scrape", {"url": url, "formats": ["text"], "wait_until": "domcontentloaded"}))
    assert time.monotonic() - t0 < 20  # not held for the picture (the page's timeout is 30 s)
    assert job["status"] == "completed"
    assert job["result"]["title"] == "Held load"
    assert "Readable before the load event" in job["result"]["text"]


async def test_scrape_screenshot_with_full_page_false_is_the_viewport(client: Client, pages: Site) -> None:
    url = pages.url(ARTICLE)
    [full_png] = images(await call(client, "scrape", {"url": url, "formats": ["screenshot"]}))
    result = await call(client, "scrape", {"url": url, "formats": ["screenshot"], "full_page": False})
    assert ok(result)["result"]["screenshot"].endswith(".png")
    [view_png] = images(result)
    [tool_view_png] = images(await call(client, "screenshot", {"url": url, "full_page": False}))
    assert png_size(view_png) == png_size(tool_view_png)  # the same viewport the screenshot tool shows
    assert png_size(view_png)[0] == png_size(full_png)[0]
    assert png_size(view_png)[1] < png_size(full_png)[1]


async def test_screenshot_over_the_image_cap_is_named_in_notes_not_dropped(tmp_path: Path, pages: Site) -> None:
    async with stdio_client(tmp_path, BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_MAX_IMAGE_BYTES="20000") as capped:
        result = await call(capped, "screenshot", {"url": pages.url(ARTICLE)})
        job = ok(result)
        assert images(result) == []
        path = job["result"]["screenshot"]
        png = await anyio.Path(path).read_bytes()
        assert len(png) > 20_000
        uri = f"browsa://jobs/{job['id']}/screenshots/0"
        [note] = job["notes"]
        assert path in note and uri in note
        assert "over the 20,000-byte limit for image content (BROWSA_MAX_IMAGE_BYTES)" in note
        assert f"note: {note}" in result.content[0].text  # type: ignore[union-attr]
        [blob] = (await capped.read_resource(uri)).contents  # where the note points, the picture is
        assert isinstance(blob, BlobResourceContents)
        assert base64.b64decode(blob.blob) == png


async def test_the_installed_console_script_serves_mcp_over_stdio(tmp_path: Path) -> None:
    script = installed_script()
    assert script.is_file(), f"{script} is missing: `pip install -e .` installs the `mcp-browsa` command"
    async with stdio_client(tmp_path, command=[str(script)]) as spawned:
        tools = {t.name for t in (await spawned.list_tools()).tools}
        assert tools >= QUICK_TOOLS | JOB_TOOLS | ACCOUNT_TOOLS
        assert ok(await call(spawned, "capacity"))["queued"] == 0


async def test_screenshot_is_png_image_content_full_page_or_viewport(client: Client, pages: Site) -> None:
    full = await call(client, "screenshot", {"url": pages.url(ARTICLE)})
    job = ok(full)
    assert job["kind"] == "screenshot"
    assert job["result"]["screenshot"].endswith(".png")
    [full_png] = images(full)
    [view_png] = images(await call(client, "screenshot", {"url": pages.url(ARTICLE), "full_page": False}))
    full_w, full_h = png_size(full_png)
    view_w, view_h = png_size(view_png)
    assert full_w == view_w
    assert view_h < full_h and full_h > 2000  # the viewport's height is the fingerprint's, the page is longer


async def test_batch_rows_each_have_a_status_and_progress_moves_as_they_finish(client: Client, pages: Site) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nothing-listens-here"
    urls = [pages.url(f"{SLOW}?s=1&row=0"), dead, pages.url(ARTICLE), pages.url(f"{SLOW}?s=1&row=3")]
    job = ok(await call(client, "batch", {"urls": urls, "concurrency": 1}))
    assert job["kind"] == "batch"
    assert job["status"] in ("queued", "running")
    assert job["progress_total"] == 4

    notes: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total))

    seen = []
    deadline = time.monotonic() + 120
    while job["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline
        result = await client.call_tool("get_job", {"job_id": job["id"], "wait": 30}, progress_callback=on_progress)
        job = ok(result)
        seen.append(job["progress_done"])

    assert job["status"] == "completed"  # one failing URL never fails the batch
    assert job["progress_done"] == job["progress_total"] == 4
    assert job["result"] == {"total": 4, "completed": 3, "failed": 1}
    assert [item["url"] for item in job["items"]] == urls
    statuses = [item["status"] for item in job["items"]]
    assert statuses == ["completed", "failed", "completed", "completed"]
    failed = job["items"][1]
    assert failed["error_code"] == "UPSTREAM_UNAVAILABLE"
    assert re.search("refused|cannot connect", failed["error_message"]) and dead in failed["error_message"]
    assert job["items"][2]["result"]["markdown"].startswith("# Field notes")
    assert job["items"][3]["result"]["title"] == "Slow page"
    progress = [p for p, _t in notes]
    assert progress == sorted(progress)
    assert any(0 < p < 4 for p in progress)  # rows were reported as they finished, not all at the end
    assert all(t == 4 for _p, t in notes)


async def test_list_jobs_filters_by_status_and_kind_newest_first(client: Client, pages: Site) -> None:
    newest = ok(await call(client, "scrape", {"url": pages.url(DETAILS)}))
    listing = ok(await call(client, "list_jobs", {"limit": 1}))
    assert listing["count"] == 1
    assert listing["jobs"][0]["id"] == newest["id"]

    scrapes = ok(await call(client, "list_jobs", {"kind": "scrape", "status": "completed", "limit": 200}))["jobs"]
    assert newest["id"] in [j["id"] for j in scrapes]
    assert {(j["kind"], j["status"]) for j in scrapes} == {("scrape", "completed")}
    created = [j["created_at"] for j in scrapes]
    assert created == sorted(created, reverse=True)

    cancelled = ok(await call(client, "list_jobs", {"status": "cancelled", "limit": 200}))["jobs"]
    assert cancelled and {j["status"] for j in cancelled} == {"cancelled"}


async def test_credits_show_balance_prices_and_a_consistent_ledger(client: Client, pages: Site) -> None:
    before = ok(await call(client, "credits"))["balance"]
    job = ok(await call(client, "scrape", {"url": pages.url(DETAILS)}))
    credits = ok(await call(client, "credits", {"ledger_rows": 200}))
    assert credits["balance"] == before - job["credits_charged"]
    assert set(credits["prices"]) >= {"burner_start", "burner_minute", "agent_step"}
    rows = sorted(credits["ledger"], key=lambda r: r["id"])
    assert rows[0]["kind"] == "grant" and rows[0]["amount"] == rows[0]["balance_after"] == 1000
    for prev, row in itertools.pairwise(rows):
        assert row["balance_after"] == prev["balance_after"] + row["amount"]
    assert credits["balance"] == rows[-1]["balance_after"] == sum(r["amount"] for r in rows)
    assert next(r for r in rows if r["job_id"] == job["id"])["kind"] == "charge"
    assert ok(await call(client, "credits", {"ledger_rows": 2}))["ledger"] == credits["ledger"][:2]


async def test_job_resource_is_the_job_as_json(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url(DETAILS)}))
    [text] = (await client.read_resource(f"browsa://jobs/{job['id']}")).contents
    assert isinstance(text, TextResourceContents)
    assert json.loads(text.text)["result"] == job["result"]


async def test_capacity_is_idle_after_the_work_is_done(client: Client) -> None:
    snap = ok(await call(client, "capacity"))
    assert snap["queued"] == snap["running"] == snap["burners_in_use"] == 0
    assert snap["burners_max"] == 2
    assert snap["utilization"] == 0.0
    assert snap["oldest_queued_age_seconds"] is None
    assert snap["browser"]


async def test_a_big_page_comes_back_as_markdown_whole(client: Client, pages: Site) -> None:
    """A page of a few hundred KB is converted whole, in the page, its title as the first heading."""
    body = "".join(
        f'<section><h2>Chapter {i}</h2><p>Text of chapter {i} with <a href="/c/{i}">its notes</a>.</p></section>'
        for i in range(3000)
    ).encode()
    pages.routes["/big-book"] = lambda handler: respond(handler, b"<title>Book</title>" + body)
    job = ok(await call(client, "scrape", {"url": pages.url("/big-book"), "max_chars": 500_000}))
    md = job["result"]["markdown"]
    assert md.startswith("# Book\n\n## Chapter 0\n\nText of chapter 0 with [its notes](" + pages.url("/c/0") + ").")
    assert f"## Chapter 2999\n\nText of chapter 2999 with [its notes]({pages.url('/c/2999')})." in md
    assert not job["result"]["truncated"]
