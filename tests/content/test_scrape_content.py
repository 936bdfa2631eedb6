"""scrape over MCP stdio on real-looking pages: main content, all of it, PDFs, and what text-only reads skip."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from tests.support.mcp_server import call, envelope, ok, stdio_client
from tests.support.pdf import make_pdf
from tests.support.sites import Site, respond, serve_site

pytestmark = pytest.mark.anyio

SPHINX = "/content/sphinx.html"
DATASETTE = "/content/datasette.html"


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        report = make_pdf(
            [["Quarterly report", "Revenue grew (a lot) this quarter."], ["Outlook", "Costs stay flat next year."]],
            title="Report Q3",
        )
        site.routes["/files/report"] = lambda h: respond(h, report, "application/pdf")
        site.routes["/files/broken.pdf"] = lambda h: respond(h, b"%PDF-1.4\nnot really", "application/pdf")
        yield site


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory, pages: Site) -> AsyncIterator[Client]:
    home: Path = tmp_path_factory.mktemp("content-home")
    async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_MAX_BURNERS="2") as c:
        yield c


async def test_markdown_is_the_main_content_titled_with_code_and_tables(client: Client, pages: Site) -> None:
    md = ok(await call(client, "scrape", {"url": pages.url(SPHINX)}))["result"]["markdown"]
    assert md.startswith("# Introduction\n\nThe “Python library” contains several different kinds of components.")
    # Navigation, sidebar and footer are gone.
    for chrome in ("Navigation", "modules", "Table of Contents", "Report a Bug", "Copyright", "Quick search"):
        assert chrome not in md, chrome
    assert "¶" not in md
    reference = pages.url("/content/reference.html#reference-index")
    assert f"While [The Python Language Reference]({reference}) describes the exact syntax" in md
    assert "```python\n>>> import sys\n>>> sys.platform\n'linux'\n>>> if sys.platform == \"linux\":\n" in md
    assert "| Platform | sys.platform |\n| --- | --- |\n| Linux | `'linux'` |" in md
    assert "## Notes on availability" in md


async def test_main_content_false_keeps_the_whole_page(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url(SPHINX), "main_content": False}))
    md = job["result"]["markdown"]
    assert "### Navigation" in md and "Table of Contents" in md and "Report a Bug" in md
    assert "While [The Python Language Reference](" in md


async def test_a_table_page_keeps_every_row_with_its_links(client: Client, pages: Site) -> None:
    md = ok(await call(client, "scrape", {"url": pages.url(DATASETTE)}))["result"]["markdown"]
    assert md.startswith("# vega: cars: 406 rows\n")
    rows = re.findall(r"^\| \[(\d+)\]\(" + re.escape(pages.url("/vega/cars/")) + r"\1\) \| ", md, re.M)
    assert [int(r) for r in rows] == list(range(1, 101))
    assert "Powered by" not in md  # the footer


async def test_a_pdf_becomes_markdown_and_text_with_its_page_count(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url("/files/report"), "formats": ["markdown", "text"]}))
    result = job["result"]
    assert result["pages"] == 2 and result["content_type"] == "application/pdf"
    assert result["title"] == "Report Q3"
    md = result["markdown"]
    assert md.startswith("# Report Q3\n\n*PDF, 2 pages*\n\n## Page 1\n\nQuarterly report\nRevenue grew (a lot)")
    assert "## Page 2\n\nOutlook\nCosts stay flat next year." in md
    assert "Quarterly report" in result["text"] and "<" not in result["text"]
    assert result["truncated"] is False


async def test_a_long_pdf_is_cut_at_max_chars(client: Client, pages: Site) -> None:
    long = make_pdf([[f"Line {n} of page {p} with words enough to fill it" for n in range(40)] for p in range(30)])
    pages.routes["/files/long.pdf"] = lambda h: respond(h, long, "application/pdf")
    result = ok(await call(client, "scrape", {"url": pages.url("/files/long.pdf"), "max_chars": 3000}))["result"]
    assert result["pages"] == 30 and result["truncated"] is True
    assert len(result["markdown"]) < 3100 and result["markdown"].endswith("[truncated: the PDF goes on]")


async def test_an_unreadable_pdf_is_a_clear_failure(client: Client, pages: Site) -> None:
    failed = envelope(await call(client, "scrape", {"url": pages.url("/files/broken.pdf")}))
    assert failed["code"] == "UPSTREAM_UNAVAILABLE"
    assert "PDF could not be read" in failed["error"]


async def test_text_reads_skip_images_and_fonts_unless_asked(client: Client, pages: Site) -> None:
    def fetched(start: int) -> set[str]:
        return {path for _method, path in pages.requests[start:]}

    start = len(pages.requests)
    ok(await call(client, "scrape", {"url": pages.url(SPHINX)}))
    seen = fetched(start)
    assert "/content/sphinx.css" in seen
    assert "/content/python-logo.gif" not in seen and "/content/source-serif.woff2" not in seen

    start = len(pages.requests)
    ok(await call(client, "scrape", {"url": pages.url(SPHINX), "load_media": True}))
    assert {"/content/python-logo.gif", "/content/source-serif.woff2"} <= fetched(start)

    start = len(pages.requests)
    ok(await call(client, "scrape", {"url": pages.url(SPHINX), "formats": ["markdown", "screenshot"]}))
    assert "/content/python-logo.gif" in fetched(start)
