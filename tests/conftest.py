"""Shared fixtures: a real browser on disk, local sites, and the asyncio backend for anyio tests.

The suite runs on pytest-xdist workers (`-n auto --dist loadfile` in pyproject.toml): a file's tests stay on one
worker, so its module-scoped servers and browsers start once. Each worker has its own temp dirs and free ports.
Files are handed out longest first (`LONGEST_FIRST`), so no long file starts last and runs alone at the end.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.browser.install import install_browser
from mcp_browsa.config import load_settings
from tests.support.mcp_server import short_home
from tests.support.postgres import ensure_postgresql
from tests.support.sites import Site, respond, serve_site

# `database`, `database_env`: a test that asks for them runs once on SQLite and once on PostgreSQL.
pytest_plugins = ["tests.support.databases"]

# The files that took longest in a whole run (junit times, two workers), longest first. xdist hands files out in
# collection order (`--no-loadscope-reorder`); its own order, by number of tests, put these few-test files last,
# where each ran alone for minutes after the other worker had run out of work. A file missing here only costs time.
LONGEST_FIRST = (
    "tests/scale/test_cluster.py",
    "tests/test_cli.py",
    "tests/safety/test_guard_over_mcp.py",
    "tests/reliability/test_fuzz.py",
    "tests/reliability/test_load.py",
    "tests/test_http_auth.py",
    "tests/webhooks/test_webhook_tools.py",
    "tests/reliability/test_crash.py",
    "tests/agent/test_sampling.py",
    "tests/reliability/test_soak.py",
    "tests/test_idempotency.py",
    "tests/sessions/test_sessions_over_http.py",
    "tests/test_mcp_stdio.py",
    "tests/live/test_http_transport.py",
    "tests/reliability/test_browser_crash.py",
    "tests/reliability/test_disk.py",
)

MAX_WORKERS = 4  # each worker starts servers with Chromiums of their own: more would trade memory for little time


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: PYTEST_XDIST_AUTO_NUM_WORKERS if set, else one worker per core, two to four. Two even on one
    core: much of a test is spent waiting on a browser or a server subprocess, which a second worker overlaps."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "")
    if chosen.isdigit():
        return int(chosen)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(2, min(MAX_WORKERS, cores))


def pytest_configure(config: pytest.Config) -> None:
    # Install the browser and PostgreSQL once in the controlling process, before workers start and would race.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        install_browser()
        ensure_postgresql()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long files of LONGEST_FIRST first, then the rest by number of tests, most first (xdist's own order)."""
    sizes: dict[str, int] = {}
    for item in items:
        sizes[item.nodeid.split("::", 1)[0]] = sizes.get(item.nodeid.split("::", 1)[0], 0) + 1
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        return (rank.get(path, len(rank)), -sizes[path])

    items.sort(key=key)  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Playwright's async API runs on asyncio only.
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def chromium() -> FoundBrowser:
    """A Chromium on this machine, installed on first use exactly as `mcp-browsa install-browser` would."""
    found, _log = install_browser(chromium=load_settings().chromium)
    return found


@pytest.fixture(scope="module")
async def browser(chromium: FoundBrowser) -> AsyncIterator[Browser]:
    """One Chromium for a module's tests, launched as the product launches it; a module may launch its own."""
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium.executable, args=chromium_args(), headless=True)
        yield launched
        await launched.close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as s:
        yield s


@pytest.fixture(scope="module")
def tiny_site() -> Iterator[Site]:
    """A site with one small page, /tiny, for tests that need many cheap page loads."""
    with serve_site() as s:
        s.routes["/tiny"] = lambda req: respond(req, b"<h1>tiny</h1>", "text/html")
        yield s


@pytest.fixture
def home() -> Iterator[Path]:
    """A data dir for a spawned server; short, since Chromium's socket path under it must stay under 108 bytes."""
    with short_home() as path:
        yield path
