"""A URL that serves a PDF, as text and markdown with its page count (pypdf).

The bytes are the ones the browser received through the URL guard; nothing is fetched again. Text extraction is
pure Python, so it runs in a worker thread and stops once the caller's `max_chars` are filled: a 2,000-page
manual costs what its first pages do.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import anyio.to_thread
from playwright.async_api import Page

from mcp_browsa.engine.whitespace import squeeze

__all__ = ["MAX_BYTES", "MAX_PAGES", "is_pdf", "pdf_content", "read_pdf", "refetch_pdf"]

log = logging.getLogger(__name__)

MAX_PAGES = 2000  # pages read at most, whatever max_chars allows
MAX_BYTES = 64 * 1024 * 1024

# The document's own URL fetched from inside it (same origin, cookies included), returned as base64.
_FETCH_JS = r"""async (max) => {
  const r = await fetch(location.href, {credentials: 'include'});
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (bytes.length > max) return null;
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}"""


def is_pdf(content_type: str | None, body_start: bytes = b"") -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/pdf" or body_start[:5] == b"%PDF-"


async def refetch_pdf(page: Page) -> bytes:
    """The PDF a page shows, fetched again from inside the page; ValueError when it is bigger than MAX_BYTES."""
    encoded = await page.evaluate(_FETCH_JS, MAX_BYTES)
    if encoded is None:
        raise ValueError(f"the PDF is larger than {MAX_BYTES // (1024 * 1024)} MB")
    return base64.b64decode(encoded)


def read_pdf(data: bytes, max_chars: int) -> dict[str, Any]:
    """`{"title", "pages", "texts" (one per page read), "complete"}`; raises ValueError for a file pypdf cannot read."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
        meta = reader.metadata
        title = str(meta.title or "") if meta is not None else ""
        texts: list[str] = []
        chars = 0
        for page in reader.pages[:MAX_PAGES]:
            if chars > max_chars:
                break
            text = squeeze(page.extract_text() or "")
            texts.append(text)
            chars += len(text) + 20
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the PDF could not be read ({type(exc).__name__}: {exc})") from exc
    return {"title": title, "pages": pages, "texts": texts, "complete": len(texts) == pages}


async def pdf_content(data: bytes, formats: list[str], *, url: str, max_chars: int) -> dict[str, Any]:
    """The asked text formats of a PDF (markdown: a heading per page; text: pages one after another)."""
    read = await anyio.to_thread.run_sync(read_pdf, data, max_chars)
    title = read["title"] or url.rsplit("/", 1)[-1] or url
    out: dict[str, Any] = {"title": read["title"], "pages": read["pages"], "content_type": "application/pdf"}
    truncated = False
    shown = [(n, text) for n, text in enumerate(read["texts"], start=1) if text]
    if "markdown" in formats:
        body = "\n\n".join(f"## Page {n}\n\n{text}" for n, text in shown)
        md = f"# {title}\n\n*PDF, {read['pages']} page{'s' if read['pages'] != 1 else ''}*\n\n{body}".rstrip()
        out["markdown"], t = _cut(md, max_chars, not read["complete"])
        truncated |= t
    if "text" in formats:
        out["text"], t = _cut("\n\n".join(text for _n, text in shown), max_chars, not read["complete"])
        truncated |= t
    out["truncated"] = truncated
    return out


def _cut(text: str, max_chars: int, more: bool) -> tuple[str, bool]:
    if len(text) <= max_chars and not more:
        return text, False
    return text[:max_chars] + "\n… [truncated: the PDF goes on]", True
