"""Markdown conversion: big pages go to a worker process and come back the same as a thread would make them."""

from __future__ import annotations

import pytest

from mcp_browsa.engine.markdown import PROCESS_MIN_CHARS, convert, to_markdown

pytestmark = pytest.mark.anyio


def _page(items: int) -> str:
    return "".join(
        f'<div><h3>Item {i}</h3><p>Some <b>bold</b> text and <a href="https://example.org/{i}">link {i}</a>.</p></div>'
        for i in range(items)
    )


async def test_a_big_page_converts_in_a_worker_to_the_same_markdown() -> None:
    html = _page(2000)
    assert len(html) > PROCESS_MIN_CHARS  # the worker-process path
    md = await convert(html)
    assert md == to_markdown(html)
    assert md.startswith("### Item 0\n\nSome **bold** text and [link 0](https://example.org/0).")
    assert "### Item 1999" in md and "<div>" not in md


async def test_a_small_page_converts_too() -> None:
    html = _page(3)
    assert len(html) < PROCESS_MIN_CHARS
    assert await convert(html) == to_markdown(html)
    assert "[link 2](https://example.org/2)" in await convert(html)
