"""Fixtures for the reliability tests: one local site with the test pages and the hostile ones, per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.pages import add_reliability_pages
from tests.support.pages import add_pages
from tests.support.sites import Site, serve_site


@pytest.fixture(scope="module")
def pages() -> Iterator[Site]:
    with serve_site() as site:
        add_pages(site)
        add_reliability_pages(site)
        yield site
