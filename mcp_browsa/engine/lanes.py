"""Batch lanes: one burner kept from one URL row of a batch to the next that the same worker runs.

A fresh context per row costs a new renderer process, and on a 2-core machine that is about four times the
cost of loading the page itself (3.8 pages/s against 17 with the page reused). The rows of one batch are one
job of one caller under one policy, so a lane goes from page to page the way one visitor would: cookies
and storage carry over from row to row, nothing crosses to another job. A lane starts over with a fresh
burner after a row that failed in any way, when the browser was relaunched, for rows that ask for another
fingerprint or allowlist, and every `MAX_ROWS` rows so memory cannot creep; tabs a page opened are closed
before the next row.
Rows on a persistent identity never share: their session is opened and written back per row.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.guard import BlockedRequest
from mcp_browsa.browser.pool import Burner

__all__ = ["MAX_ROWS", "Lane", "OpenBurner"]

MAX_ROWS = 50

# (row params, on_block) -> the browser a row runs in, as a context manager
OpenBurner = Callable[[dict[str, Any], Callable[[BlockedRequest], None]], AbstractAsyncContextManager[Burner]]


def _key(params: dict[str, Any]) -> str | None:
    """What the browser itself depends on, so rows that agree can share one; None for rows that never share."""
    if params.get("identity_id"):
        return None
    return json.dumps([params.get("allowed_domains"), params.get("os_type"), params.get("country")], default=str)


class Lane:
    """`async with lane.lease(params, on_block) as burner:` — the lane's burner when it can serve this row,
    else a new one. Call `close()` when the lane's worker is done."""

    def __init__(self, open_burner: OpenBurner, generation: Callable[[], int]) -> None:
        self._open = open_burner
        self._generation = generation
        self._stack: AsyncExitStack | None = None
        self._burner: Burner | None = None
        self._key: str | None = None
        self._rows = 0
        self._on_block: Callable[[BlockedRequest], None] | None = None

    def _report(self, blocked: BlockedRequest) -> None:
        # Whichever row holds the lane now; a late request of the previous page lands with this row, harmlessly.
        if self._on_block is not None:
            self._on_block(blocked)

    def _reusable(self, key: str) -> bool:
        burner = self._burner
        return (
            burner is not None
            and key == self._key
            and self._rows < MAX_ROWS
            and burner.healthy
            and burner.generation == self._generation()
        )

    @asynccontextmanager
    async def lease(self, params: dict[str, Any], on_block: Callable[[BlockedRequest], None]) -> AsyncIterator[Burner]:
        key = _key(params)
        if key is None:
            async with self._open(params, on_block) as burner:
                yield burner
            return
        if not self._reusable(key):
            await self.close()
            stack = AsyncExitStack()
            try:
                self._burner = await stack.enter_async_context(self._open(params, self._report))
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
                raise
            self._stack, self._key, self._rows = stack, key, 0
        assert self._burner is not None
        await _close_other_tabs(self._burner)
        self._on_block = on_block
        kept = False
        try:
            yield self._burner
            kept = True
        finally:
            self._on_block = None
            self._rows += 1
            if not kept:
                await self.close()

    async def close(self) -> None:
        stack, self._stack, self._burner = self._stack, None, None
        if stack is not None:
            with anyio.CancelScope(shield=True):
                await stack.aclose()


async def _close_other_tabs(burner: Burner) -> None:
    for page in burner.context.pages:
        if page is not burner.page:
            with anyio.move_on_after(5):
                try:
                    await page.close()
                except PlaywrightError:
                    pass  # closed on its own meanwhile
