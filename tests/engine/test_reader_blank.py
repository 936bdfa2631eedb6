"""Markdown made in the page: blank wrappers go however deep they nest, and words around blank parts stay apart."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from mcp_browsa.engine.reader import read_markdown

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html><title>Blank parts</title><body>
<p>First <span> </span><em>words</em><span>
</span>stay apart.</p>
<div><div><div> <span>  </span> </div></div></div>
<p>Before the <b> </b>break<br>after it.</p>
<table><tr><th>Key</th><th>Value</th></tr><tr><td>empty</td><td> </td></tr></table>
<p><a href="https://example.com/x"> </a>A link with no text is kept as a link.</p>
<div>  <p>Deep</p>  </div>
</body>"""


async def test_blank_wrappers_go_words_stay_apart_and_blank_cells_keep_their_column(browser: Browser) -> None:
    page = await browser.new_page()
    try:
        await page.set_content(PAGE)
        md = (await read_markdown(page, cap=10_000, main=False))["markdown"]
    finally:
        await page.close()
    assert md == (
        "# Blank parts\n\nFirst *words* stay apart.\n\nBefore the break\nafter it.\n\n"
        "| Key | Value |\n| --- | --- |\n| empty |  |\n\nA link with no text is kept as a link.\n\nDeep"
    )
