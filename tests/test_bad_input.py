"""Bad input over MCP: each mistake gets the error envelope with a message that says what to fix, nothing is
half-written, and the server keeps serving. Runtime failures (unreachable host, a page that never loads) too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.mcp_server import call, envelope, free_port, ok, stdio_client
from tests.support.pages import STALLED, add_pages
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

GOOD = "http://127.0.0.1:9/placeholder"  # replaced by a real page URL for the argument tests
UNKNOWN_JOB = str(uuid.UUID(int=12345))
HUGE_SCHEMA = {
    "type": "object",
    "properties": {f"field_{i}": {"type": "string", "description": "x" * 90} for i in range(2000)},
}

# (tool, arguments, expected code, words the message must contain to say what to fix)
ARGUMENT_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("scrape", {"url": "not a url"}, "BAD_REQUEST", "is relative; give an absolute URL"),
    ("scrape", {"url": "/docs/page"}, "BAD_REQUEST", "is relative"),
    ("scrape", {"url": ""}, "BAD_REQUEST", "url is empty"),
    ("scrape", {"url": "http://"}, "BAD_REQUEST", "has no host name"),
    ("scrape", {"url": "file:///etc/passwd"}, "BAD_REQUEST", "file: scheme; only http and https"),
    ("scrape", {"url": "javascript:alert(1)"}, "BAD_REQUEST", "javascript: scheme"),
    ("scrape", {"url": "chrome://settings"}, "BAD_REQUEST", "chrome: scheme"),
    ("scrape", {"url": "data:text/html,<h1>hi</h1>"}, "BAD_REQUEST", "data: scheme"),
    ("scrape", {"url": "ftp://example.com/file"}, "BAD_REQUEST", "ftp: scheme"),
    ("scrape", {"url": "http://exa\nmple.com/"}, "BAD_REQUEST", "control characters"),
    ("scrape", {"url": "http://example.com:99999/"}, "BAD_REQUEST", "not a valid URL"),
    ("scrape", {"url": "http://example.com/" + "a" * 5000}, "BAD_REQUEST", "url: String should have at most 4096"),
    ("scrape", {}, "BAD_REQUEST", "url: Field required"),
    ("scrape", {"url": GOOD, "formats": ["pdf"]}, "BAD_REQUEST", "formats.0: Input should be 'html'"),
    ("scrape", {"url": GOOD, "formats": []}, "BAD_REQUEST", "formats: List should have at least 1 item"),
    ("scrape", {"url": GOOD, "formats": "markdown"}, "BAD_REQUEST", "formats: Input should be a valid list"),
    (
        "scrape",
        {"url": GOOD, "max_chars": 10},
        "BAD_REQUEST",
        "max_chars: Input should be greater than or equal to 100",
    ),
    ("scrape", {"url": GOOD, "max_chars": 10**9}, "BAD_REQUEST", "max_chars: Input should be less than or equal"),
    ("scrape", {"url": GOOD, "max_chars": "lots"}, "BAD_REQUEST", "max_chars: Input should be a valid integer"),
    ("scrape", {"url": GOOD, "timeout_seconds": 0}, "BAD_REQUEST", "timeout_seconds: Input should be greater"),
    ("scrape", {"url": GOOD, "timeout_seconds": 1e6}, "BAD_REQUEST", "timeout_seconds: Input should be less"),
    ("scrape", {"url": GOOD, "wait_until": "whenever"}, "BAD_REQUEST", "wait_until: Input should be 'load'"),
    ("scrape", {"url": GOOD, "async": "maybe"}, "BAD_REQUEST", "async: Input should be a valid boolean"),
    ("extract", {"url": GOOD}, "BAD_REQUEST", "give exactly one of `schema`"),
    ("extract", {"url": GOOD, "schema": {"type": "object"}, "prompt": "prices"}, "BAD_REQUEST", "exactly one"),
    ("extract", {"url": GOOD, "schema": {"type": 12}}, "BAD_REQUEST", "schema is not a valid JSON Schema"),
    ("extract", {"url": GOOD, "prompt": "p" * 5000}, "BAD_REQUEST", "prompt: String should have at most 4000"),
    ("extract", {"url": GOOD, "schema": HUGE_SCHEMA}, "BAD_REQUEST", "the limit is 100,000"),
    ("extract", {"url": "javascript:void(0)", "prompt": "x"}, "BAD_REQUEST", "javascript: scheme"),
    ("screenshot", {"url": "file:///etc/hosts"}, "BAD_REQUEST", "file: scheme"),
    (
        "screenshot",
        {"url": GOOD, "full_page": "sometimes"},
        "BAD_REQUEST",
        "full_page: Input should be a valid boolean",
    ),
    ("batch", {"urls": []}, "BAD_REQUEST", "urls: List should have at least 1 item"),
    ("batch", {"urls": "http://example.com/"}, "BAD_REQUEST", "urls: Input should be a valid list"),
    ("batch", {"urls": [GOOD, "file:///etc/passwd"]}, "BAD_REQUEST", "urls[1] uses the file: scheme"),
    ("batch", {"urls": [GOOD] * 1001}, "BAD_REQUEST", "urls: List should have at most 1000 items"),
    ("batch", {"urls": [GOOD], "formats": ["pdf"]}, "BAD_REQUEST", "formats.0: Input should be"),
    ("batch", {"urls": [GOOD], "concurrency": 0}, "BAD_REQUEST", "concurrency: Input should be greater"),
    ("get_job", {"job_id": "nope"}, "BAD_REQUEST", "is not a job id; job ids are UUIDs"),
    ("get_job", {"job_id": "' OR 1=1 --"}, "BAD_REQUEST", "is not a job id"),
    ("get_job", {"job_id": ""}, "BAD_REQUEST", "job_id: String should have at least 1 character"),
    ("get_job", {"job_id": "f" * 5000}, "BAD_REQUEST", "job_id: String should have at most 100"),
    ("get_job", {}, "BAD_REQUEST", "job_id: Field required"),
    ("get_job", {"job_id": UNKNOWN_JOB}, "NOT_FOUND", "list_jobs shows the jobs you can see"),
    ("get_job", {"job_id": UNKNOWN_JOB, "wait": -1}, "BAD_REQUEST", "wait: Input should be greater than or equal to 0"),
    ("get_job", {"job_id": UNKNOWN_JOB, "wait": 121}, "BAD_REQUEST", "wait: Input should be less than or equal to 120"),
    ("cancel_job", {"job_id": "nope"}, "BAD_REQUEST", "is not a job id"),
    ("cancel_job", {"job_id": UNKNOWN_JOB}, "NOT_FOUND", "list_jobs"),
    ("list_jobs", {"status": "done"}, "BAD_REQUEST", "status: Input should be 'queued'"),
    ("list_jobs", {"kind": "spider"}, "BAD_REQUEST", "kind: Input should be 'task'"),
    ("list_jobs", {"limit": 0}, "BAD_REQUEST", "limit: Input should be greater than or equal to 1"),
    ("list_jobs", {"limit": 201}, "BAD_REQUEST", "limit: Input should be less than or equal to 200"),
    ("credits", {"ledger_rows": -1}, "BAD_REQUEST", "ledger_rows: Input should be greater than or equal to 0"),
    ("spider", {"url": GOOD}, "NOT_FOUND", "call tools/list to see the tools"),
    (
        "crawl",
        {"url": GOOD, "max_pages": 10_001},
        "BAD_REQUEST",
        "max_pages: Input should be less than or equal to 10000",
    ),
    ("crawl", {"url": GOOD, "formats": ["pdf"]}, "BAD_REQUEST", "formats.0: Input should be"),
    ("map", {"url": GOOD, "limit": 0}, "BAD_REQUEST", "limit: Input should be greater than or equal to 1"),
]


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        yield site


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory, pages: Site) -> AsyncIterator[Client]:
    home: Path = tmp_path_factory.mktemp("bad-input-home")
    # A short default navigation timeout so the tools without a timeout argument meet a stalled page quickly.
    async with stdio_client(home, BROWSA_ALLOW_PRIVATE_NETWORK="1", BROWSA_NAV_TIMEOUT_MS="3000") as c:
        yield c


def _with_page(value: Any, page: str) -> Any:
    if value == GOOD:
        return page
    if isinstance(value, list):
        return [_with_page(v, page) for v in value]
    if isinstance(value, dict):
        return {k: _with_page(v, page) for k, v in value.items()}
    return value


async def _state(client: Client) -> tuple[list[str], int]:
    jobs = ok(await call(client, "list_jobs", {"limit": 200}))["jobs"]
    return [j["id"] for j in jobs], ok(await call(client, "credits"))["balance"]


@pytest.mark.parametrize(
    ("tool", "arguments", "code", "hint"),
    ARGUMENT_CASES,
    ids=[f"{tool}-{i}" for i, (tool, *_rest) in enumerate(ARGUMENT_CASES)],
)
async def test_bad_arguments_get_an_envelope_saying_what_to_fix(
    client: Client, pages: Site, tool: str, arguments: dict[str, Any], code: str, hint: str
) -> None:
    before = await _state(client)
    body = envelope(await call(client, tool, _with_page(arguments, pages.url("/foundation/details.html"))))
    assert body["code"] == code
    assert hint in body["error"]
    assert body["request_id"].startswith("req_")
    assert await _state(client) == before  # no job, no charge: nothing half-written


async def test_each_error_has_its_own_request_id(client: Client) -> None:
    ids = {envelope(await call(client, "get_job", {"job_id": "nope"}))["request_id"] for _ in range(3)}
    assert len(ids) == 3


async def test_an_unreachable_host_is_an_upstream_error_naming_the_url(client: Client) -> None:
    url = f"http://127.0.0.1:{free_port()}/gone"
    body = envelope(await call(client, "scrape", {"url": url}))
    assert body["code"] == "UPSTREAM_UNAVAILABLE"
    assert body["error"].startswith(url)
    assert re.search("refused|cannot connect", body["error"])
    assert "check the URL and that the site is up" in body["error"] or "is it up?" in body["error"]
    job = ok(await call(client, "get_job", {"job_id": body["job_id"], "wait": 0}))
    assert job["status"] == "failed"
    assert job["error_code"] == body["job_error_code"] == "UPSTREAM_UNAVAILABLE"


async def test_an_unreachable_host_is_not_reported_as_blocked_by_the_url_guard(client: Client) -> None:
    for url in (f"http://127.0.0.1:{free_port()}/", f"https://127.0.0.1:{free_port()}/"):
        body = envelope(await call(client, "scrape", {"url": url}))
        assert body["job_error_code"] == "UPSTREAM_UNAVAILABLE", body
        assert "blocked" not in body["error"]


async def test_a_host_name_that_does_not_resolve_says_so(client: Client) -> None:
    body = envelope(await call(client, "scrape", {"url": "http://no-such-host.invalid/page"}))
    assert body["code"] == "UPSTREAM_UNAVAILABLE"
    assert re.search("resolve", body["error"])


async def test_a_port_browsers_refuse_says_so(client: Client) -> None:
    body = envelope(await call(client, "screenshot", {"url": "http://127.0.0.1:6000/"}))
    assert body["code"] == "UPSTREAM_UNAVAILABLE"
    assert "browsers refuse this port" in body["error"]


async def test_extract_of_an_unreachable_host_is_an_error_envelope(client: Client) -> None:
    body = envelope(await call(client, "extract", {"url": f"http://127.0.0.1:{free_port()}/", "prompt": "anything"}))
    assert body["code"] == "UPSTREAM_UNAVAILABLE"
    assert body["job_error_code"] == "UPSTREAM_UNAVAILABLE"


async def test_a_page_that_never_finishes_loading_times_out_with_advice(client: Client, pages: Site) -> None:
    body = envelope(await call(client, "scrape", {"url": pages.url(f"{STALLED}?t=1"), "timeout_seconds": 2}))
    assert body["code"] == "UPSTREAM_UNAVAILABLE"
    assert body["job_error_code"] == "TIMEOUT"
    assert "did not finish loading in time" in body["error"]
    assert "wait_until='domcontentloaded'" in body["error"]


@pytest.mark.parametrize("tool", ["screenshot", "extract"])
async def test_tools_without_a_timeout_argument_time_out_too(client: Client, pages: Site, tool: str) -> None:
    arguments = {"url": pages.url(f"{STALLED}?tool={tool}")} | ({"prompt": "the title"} if tool == "extract" else {})
    body = envelope(await call(client, tool, arguments))
    assert body["job_error_code"] == "TIMEOUT"


async def test_the_server_keeps_serving_after_all_of_that(client: Client, pages: Site) -> None:
    job = ok(await call(client, "scrape", {"url": pages.url("/foundation/details.html")}))
    assert job["status"] == "completed"
    snap = ok(await call(client, "capacity"))
    assert snap["running"] == snap["queued"] == 0
    failed = ok(await call(client, "list_jobs", {"status": "failed", "limit": 200}))["jobs"]
    assert {j["error_code"] for j in failed} == {"UPSTREAM_UNAVAILABLE", "TIMEOUT"}
