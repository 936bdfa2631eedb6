"""The tabs of one browser context as the agent sees them: which page is active, and following new ones.

A page opened by the site (target=_blank, window.open) becomes the active tab as soon as it appears.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from playwright.async_api import BrowserContext, Dialog, Page
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.intercept import guard_page

__all__ = ["Tabs"]

_MAX_DIALOGS = 5


class Tabs:
    """Open pages of a BrowserContext in opening order, one of them active.

    Listens to the context, so tabs opened by links or scripts are tracked (and activated) without
    anyone asking; call `close()` to stop listening when the context is handed back.
    """

    def __init__(self, context: BrowserContext, on_dialog: Callable[[Dialog], Awaitable[None]] | None = None) -> None:
        self.context = context
        # Who answers dialogs: by default they are answered at once (see _answer_dialog); a host-driven session
        # holds them open for its caller to accept or dismiss.
        self._dialog_handler = on_dialog or self._answer_dialog
        self._pages: list[Page] = []
        self._history: list[Page] = []  # activation order, so closing a popup returns to its opener
        self._opened = 0
        self._dialogs: list[str] = []
        for page in context.pages:
            if not page.is_closed():
                self._track(page)
        context.on("page", self._on_page)

    @classmethod
    async def create(
        cls, context: BrowserContext, on_dialog: Callable[[Dialog], Awaitable[None]] | None = None
    ) -> Tabs:
        """Tabs over `context`, opening a first page if it has none."""
        tabs = cls(context, on_dialog)
        if not tabs._pages:
            await tabs.new_tab()
        return tabs

    @property
    def pages(self) -> list[Page]:
        return list(self._pages)

    @property
    def active(self) -> Page:
        if not self._history:
            raise RuntimeError("no open tab")
        return self._history[-1]

    @property
    def active_index(self) -> int:
        return self._pages.index(self.active)

    @property
    def opened_count(self) -> int:
        """How many pages have appeared since tracking began; compare before/after an action."""
        return self._opened

    def __len__(self) -> int:
        return len(self._pages)

    async def switch(self, index: int) -> Page:
        """Make tab `index` (0-based, opening order) active. IndexError names the valid range."""
        if not 0 <= index < len(self._pages):
            raise IndexError(f"no tab {index}; tabs go 0..{len(self._pages) - 1}")
        page = self._pages[index]
        self._activate(page)
        try:
            await page.bring_to_front()
        except PlaywrightError:
            pass  # closed meanwhile: the close handler has already moved the active tab
        return page

    async def new_tab(self) -> Page:
        """Open a blank tab; it becomes active."""
        page = await self.context.new_page()
        await guard_page(page)  # before its first request
        self._track(page)  # idempotent: the "page" event may or may not have run yet
        self._activate(page)
        return page

    def take_dialogs(self) -> list[str]:
        """Dialogs (alert/confirm/prompt) seen since the last call, as one line each."""
        seen, self._dialogs = self._dialogs, []
        return seen

    def close(self) -> None:
        """Stop listening to the context (its pages stay open)."""
        self.context.remove_listener("page", self._on_page)
        for page in self._pages:
            page.remove_listener("close", self._on_close)
            page.remove_listener("dialog", self._on_dialog)

    def _on_page(self, page: Page) -> None:
        if self._track(page):
            self._activate(page)

    def _track(self, page: Page) -> bool:
        if page in self._pages or page.is_closed():
            return False
        self._pages.append(page)
        self._history.append(page)
        self._opened += 1
        page.on("close", self._on_close)
        page.on("dialog", self._on_dialog)
        return True

    def _activate(self, page: Page) -> None:
        if page in self._history:
            self._history.remove(page)
        self._history.append(page)

    def _on_close(self, page: Page) -> None:
        if page in self._pages:
            self._pages.remove(page)
        self._history = [p for p in self._history if p is not page]

    async def _on_dialog(self, dialog: Dialog) -> None:
        await self._dialog_handler(dialog)

    async def _answer_dialog(self, dialog: Dialog) -> None:
        # A dialog left open blocks every script in the page, observation included. Accepting is what
        # lets a beforeunload navigation proceed; confirm/prompt are dismissed, the cautious answer.
        line = f"{dialog.type} {dialog.message!r}"[:300]
        self._dialogs = [*self._dialogs[-(_MAX_DIALOGS - 1) :], line]
        try:
            if dialog.type in ("alert", "beforeunload"):
                await dialog.accept()
            else:
                await dialog.dismiss()
        except PlaywrightError:
            pass  # the page went away with its dialog
