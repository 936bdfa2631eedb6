"""crawl and map over MCP on a small docs site: links and sitemap, each URL once, robots.txt, filters, limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.docs_site import DocsSite, add_docs_site
from tests.support.mcp_server import call, envelope, finished, ok, stdio_client
from tests.support.sites import serve_site

pytestmark = pytest.mark.anyio

TREE = [f"/docs/p{i}.html" for i in range(12)]


@pytest.fixture(scope="module")
def docs() -> Iterator[DocsSite]:
    with serve_site() as site:
        yield add_docs_site(site)


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory, docs: DocsSite) -> AsyncIterator[Client]:
    home: Path = tmp_path_factory.mktemp("crawl-home")
    async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_MAX_BURNERS="3") as c:
        yield c


def paths(job: dict[str, Any], docs: DocsSite) -> list[str]:
    return [item["url"].removeprefix(docs.site.base) for item in job["items"]]


async def test_a_crawl_follows_links_and_the_sitemap_and_loads_each_page_once(client: Client, docs: DocsSite) -> None:
    before = {p: docs.fetched(p) for p in [*TREE, "/docs/orphan.html", "/docs/alias.html", "/docs/private/secret.html"]}
    job = ok(await call(client, "crawl", {"url": docs.url("/docs/p0.html"), "max_depth": 5, "max_pages": 100}))
    assert job["kind"] == "crawl" and job["status"] in ("queued", "running")
    done = await finished(client, job["id"], 120)
    assert done["status"] == "completed", done
    found = paths(done, docs)
    # Every page of the tree (by links), the orphan (by the sitemap), the alias page 3 links to; nothing twice,
    # nothing off the site, nothing robots.txt disallows.
    assert sorted(found) == sorted([*TREE, "/docs/orphan.html", "/docs/alias.html"])
    assert found[0] == "/docs/p0.html" and len(found) == len(set(found))
    assert all("#" not in u and "example.org" not in u and "logo.png" not in u for u in found)
    for item in done["items"]:
        assert item["status"] == "completed", item
        assert item["result"]["markdown"].startswith("# ")
        assert "links" not in item["result"]  # used to crawl, not asked for
    p5 = next(i for i in done["items"] if i["url"].endswith("/docs/p5.html"))
    assert p5["result"]["markdown"].startswith("# Chapter 5\n\nChapter 5 explains one part")
    assert p5["result"]["load_ms"] >= 0 and p5["result"]["status"] == 200
    assert p5["credits_charged"] >= 1 and p5["duration_ms"] >= 0  # each page says what it cost, as batch rows do
    assert done["credits_charged"] == sum(i["credits_charged"] for i in done["items"])
    # Each page loaded once, the robots-disallowed page never.
    assert all(docs.fetched(p) == before[p] + 1 for p in [*TREE, "/docs/orphan.html"])
    assert docs.fetched("/docs/private/secret.html") == before["/docs/private/secret.html"]
    assert done["progress_done"] == done["progress_total"] == len(found)


async def test_a_page_s_canonical_url_counts_as_crawled(client: Client, docs: DocsSite) -> None:
    # The alias names page 1 as canonical: page 1's own URL, linked from the alias, is not loaded again.
    done = await finished(
        client, ok(await call(client, "crawl", {"url": docs.url("/docs/alias.html"), "max_depth": 1}))["id"], 120
    )
    found = paths(done, docs)
    assert found[0] == "/docs/alias.html"
    assert {"/docs/p0.html", "/docs/p3.html", "/docs/p4.html", "/docs/orphan.html"} <= set(found)
    assert "/docs/p1.html" not in found


async def test_depth_pages_and_filters_bound_a_crawl(client: Client, docs: DocsSite) -> None:
    shallow = await finished(
        client, ok(await call(client, "crawl", {"url": docs.url("/docs/p0.html"), "max_depth": 1}))["id"], 120
    )
    assert sorted(paths(shallow, docs)) == sorted(
        ["/docs/p0.html", "/docs/p1.html", "/docs/p2.html", "/docs/orphan.html"]
    )

    few = await finished(
        client, ok(await call(client, "crawl", {"url": docs.url("/docs/p0.html"), "max_pages": 3}))["id"], 120
    )
    assert len(few["items"]) == 3

    args = {"url": docs.url("/docs/p0.html"), "max_depth": 5, "exclude": ["/docs/p1*", "/docs/orphan*"]}
    filtered = await finished(client, ok(await call(client, "crawl", args))["id"], 120)
    found = paths(filtered, docs)
    assert "/docs/p1.html" not in found and "/docs/p2.html" in found and "/docs/orphan.html" not in found
    assert "/docs/p3.html" not in found  # only linked from the excluded page 1


async def test_respect_robots_false_crawls_what_robots_txt_disallows(client: Client, docs: DocsSite) -> None:
    args = {
        "url": docs.url("/docs/p0.html"),
        "max_depth": 1,
        "respect_robots": False,
        "include": ["/docs/p0*", "*/private/*"],
    }
    done = await finished(client, ok(await call(client, "crawl", args))["id"], 120)
    secret = next(i for i in done["items"] if i["url"].endswith("/docs/private/secret.html"))
    assert secret["status"] == "completed" and "Disallowed." in secret["result"]["markdown"]


async def test_a_crawl_refuses_bad_input_with_a_clear_error(client: Client, docs: DocsSite) -> None:
    bad = envelope(await call(client, "crawl", {"url": "file:///etc/passwd"}))
    assert bad["code"] in ("BAD_REQUEST", "FORBIDDEN")
    too_many = await call(client, "crawl", {"url": docs.url("/docs/p0.html"), "max_pages": 20_000})
    assert too_many.is_error
    # The URL guard's allowlist binds a crawl like any other job: refused before anything is loaded.
    fenced = envelope(
        await call(client, "crawl", {"url": docs.url("/docs/p0.html"), "allowed_domains": ["example.org"]})
    )
    assert fenced["code"] == "FORBIDDEN" and "blocked by the URL guard" in fenced["error"]


async def test_map_lists_urls_from_the_sitemap_and_two_levels_of_links(client: Client, docs: DocsSite) -> None:
    started = time.monotonic()
    job = ok(await call(client, "map", {"url": docs.url("/docs/p0.html")}))
    assert time.monotonic() - started < 30
    assert job["status"] == "completed" and job["kind"] == "map"
    urls = [u.removeprefix(docs.site.base) for u in job["result"]["urls"]]
    assert urls[0] == "/docs/p0.html" and len(urls) == len(set(urls))
    # The sitemap's orphan, the start page's links (1, 2) and theirs (3-6); never content.
    assert {"/docs/orphan.html", "/docs/p1.html", "/docs/p2.html", *(f"/docs/p{i}.html" for i in range(3, 7))} <= set(
        urls
    )
    assert "/docs/private/secret.html" not in urls and not any("example.org" in u for u in urls)
    assert job["result"]["from_sitemap"] == 2 and "markdown" not in job["result"]

    limited = ok(await call(client, "map", {"url": docs.url("/docs/p0.html"), "limit": 3}))
    assert len(limited["result"]["urls"]) == 3
