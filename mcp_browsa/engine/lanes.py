"""Batch lanes: the workers of one batch go through its URL rows as tabs of one shared burner.

A fresh context per row costs a new renderer process, and on a 2-core machine that is about four times the
cost of loading the page itself (3.8 pages/s against 17 with the page reused). Separate contexts do not scale
either: four of them load pages slower together than one alone, while four tabs of one context load them
faster (Chromium shares the renderer and the work around it). The rows of one batch are one job of one caller
under one policy, so its workers act as one visitor with several tabs: cookies and storage carry over from
row to row and from tab to tab, nothing crosses to another job.

Every tab holds a burner slot, so BROWSA_MAX_BURNERS still bounds what runs. A lane gives its tab up after a
row that failed in any way and takes a fresh one; the shared burner closes when its last tab does, so a lone
worker starts over with a fresh context, as before. Rows that ask for another fingerprint or allowlist get a
burner of their own kind; one that has served `MAX_ROWS` rows on any tab, or outlived a browser relaunch, takes
no more rows, so memory cannot creep. Tabs a page opened are closed before the next row.
Rows on a persistent identity never share: their session is opened and written back per row.

A refused request is reported to the row whose tab asked for it when the route hook knows the tab; the proxy
cannot tell tabs apart, so what it refuses is reported to every row running in the burner at that moment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from mcp_browsa.browser.fingerprint import fingerprint_page
from mcp_browsa.browser.guard import BlockedRequest
from mcp_browsa.browser.intercept import guard_page
from mcp_browsa.browser.pool import Burner
from mcp_browsa.engine.media import skips_media

__all__ = ["MAX_ROWS", "Lane", "LaneGroup", "OpenBurner", "TabSlot"]

MAX_ROWS = 50

OnBlock = Callable[[BlockedRequest], None]
# (row params, on_block) -> the browser a row runs in, as a context manager
OpenBurner = Callable[[dict[str, Any], OnBlock], AbstractAsyncContextManager[Burner]]
# one more burner slot, held for as long as a tab is
TabSlot = Callable[[], AbstractAsyncContextManager[object]]


def _key(params: dict[str, Any]) -> str | None:
    """What the browser itself depends on, so rows that agree can share one; None for rows that never share."""
    if params.get("identity_id"):
        return None
    keys = [params.get("allowed_domains"), params.get("os_type"), params.get("country"), skips_media(params)]
    return json.dumps(keys, default=str)


class _Shared:
    """One burner some lanes share: which lane holds which tab, and whether it still takes rows."""

    def __init__(self, key: str, burner: Burner, stack: AsyncExitStack) -> None:
        self.key = key
        self.burner = burner
        self.stack = stack
        self.lanes: set[Lane] = set()
        self.unclaimed: Page | None = burner.page  # the pool's page until a lane takes it as its tab
        self.own_slot_free = True  # the burner's own slot, lent to one tab at a time
        self.opening = 0  # tabs being opened: not strays, though no lane holds them yet
        self.retired = False

    def takes_rows(self, generation: int) -> bool:
        return not self.retired and self.burner.generation == generation

    def report(self, blocked: BlockedRequest) -> None:
        owner = next((lane for lane in self.lanes if lane.page is blocked.page), None) if blocked.page else None
        for lane in [owner] if owner is not None else list(self.lanes):
            lane.deliver(blocked)

    async def new_tab(self) -> Page:
        self.opening += 1
        try:
            page = await self.burner.context.new_page()
            await fingerprint_page(page)  # before its first request, like the pool's own page
            await guard_page(page)
            return page
        finally:
            self.opening -= 1

    async def close_strays(self) -> None:
        """Close pages no lane holds: tabs and popups the rows' pages opened."""
        if self.opening:
            return  # a tab being opened is not a stray yet; the next row closes what is left
        held = {lane.page for lane in self.lanes} | {self.unclaimed}
        for page in [p for p in self.burner.context.pages if p not in held]:
            await _close_page(page)


class LaneGroup:
    """The lanes of one batch and the burners they share, one per key in use."""

    def __init__(self, open_burner: OpenBurner, generation: Callable[[], int], tab_slot: TabSlot) -> None:
        self._open = open_burner
        self._generation = generation
        self._tab_slot = tab_slot
        self._current: dict[str, _Shared] = {}
        self._lock = anyio.Lock()

    def lane(self) -> Lane:
        return Lane(self)

    async def _join(self, lane: Lane, key: str, params: dict[str, Any]) -> None:
        """Give `lane` a tab in the current burner for `key`, opening that burner when there is none."""
        while True:
            async with self._lock:
                shared = self._current.get(key)
                if shared is None or not shared.takes_rows(self._generation()):
                    shared = await self._open_shared(key, params)
                if shared.own_slot_free:
                    shared.own_slot_free = False
                    page, shared.unclaimed = shared.unclaimed, None
                    try:
                        if page is None or page.is_closed():
                            page = await shared.new_tab()
                    except BaseException:
                        shared.own_slot_free = True
                        with anyio.CancelScope(shield=True):
                            await self._left(shared)
                        raise
                    lane.enter(shared, page, None)
                    return
            # A tab of its own needs a slot of its own. Waiting for one without the lock, and holding nothing
            # else meanwhile, cannot deadlock with lanes that are leaving.
            slot = AsyncExitStack()
            await slot.enter_async_context(self._tab_slot())
            try:
                if shared is self._current.get(key) and shared.takes_rows(self._generation()):
                    lane.enter(shared, await shared.new_tab(), slot)
                    return
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await slot.aclose()
                    await self._left(shared)
                raise
            await slot.aclose()  # that burner stopped taking rows meanwhile: start over

    async def _open_shared(self, key: str, params: dict[str, Any]) -> _Shared:
        opened: list[_Shared] = []
        stack = AsyncExitStack()
        # The pool's lease outlives this burner in places (the context's route hook holds it), so the hook it
        # reports to must not hold the burner: closing empties `opened`.
        stack.callback(opened.clear)
        try:
            burner = await stack.enter_async_context(
                self._open(params, lambda blocked: opened[0].report(blocked) if opened else None)
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            raise
        shared = _Shared(key, burner, stack)
        opened.append(shared)
        self._current[key] = shared
        return shared

    async def _left(self, shared: _Shared) -> None:
        """Close a burner no lane holds, or is opening a tab in, any more."""
        if shared.lanes or shared.opening:
            return
        shared.retired = True
        if self._current.get(shared.key) is shared:
            del self._current[shared.key]
        await shared.stack.aclose()


class Lane:
    """`async with lane.lease(params, on_block) as burner:` — the row's browser: a tab of the lane's shared burner
    (`burner.page` is the tab), or for a row on an identity a browser of its own. `close()` when the worker is done.
    """

    def __init__(self, group: LaneGroup) -> None:
        self._group = group
        self._shared: _Shared | None = None
        self._slot: AsyncExitStack | None = None  # the tab's own slot; None on the burner's own
        self.page: Page | None = None
        self._rows = 0
        self._on_block: OnBlock | None = None

    def enter(self, shared: _Shared, page: Page, slot: AsyncExitStack | None) -> None:
        self._shared, self.page, self._slot, self._rows = shared, page, slot, 0
        shared.lanes.add(self)

    def deliver(self, blocked: BlockedRequest) -> None:
        # Only to a row running now: a late request of the tab's previous page would be someone else's news.
        if self._on_block is not None:
            self._on_block(blocked)

    def _usable(self, key: str) -> bool:
        shared, page = self._shared, self.page
        return (
            shared is not None
            and page is not None
            and not page.is_closed()
            and shared.key == key
            and shared.takes_rows(self._group._generation())
        )

    @asynccontextmanager
    async def lease(self, params: dict[str, Any], on_block: OnBlock) -> AsyncIterator[Burner]:
        key = _key(params)
        if key is None:
            async with self._group._open(params, on_block) as burner:
                yield burner
            return
        if not self._usable(key):
            await self.close()
            await self._group._join(self, key, params)
        shared, page = self._shared, self.page
        assert shared is not None and page is not None
        await shared.close_strays()
        self._on_block = on_block
        kept = False
        try:
            yield dataclasses.replace(shared.burner, page=page)
            kept = True
        finally:
            self._on_block = None
            self._rows += 1
            if self._rows >= MAX_ROWS:
                shared.retired = True  # every lane moves to a fresh burner at its next row
            if not kept:
                await self.close()

    async def close(self) -> None:
        """Give the tab up (and its slot); the shared burner closes with its last tab."""
        shared, page, slot = self._shared, self.page, self._slot
        self._shared, self.page, self._slot = None, None, None
        if shared is None:
            return
        shared.lanes.discard(self)
        with anyio.CancelScope(shield=True):
            if page is not None:
                await _close_page(page)
            if slot is not None:
                await slot.aclose()
            else:
                shared.own_slot_free = True
            await self._group._left(shared)


async def _close_page(page: Page) -> None:
    with anyio.move_on_after(5):
        try:
            await page.close()
        except PlaywrightError:
            pass  # closed on its own meanwhile
