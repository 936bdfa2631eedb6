"""Batch lanes: the URL rows of a batch share one burner, each worker in a tab of its own, like one visitor going
from page to page in a few tabs. A lone worker starts over with a fresh burner after a failed row; tabs a page
opened are closed; every tab holds a burner slot; another batch never shares.

Cookies show which: each page sets one and prints the ones it was sent.
"""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import anyio
import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.engine import lanes
from mcp_browsa.engine.requests import UrlBatchRequest
from mcp_browsa.models import Job
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until

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
    barrier = threading.Barrier(3, timeout=20)

    def together(handler: SimpleHTTPRequestHandler) -> None:
        barrier.wait()  # answered only once three tabs have asked at the same time
        _page(handler)

    with serve_site() as s:
        s.routes["/visit"] = _page
        s.routes["/together"] = together
        s.routes["/opener"] = lambda h: _page(h, "<script>window.open('/visit?n=popup')</script>")
        # A synchronous request: refused before the page's load event, and asked for once (an image is retried).
        s.routes["/leaky"] = lambda h: _page(
            h,
            f"<script>try {{ const x = new XMLHttpRequest(); x.open('GET', '{LEAK}', false); x.send() }}"
            " catch (e) {}</script>",
        )
        yield s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LEAK = f"http://127.0.0.1:{_closed_port()}/private"  # a private address the guard refuses


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


async def _tabs_once_settled(app: Browsa) -> list[int]:
    """Pages per open context, once no spare is half built (a context whose page is not there yet is no leftover)."""
    await wait_until(lambda: not app.pool.building, "no spare context half built")
    return [len(c.pages) for c in (await app.host.browser()).contexts]


async def test_rows_share_a_burner_until_one_fails_or_opens_a_tab_and_batches_never_share(
    tmp_path: Path, site: Site, database_env: dict[str, str]
) -> None:
    settings = load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_ALLOW_PRIVATE_NETWORK": "1", **database_env})
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
        job = await app.batch_urls(Caller(), UrlBatchRequest(urls=urls, formats=["markdown"], concurrency=1))
        job = await app.get_job(Caller(), job.id, wait=120)
        tabs = await _tabs_once_settled(app)
        other = await app.batch_urls(
            Caller(), UrlBatchRequest(urls=[site.url("/visit?n=f")], formats=["markdown"], concurrency=1)
        )
        other = await app.get_job(Caller(), other.id, wait=120)
    assert job.status == "completed" and other.status == "completed"
    *rows, last = _sent(job)
    assert rows == ["none", "visiteda=1", "UPSTREAM_UNAVAILABLE", "none", "visitedc=1"]
    assert "visitedc=1" in last and "visitedd=1" in last
    assert tabs in ([], [1])  # at most the warm spare and its one page: the batch's burner is closed, popup too
    assert _sent(other) == ["none"]


async def test_workers_are_tabs_of_one_burner_and_refusals_reach_their_own_row(
    tmp_path: Path, site: Site, database_env: dict[str, str]
) -> None:
    settings = load_settings(
        {"BROWSA_HOME": str(tmp_path), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}", **database_env}
    )
    urls = [
        site.url("/together?n=a"),
        site.url("/together?n=b"),
        site.url("/together?n=c"),
        f"http://127.0.0.1:{site.port}/missing-host-port".replace(str(site.port), str(_closed_port())),  # refused
        site.url("/leaky?n=d"),  # asks for a private address the guard refuses: reported on this row alone
        site.url("/visit?n=e"),
        site.url("/visit?n=f"),
    ]
    async with Browsa(settings).running() as app:
        job = await app.batch_urls(Caller(), UrlBatchRequest(urls=urls, formats=["markdown"], concurrency=3))
        job = await app.get_job(Caller(), job.id, wait=120)
        tabs = await _tabs_once_settled(app)
        in_use = app.pool.in_use
        gc.collect()
        kept = [o for o in gc.get_objects() if isinstance(o, lanes._Shared)]
    assert job.status == "completed", job
    items = job.items or []
    assert [i.status for i in items] == ["completed"] * 3 + ["failed"] + ["completed"] * 3
    assert items[3].error_code == "BLOCKED"
    # The three first rows ran at once (the server answered none until all three asked), in one context: the
    # last row was sent the cookies all three were given.
    last = _sent(job)[-1]
    assert all(f"visited{n}=1" in last for n in "abc"), last
    refused = {i.index: [b["url"] for b in i.result.get("blocked_requests", [])] for i in items if i.result}
    assert refused == {0: [], 1: [], 2: [], 4: [LEAK], 5: [], 6: []}
    assert tabs in ([], [1]) and in_use == 0
    # Nothing of the batch's burner is kept once it closed: Playwright keeps a closed context's route hook, and a
    # hook that reached the burner kept every page of it (a soak grew by 3 MiB per 100 jobs).
    assert kept == []


async def test_tabs_hold_burner_slots_and_a_burner_retires_after_its_rows(
    tmp_path: Path, site: Site, monkeypatch: pytest.MonkeyPatch, database_env: dict[str, str]
) -> None:
    monkeypatch.setattr(lanes, "MAX_ROWS", 2)
    settings = load_settings(
        {"BROWSA_HOME": str(tmp_path), "BROWSA_ALLOW_PRIVATE_NETWORK": "1", "BROWSA_MAX_BURNERS": "2", **database_env}
    )
    urls = [site.url(f"/visit?n={n}") for n in "abcdefgh"]
    peak = 0
    async with Browsa(settings).running() as app:

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, app.pool.in_use)
                await anyio.sleep(0.005)  # a sampler, not a wait: it looks at the pool until the batch ends

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            job = await app.batch_urls(Caller(), UrlBatchRequest(urls=urls, formats=["markdown"], concurrency=4))
            job = await app.get_job(Caller(), job.id, wait=120)
            tg.cancel_scope.cancel()
        tabs = await _tabs_once_settled(app)
    assert job.status == "completed" and all(i.status == "completed" for i in job.items or [])
    assert peak == 2  # four workers, two slots: two tabs at a time, the other workers wait
    sent = _sent(job)
    # Eight rows, two tabs, two rows a tab: at least three burners in turn, and the first page each loaded was sent
    # no cookie (without the limit there would be one burner, and at most two such rows).
    assert sent.count("none") >= 3, sent
    assert tabs in ([], [1])
