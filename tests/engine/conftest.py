"""The engine tests' tabs: a fresh context with tab tracking per test, in the module's shared browser (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from mcp_browsa.engine.tabs import Tabs


@pytest.fixture
async def tabs(browser: Browser) -> AsyncIterator[Tabs]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    tracked = await Tabs.create(context)
    yield tracked
    tracked.close()
    await context.close()
