"""Screenshots of job pages, and the secrets kept out of their pixels: text and values holding one are dotted out.

A field filled from the vault already draws as dots (engine/actions.py), but a page can echo what was typed
anywhere ("Signed in as ada@…", a review step, a field's title). Masks cannot reach pixels after the fact, so
before a capture every text node, attribute and field value holding a secret (in any spelling `mask_variants`
gives) shows MASK instead, in every frame and open shadow root, and is put back right after: the page goes on
as it was, and what it sends is untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import JSHandle, Page

from mcp_browsa.engine.observation import MASK

__all__ = ["SecretsNotHidden", "capture", "secrets_hidden"]

_FRAME_TIMEOUT = 3.0  # seconds for one frame to answer; one that does not cannot be shown

# Returns what it changed, as [node, kind, attribute name, old value] rows, for _RESTORE_JS.
_HIDE_JS = """([values, mask]) => {
  const hit = (s) => !!s && values.some((v) => s.includes(v));
  const hide = (s) => values.reduce((out, v) => out.split(v).join(mask), s);
  const changed = [];
  const visit = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let n = walker.currentNode; n; n = walker.nextNode()) {
      if (n.nodeType === Node.TEXT_NODE) {
        if (hit(n.nodeValue)) { changed.push([n, 'text', '', n.nodeValue]); n.nodeValue = hide(n.nodeValue); }
        continue;
      }
      if (n.nodeType !== Node.ELEMENT_NODE) continue;
      for (const a of Array.from(n.attributes)) {
        if (hit(a.value)) { changed.push([n, 'attr', a.name, a.value]); n.setAttribute(a.name, hide(a.value)); }
      }
      if ((n instanceof HTMLInputElement || n instanceof HTMLTextAreaElement) && hit(n.value)) {
        changed.push([n, 'value', '', n.value]);
        n.value = hide(n.value);
      }
      if (n.shadowRoot) visit(n.shadowRoot);
    }
  };
  visit(document);
  return changed;
}"""

_RESTORE_JS = """(changed) => {
  for (const [n, kind, name, old] of changed.reverse()) {
    if (kind === 'text') n.nodeValue = old;
    else if (kind === 'attr') n.setAttribute(name, old);
    else n.value = old;
  }
}"""


class SecretsNotHidden(RuntimeError):
    """A frame of the page did not answer the masking script, so a capture could show a secret: none is taken."""


@asynccontextmanager
async def secrets_hidden(page: Page, mask_values: Collection[str]) -> AsyncIterator[None]:
    """Within the block, what on the page holds one of `mask_values` shows MASK instead; afterwards it is put back.

    Raises SecretsNotHidden when a frame still attached does not let itself be masked.
    """
    values = sorted({v for v in mask_values if v}, key=len, reverse=True)  # longest first: a variant inside another
    changed: list[JSHandle] = []
    try:
        if values:
            for frame in page.frames:
                if frame.is_detached():
                    continue
                try:
                    with anyio.fail_after(_FRAME_TIMEOUT):
                        changed.append(await frame.evaluate_handle(_HIDE_JS, [values, MASK]))
                except (PlaywrightError, TimeoutError) as exc:
                    if not frame.is_detached():  # a frame that went away shows nothing
                        raise SecretsNotHidden(f"a frame of {page.url} could not be masked: {exc}") from None
        yield
    finally:
        with anyio.CancelScope(shield=True):
            for handle in changed:
                try:
                    with anyio.fail_after(_FRAME_TIMEOUT):
                        await handle.evaluate(_RESTORE_JS)
                        await handle.dispose()
                except (PlaywrightError, TimeoutError):
                    pass  # its document is gone, and what it showed with it


async def capture(
    page: Page, path: Path, *, full_page: bool, timeout_ms: float, mask_values: Collection[str] = ()
) -> None:
    """Save a PNG of the page at `path` in CSS pixels, nothing in `mask_values` visible on it.

    Raises PlaywrightError (the capture failed) or SecretsNotHidden (it was not attempted).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    async with secrets_hidden(page, mask_values):
        # CSS pixels: the same page gives the same image size whatever device scale the fingerprint has.
        await page.screenshot(path=str(path), full_page=full_page, timeout=timeout_ms, scale="css")
