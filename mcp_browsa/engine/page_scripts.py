"""Scripts an action runs in the page, beside the Playwright calls that cannot tell it what it needs."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

__all__ = ["COVERED_JS", "SCROLL_JS", "covered"]

# Scrolls the document, or, where the document itself cannot scroll, its largest scrollable box.
SCROLL_JS = """(screens) => {
  let box = document.scrollingElement || document.documentElement;
  if (box.scrollHeight <= box.clientHeight + 1) {
    let best = 0;
    for (const el of document.querySelectorAll('body *')) {
      const oy = getComputedStyle(el).overflowY;
      if ((oy === 'auto' || oy === 'scroll') && el.scrollHeight > el.clientHeight + 1) {
        const area = el.clientWidth * el.clientHeight;
        if (area > best) { best = area; box = el; }
      }
    }
  }
  const view = box === document.scrollingElement ? window.innerHeight : box.clientHeight;
  const before = box.scrollTop;
  box.scrollBy({ top: screens * view, behavior: 'instant' });
  return [before, box.scrollTop, box.scrollHeight, view];
}"""


COVERED_JS = """el => {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height) return false;
  const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return top !== null && top !== el && !el.contains(top);
}"""


async def covered(loc: Locator, timeout_ms: float) -> bool:
    """Whether another element sits on top of this one's centre (an overlay, a cookie banner)."""
    try:
        return bool(await loc.evaluate(COVERED_JS, timeout=timeout_ms))
    except PlaywrightError:
        return False
