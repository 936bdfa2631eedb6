"""The engine tests' own browser: one Chromium per test module, and a fresh context with tab tracking per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.engine.tabs import Tabs


@pytest.fixture(scope="module")
async def browser(chromium: FoundBrowser) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium.executable, args=chromium_args(), headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def tabs(browser: Browser) -> AsyncIterator[Tabs]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    tracked = await Tabs.create(context)
    yield tracked
    tracked.close()
    await context.close()
