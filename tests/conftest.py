"""Shared fixtures: a real browser on disk, local sites, and the asyncio backend for anyio tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_browsa.browser.discovery import FoundBrowser
from mcp_browsa.browser.install import install_browser
from tests.support.mcp_server import short_home
from tests.support.sites import Site, respond, serve_site

# `database`, `database_env`: a test that asks for them runs once on SQLite and once on PostgreSQL.
pytest_plugins = ["tests.support.databases"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Playwright's async API runs on asyncio only.
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def chromium() -> FoundBrowser:
    """A Chromium on this machine, installed on first use exactly as `mcp-browsa install-browser` would."""
    found, _log = install_browser()
    return found


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
