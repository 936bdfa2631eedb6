"""Fixtures for the reliability tests, per module: one local site with the test pages and the hostile ones, and a
fake model vendor that finishes every task at once (keyed by KEY)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.pages import add_reliability_pages
from tests.reliability.scenarios import always_done
from tests.support.fake_llm import FakeLLM
from tests.support.pages import add_pages
from tests.support.sites import Site, serve_site

KEY = "sk-ant-reliability-test-key"


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeLLM]:
    with FakeLLM(always_done, valid_keys={KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        add_reliability_pages(site)
        yield site
