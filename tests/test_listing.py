"""Listing and polling over a real MCP client: list_jobs, list_identities and webhook_deliveries page with an opaque
cursor that later inserts do not disturb, and get_job(view="status") answers with the five status fields only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.mcp_server import call, envelope, finished, ok, stdio_client
from tests.support.sites import Site
from tests.webhooks.receiver import Receiver, serve_receiver

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def site(tiny_site: Site) -> Site:
    return tiny_site


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


@pytest.fixture(scope="module")
async def client(site: Site, receiver: Receiver) -> AsyncIterator[Client]:
    home = Path(tempfile.mkdtemp(prefix="mb-"))
    allowed = f"127.0.0.1:{site.port},127.0.0.1:{receiver.port}"
    try:
        async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK=allowed) as c:
            yield c
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _scrape(client: Client, site: Site, n: int) -> str:
    job = ok(await call(client, "scrape", {"url": site.url(f"/tiny?n={n}"), "async": True}))
    return str(job["id"])


async def _pages(client: Client, tool: str, field: str, args: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Every page of a listing, in order."""
    pages, cursor = [], None
    while True:
        page = ok(await call(client, tool, {**args, "limit": limit} | ({"cursor": cursor} if cursor else {})))
        pages.append(page)
        cursor = page.get("next_cursor")
        if cursor is None:
            return pages
        assert page[field], "a page with a next cursor is never empty"


async def test_list_jobs_pages_stay_stable_while_jobs_are_added(client: Client, site: Site) -> None:
    made = [await _scrape(client, site, n) for n in range(5)]
    first = ok(await call(client, "list_jobs", {"limit": 2}))
    assert [j["id"] for j in first["jobs"]] == made[::-1][:2] and first["total"] == 5 and first["count"] == 2
    newer = await _scrape(client, site, 99)  # arrives while the caller pages through
    second = ok(await call(client, "list_jobs", {"limit": 2, "cursor": first["next_cursor"]}))
    third = ok(await call(client, "list_jobs", {"limit": 2, "cursor": second["next_cursor"]}))
    seen = [j["id"] for page in (first, second, third) for j in page["jobs"]]
    assert seen == made[::-1]  # each job once, none skipped, the newcomer not pushed into these pages
    assert third["next_cursor"] is None and third["total"] == 6
    assert ok(await call(client, "list_jobs", {"limit": 1}))["jobs"][0]["id"] == newer
    # Filters page too, and count what they match.
    everything = await _pages(client, "list_jobs", "jobs", {"kind": "scrape"}, 4)
    assert sum(len(p["jobs"]) for p in everything) == 6 == everything[0]["total"]
    for job_id in [*made, newer]:
        await finished(client, job_id, 60)


async def test_a_bad_cursor_is_refused_and_changes_nothing(client: Client) -> None:
    for cursor in ("not-a-cursor", "eyJ4IjoxfQ", "W10", "WyJqb2JzIiwiYSIsImIiXQ" + "==="):
        body = envelope(await call(client, "list_jobs", {"cursor": cursor}))
        assert body["code"] == "BAD_REQUEST" and "next_cursor" in body["error"], (cursor, body)
    # A cursor of another list is not a cursor of this one.
    ok(await call(client, "create_identity", {"mode": "persistent", "persona": "one"}))
    ok(await call(client, "create_identity", {"mode": "persistent", "persona": "two"}))
    other = ok(await call(client, "list_identities", {"limit": 1}))["next_cursor"]
    assert envelope(await call(client, "list_jobs", {"cursor": other}))["code"] == "BAD_REQUEST"


async def test_list_identities_pages(client: Client) -> None:
    ok(await call(client, "create_identity", {"mode": "persistent", "persona": "three"}))
    pages = await _pages(client, "list_identities", "agents", {}, 2)
    personas = [a["persona"] for p in pages for a in p["agents"]]
    assert personas[:3] == ["three", "two", "one"] and len(personas) == len(set(personas)) == pages[0]["total"]


async def test_webhook_deliveries_page(client: Client, receiver: Receiver) -> None:
    hook = ok(await call(client, "create_webhook", {"url": receiver.url, "events": ["webhook.test"]}))
    receiver.secret = hook["secret"]
    events = [ok(await call(client, "ping_webhook", {"webhook_id": hook["id"]}))["event_id"] for _ in range(3)]
    pages = await _pages(client, "webhook_deliveries", "attempts", {"webhook_id": hook["id"]}, 2)
    assert [len(p["attempts"]) for p in pages] == [2, 1] and pages[0]["total"] == 3
    assert [a["event_id"] for p in pages for a in p["attempts"]] == events[::-1]


async def test_get_job_status_view_is_the_five_fields(client: Client, site: Site) -> None:
    job_id = await _scrape(client, site, 7)
    await finished(client, job_id, 60)
    brief = ok(await call(client, "get_job", {"job_id": job_id, "view": "status", "wait": 0}))
    assert brief == {"id": job_id, "status": "completed", "kind": "scrape", "progress_done": 1, "progress_total": 1}
    full = ok(await call(client, "get_job", {"job_id": job_id, "wait": 0}))
    assert "result" in full and len(str(full)) > len(str(brief))
