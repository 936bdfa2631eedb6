"""HTML to Markdown, off the event loop.

markdownify (on BeautifulSoup) is pure Python and holds the GIL: a 280 KB page takes half a second, and in a
thread that half second is taken from the event loop too (the proxy's relays, every other job, the MCP answers).
Pages that big are converted in worker processes instead, side by side on every core, and a cancelled job
kills its conversion; small ones stay in a thread, where a process round trip would cost more than the work.
This module imports only what the conversion needs, so a worker starts quickly and stays small.
"""

from __future__ import annotations

import logging
import re

import anyio
import anyio.to_process
import anyio.to_thread

__all__ = ["PROCESS_MIN_CHARS", "convert", "squeeze", "to_markdown"]

log = logging.getLogger(__name__)

PROCESS_MIN_CHARS = 64 * 1024


def squeeze(text: str) -> str:
    """Runs of spaces to one, runs of blank lines to one blank line."""
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r"\n\s*\n\s*\n+", "\n\n", text)
    return text.strip()


def to_markdown(html: str) -> str:
    # Imported on first use: with BeautifulSoup it is a fifth of a second of every start-up otherwise.
    from markdownify import markdownify

    return squeeze(markdownify(html, heading_style="ATX", strip=["img"]))


# Set once a worker failed to start: every later one would fail the same way, each after spawning a process.
_workers_broken = False


async def convert(html: str) -> str:
    global _workers_broken
    if len(html) >= PROCESS_MIN_CHARS and not _workers_broken:
        try:
            return await anyio.to_process.run_sync(to_markdown, html, cancellable=True)
        except anyio.BrokenWorkerProcess as exc:
            # A worker re-runs the parent's main script first; one that cannot (a script with no __main__ guard)
            # must not cost the page its markdown.
            _workers_broken = True
            log.warning("markdown worker processes unavailable (%s); converting in threads from now on", exc)
    return await anyio.to_thread.run_sync(to_markdown, html)
