"""Clean shutdown: on stdin EOF, SIGINT or SIGTERM the server exits 0 and no Chromium of its own survives it,
even with a page still loading. Its processes are found through /proc (descendants and its private TMPDIR).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from mcp import Client

from tests.support.mcp_server import call, ok, spawn_http, spawn_stdio
from tests.support.pages import STALLED, add_pages
from tests.support.procs import Proc, descendants, processes_naming, wait_gone
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

ENV = {"BROWSA_ALLOW_PRIVATE_NETWORK": "1"}


@pytest.fixture
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        yield site


async def busy_browser(client: Client, pages: Site, pid: int, marker: str) -> list[Proc]:
    """Load one page, leave another loading, and return the server's processes (its Chromium among them)."""
    ok(await call(client, "scrape", {"url": pages.url("/foundation/details.html")}))
    ok(await call(client, "scrape", {"url": pages.url(f"{STALLED}?t=shutdown"), "timeout_seconds": 90, "async": True}))
    await wait_until(lambda: any("t=shutdown" in path for _m, path in pages.requests), "the stalled page requested")
    family = descendants(pid)
    assert [p for p in family if "chrom" in p.cmdline.lower()], family
    # The private TMPDIR is on the browser's command line (`--user-data-dir`), so it also finds processes that get
    # reparented on the way out (not every helper: Chromium may cut a child's retitled command line short).
    assert processes_naming(marker)
    return family


async def all_gone(family: list[Proc], marker: str) -> list[Proc]:
    return await anyio.to_thread.run_sync(wait_gone, family, marker, 15.0)


@pytest.mark.parametrize(
    "how", ["stdin-eof", "sigint", "sigterm"], ids=["stdin-eof", "sigint-stdin-open", "sigterm-stdin-open"]
)
async def test_stdio_server_exits_cleanly_and_leaves_no_chromium(tmp_path: Path, pages: Site, how: str) -> None:
    async with spawn_stdio(tmp_path, **ENV) as server:
        async with server.client() as client:
            family = await busy_browser(client, pages, server.pid, server.marker)
            if how != "stdin-eof":
                server.send_signal(signal.SIGINT if how == "sigint" else signal.SIGTERM)
                code = await server.wait_exit(30)
        if how == "stdin-eof":
            await server.close_stdin()  # the host went away
            code = await server.wait_exit(30)
        assert code == 0, f"exit code {code} after {how}"
        assert await all_gone(family, server.marker) == []


async def test_http_server_exits_cleanly_on_sigterm_and_leaves_no_chromium(tmp_path: Path, pages: Site) -> None:
    with spawn_http(tmp_path, "--no-auth", **ENV) as server:
        async with Client(server.url) as client:
            family = await busy_browser(client, pages, server.proc.pid, server.marker)
        code = await anyio.to_thread.run_sync(server.stop, signal.SIGTERM, 30)
        log = server.log.read_text(errors="replace")
        assert code == 0, log[-2000:]
        assert "Traceback" not in log and "ERROR" not in log, log[-2000:]  # an intended stop is not an error
        assert await all_gone(family, server.marker) == []
