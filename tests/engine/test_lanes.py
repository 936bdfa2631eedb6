"""Batch lanes: the URL rows one worker runs in turn share its burner, like one visitor going from page to page,
and start over with a fresh one after a failed row; tabs a page opened are closed; another batch never shares.

Cookies show which: each page sets one and prints the ones it was sent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.models import Job
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio


def _page(handler: SimpleHTTPRequestHandler, script: str = "") -> None:
    name = handler.path.split("n=", 1)[-1]
    sent = handler.headers.get("Cookie") or "none"
    body = f"<title>{name}</title><p>cookies sent: [{sent}]</p>{script}".encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Set-Cookie", f"visited{name}=1; Path=/")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as s:
        s.routes["/visit"] = _page
        s.routes["/opener"] = lambda h: _page(h, "<script>window.open('/visit?n=popup')</script>")
        yield s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sent(job: Job) -> list[str]:
    """What each row's page says it was sent (or the row's error code)."""
    out = []
    for item in job.items or []:
        if item.status != "completed":
            out.append(str(item.error_code))
        else:
            assert item.result is not None
            out.append(item.result["markdown"].split("cookies sent: [", 1)[1].split("]", 1)[0])
    return out


async def test_rows_share_a_burner_until_one_fails_or_opens_a_tab_and_batches_never_share(
    tmp_path: Path, site: Site
) -> None:
    settings = load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_ALLOW_PRIVATE_NETWORK": "1"})
    refused = f"http://127.0.0.1:{_closed_port()}/"
    urls = [
        site.url("/visit?n=a"),
        site.url("/visit?n=b"),
        refused,  # fails: the next row starts with a fresh burner
        site.url("/visit?n=c"),
        site.url("/opener?n=d"),  # opens a tab, closed before the next row
        site.url("/visit?n=e"),
    ]
    async with Browsa(settings).running() as app:
        job = await app.batch_urls(Caller(), urls, formats=["markdown"], concurrency=1)
        job = await app.get_job(Caller(), job.id, wait=120)
        tabs = [len(c.pages) for c in (await app.host.browser()).contexts]
        other = await app.batch_urls(Caller(), [site.url("/visit?n=f")], formats=["markdown"], concurrency=1)
        other = await app.get_job(Caller(), other.id, wait=120)
    assert job.status == "completed" and other.status == "completed"
    *rows, last = _sent(job)
    assert rows == ["none", "visiteda=1", "UPSTREAM_UNAVAILABLE", "none", "visitedc=1"]
    assert "visitedc=1" in last and "visitedd=1" in last
    assert tabs in ([], [1])  # at most the warm spare and its one page: the batch's burner is closed, popup too
    assert _sent(other) == ["none"]
