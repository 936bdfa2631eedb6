"""The URL guard end to end: a real MCP client over stdio calls scrape against pages that try to reach private hosts.

Each runs twice: on the server's own Chromium, and on a remote Playwright server whose contexts reach the egress proxy
on a shared address with credentials of their own. Only the `public` and `cdn` servers are exempted; `private` (127.0.0.1, another port) and `private_other`
(127.0.0.2, another port) must end every test with an empty request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from mcp import Client

from tests.safety.conftest import Stack
from tests.support.guard_pages import AUTOPOST, JS_REDIRECT, LEAVING_LOGIN, META_REDIRECT, REDIRECT
from tests.support.mcp_server import call, envelope, finished, ok
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

PROBE = "/guard/probe.html"
ARTICLE = "/foundation/article.html"


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest) -> Client:
    """Each test runs on a browser of the server's own, then on a remote Playwright server (BROWSA_BROWSER_WS)."""
    running: Stack = request.getfixturevalue("stack" if request.param == "local" else "remote_stack")
    return running.client


@pytest.fixture(autouse=True)
def untouched(private: Site, private_other: Site) -> Iterator[None]:
    """Every test ends with the private servers having seen nothing at all."""
    private.requests.clear()
    private_other.requests.clear()
    yield
    assert private.requests == [], private.requests
    assert private_other.requests == [], private_other.requests


async def scrape(client: Client, url: str, **args: Any) -> Any:
    return await call(client, "scrape", {"url": url, "formats": ["text"], "timeout_seconds": 15, **args})


def blocked(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["result"].get("blocked_requests", []))


def via(public: Site, page: str, target: str) -> str:
    return public.url(f"{page}?to={quote(target, safe='')}")


async def test_a_redirect_to_the_cloud_metadata_address_fails_blocked_naming_the_rule(
    client: Client, public: Site
) -> None:
    err = envelope(await scrape(client, via(public, REDIRECT, "http://169.254.169.254/latest/meta-data/")))
    assert err["code"] == "FORBIDDEN"
    assert err["job_error_code"] == "BLOCKED"
    assert "ssrf:link-local" in err["error"]


async def test_a_redirect_to_a_private_address_fails_blocked(client: Client, public: Site, private: Site) -> None:
    for target in (private.url("/secret"), f"http://127.0.0.2:{private.port}/secret"):
        err = envelope(await scrape(client, via(public, REDIRECT, target)))
        assert err["code"] == "FORBIDDEN", err
        assert "ssrf:loopback" in err["error"]


@pytest.mark.parametrize("page", [JS_REDIRECT, META_REDIRECT])
async def test_a_script_or_meta_redirect_after_load_fails_blocked(
    client: Client, public: Site, private: Site, page: str
) -> None:
    # networkidle: the read waits until the page's own navigation attempt has been made (and refused).
    err = envelope(await scrape(client, via(public, page, private.url("/secret")), wait_until="networkidle"))
    assert err["code"] == "FORBIDDEN", err
    assert "ssrf:loopback" in err["error"]


async def test_subresources_and_iframes_to_a_private_host_are_blocked_while_the_page_loads(
    client: Client, public: Site, private: Site
) -> None:
    base = f"http://127.0.0.1:{private.port}"
    url = public.url(f"{PROBE}?base={quote(base, safe='')}&ws={quote(f'ws://127.0.0.1:{private.port}/ws', safe='')}")
    job = ok(await scrape(client, url))
    assert job["status"] == "completed"
    assert "guarded page" in job["result"]["text"]
    refused = blocked(job)
    assert refused and all(b["rule"] == "ssrf:loopback" for b in refused), refused
    assert any("frame.html" in b["url"] or b["url"].endswith(f":{private.port}") for b in refused)


async def test_a_name_resolving_to_loopback_is_blocked(client: Client, private: Site) -> None:
    err = envelope(await scrape(client, f"http://localhost:{private.port}/"))
    assert err["code"] == "FORBIDDEN"
    assert "ssrf:loopback" in err["error"] and "localhost" in err["error"]


@pytest.mark.parametrize(
    "spelling", ["http://2130706433:{port}/", "http://0x7f.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/"]
)
async def test_other_spellings_of_a_loopback_address_are_blocked(
    client: Client, public: Site, private: Site, spelling: str
) -> None:
    url = spelling.format(port=private.port)
    err = envelope(await scrape(client, url))
    assert err["code"] == "FORBIDDEN"
    assert "ssrf:" in err["error"]
    # The same spelling reached through a redirect hop, where no up-front check can help.
    err = envelope(await scrape(client, via(public, REDIRECT, url)))
    assert err["code"] == "FORBIDDEN", err
    assert "ssrf:" in err["error"]


async def test_allowed_domains_denies_every_other_host_once_given(client: Client, public: Site, cdn: Site) -> None:
    err = envelope(await scrape(client, public.url(ARTICLE), allowed_domains=["example.com"]))
    assert err["code"] == "FORBIDDEN" and "allowed_domains" in err["error"]
    # A subresource host that is public but not listed is refused too (its WebSocket as well, for that reason before
    # any other); the page itself still loads.
    socket = f"ws://{cdn.host}:{cdn.port}/"
    url = public.url(f"{PROBE}?base={quote(cdn.base, safe='')}&ws={quote(socket, safe='')}")
    cdn.requests.clear()
    job = ok(await scrape(client, url, allowed_domains=["127.0.0.1"]))
    assert job["status"] == "completed"
    assert blocked(job) and all(b["rule"] == "allowed_domains" for b in blocked(job))
    assert socket in {b["url"] for b in blocked(job)}
    assert cdn.requests == []
    # ["*"] allows any host again.
    job = ok(await scrape(client, url, allowed_domains=["*"]))
    assert not [b for b in blocked(job) if b["rule"] == "allowed_domains"]
    assert cdn.requests


async def test_allowed_domains_holds_for_extract_and_screenshot(client: Client, public: Site, cdn: Site) -> None:
    cdn.requests.clear()
    denied = cdn.url(ARTICLE)
    for tool, args in (("extract", {"prompt": "What is the title?"}), ("screenshot", {})):
        only_public = {**args, "allowed_domains": ["127.0.0.1"]}
        # Named outright, the host is refused before any browser starts.
        err = envelope(await call(client, tool, {"url": denied, **only_public}))
        assert err["code"] == "FORBIDDEN" and "allowed_domains" in err["error"], (tool, err)
        # Reached through a redirect from an allowed page, the guard stops it while loading.
        err = envelope(await call(client, tool, {"url": via(public, REDIRECT, denied), **only_public}))
        assert err["code"] == "FORBIDDEN" and err["job_error_code"] == "BLOCKED", (tool, err)
        assert "allowed_domains" in err["error"]
        result = await call(client, tool, {"url": public.url(ARTICLE), **only_public})
        if tool == "extract" and result.is_error:
            # With a server key, extract hands the page to the model; this fake vendor does not answer its
            # tool, which is a model failure after the page was read, not a guard refusal.
            err = envelope(result)
            assert err.get("job_error_code") == "LLM_ERROR", (tool, err)
        else:
            assert ok(result)["status"] == "completed", (tool, result)
    assert cdn.requests == []


async def test_a_batch_row_outside_allowed_domains_fails_blocked_and_the_batch_goes_on(
    client: Client, public: Site, cdn: Site
) -> None:
    cdn.requests.clear()
    urls = [public.url(ARTICLE), cdn.url(ARTICLE), via(public, REDIRECT, cdn.url(ARTICLE)), public.url(ARTICLE)]
    args = {"urls": urls, "formats": ["text"], "allowed_domains": ["127.0.0.1"], "concurrency": 2}
    job = await finished(client, ok(await call(client, "batch", args))["id"])
    assert job["status"] == "completed", job
    assert job["result"] == {"total": 4, "completed": 2, "failed": 2}
    rows = sorted(job["items"], key=lambda row: row["index"])
    assert [(row["status"], row.get("error_code")) for row in rows] == [
        ("completed", None),
        ("failed", "BLOCKED"),
        ("failed", "BLOCKED"),
        ("completed", None),
    ]
    assert all("allowed_domains" in row["error_message"] for row in rows[1:3])
    assert cdn.requests == []


async def test_allowed_domains_wildcards_match_the_domain_and_its_subdomains_only(client: Client, public: Site) -> None:
    url = f"http://localhost:{public.port}/foundation/article.html"
    job = ok(await scrape(client, url, allowed_domains=["*.localhost"]))
    assert job["status"] == "completed"
    err = envelope(await scrape(client, url, allowed_domains=["*.example.com"]))
    assert err["code"] == "FORBIDDEN" and "allowed_domains" in err["error"]
    err = envelope(await scrape(client, url, allowed_domains=["*.host"]))  # a suffix, not a domain boundary
    assert err["code"] == "FORBIDDEN"


async def test_one_call_tools_never_post(client: Client, public: Site) -> None:
    public.requests.clear()
    job = ok(await scrape(client, public.url(AUTOPOST), wait_until="networkidle"))
    assert job["status"] == "completed"  # a refused fetch POST leaves the page readable
    writes = [b["reason"] for b in blocked(job) if b["rule"] == "writes"]
    assert any(r.startswith("POST ") for r in writes) and any(r.startswith("OPTIONS with a body") for r in writes)
    # A bodyless OPTIONS, as a CORS preflight is, changes nothing and goes through.
    assert ("OPTIONS", AUTOPOST + "?options=none") in public.requests
    assert ("OPTIONS", AUTOPOST + "?options=body") not in public.requests
    # A form the page submits by itself, right as the loaded page is read, is a navigation the guard refuses. When
    # the refusal lands while the page is read, the job says BLOCKED (the read failing under it was an internal
    # error); when the read got there first, the page as loaded is the answer. Nothing is ever posted.
    for _ in range(3):
        result = await scrape(client, public.url(AUTOPOST + "?form=1"))
        if result.is_error:
            err = envelope(result)
            assert err["code"] == "FORBIDDEN" and err["job_error_code"] == "BLOCKED" and "writes" in err["error"], err
        else:
            assert ok(result)["result"]["text"] == "posting"
    assert [r for r in public.requests if r[0] == "POST"] == []


async def test_a_login_page_that_sends_itself_elsewhere_ends_blocked_whatever_step_it_interrupts(
    client: Client, public: Site, cdn: Site
) -> None:
    cdn.requests.clear()
    for _ in range(3):
        result = await call(client, "login", {"service": "site", "url": via(public, LEAVING_LOGIN, cdn.url("/"))})
        err = envelope(result)
        assert err["code"] == "FORBIDDEN" and err["job_error_code"] == "BLOCKED", err
        assert "allowed_domains" in err["error"] and cdn.base in err["error"]
    assert cdn.requests == []
