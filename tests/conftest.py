"""Shared fixtures: a real browser on disk, local sites, and the asyncio backend for anyio tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_browsa.browser.discovery import FoundBrowser
from mcp_browsa.browser.install import install_browser
from tests.support.sites import Site, serve_site


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
