"""Shared fixtures: a real browser on disk, local sites, and the asyncio backend for anyio tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A data dir with a short path: Chromium's singleton socket under the server's TMPDIR (inside it) must stay
    under 108 bytes, which pytest's tmp_path names can exceed."""
    path = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
