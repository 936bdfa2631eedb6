"""Fixtures for live-view tests: the agent tests' shop site, fake vendor and Browsa, plus a second, separate
Chromium playing the person who opens the live_url."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from mcp_browsa.browser.discovery import FoundBrowser
from tests.agent.conftest import app, claude, fake, shop, vendor

__all__ = ["app", "claude", "fake", "person", "shop", "vendor", "viewer_browser"]


@pytest.fixture(scope="module")
async def viewer_browser(chromium: FoundBrowser) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium.executable)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def person(viewer_browser: Browser) -> AsyncIterator[Page]:
    """A tab in the person's own browser (no proxy, no guard: the live view is opened like any local page)."""
    context = await viewer_browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield await context.new_page()
    finally:
        await context.close()
