"""What a session's pages do on their own: dialogs held open for the caller to answer, and downloads saved to disk.

A dialog freezes its page (scripts, observation, the action that opened it) until answered, so it is held here and
reported; `accept_dialog` / `dismiss_dialog` answer it. `beforeunload` is accepted at once, or no navigation away
from a page that asks would ever finish. Downloads are saved under the data dir and reported with their size and
path; nothing opens them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anyio
from anyio.abc import TaskGroup
from playwright.async_api import BrowserContext, Dialog, Download, Page
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.sessions.models import Download as SavedDownload

__all__ = ["PageEvents"]

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class PageEvents:
    def __init__(self, tg: TaskGroup, downloads_dir: Path) -> None:
        self.tg = tg
        self.downloads_dir = downloads_dir
        self.dialog: Dialog | None = None  # the dialog waiting for an answer
        self.opened = anyio.Event()  # set when a dialog opens (replaced once answered)
        self.notes: list[str] = []  # dialogs answered without asking (beforeunload)
        self._saved: list[SavedDownload] = []
        self._saving = 0
        self._settled = anyio.Event()
        self._settled.set()
        self._count = 0

    # -- dialogs --------------------------------------------------------------------------------

    @staticmethod
    def describe(dialog: Dialog) -> str:
        default = f" (default {dialog.default_value!r})" if dialog.type == "prompt" and dialog.default_value else ""
        return f"{dialog.type} {dialog.message[:250]!r}{default}"

    async def on_dialog(self, dialog: Dialog) -> None:
        if dialog.type == "beforeunload" or self.dialog is not None:
            # A second dialog while one waits cannot be shown to anyone: the cautious answer, and a note.
            self.notes.append(f"{self.describe(dialog)} was answered automatically")
            try:
                await (dialog.accept() if dialog.type == "beforeunload" else dialog.dismiss())
            except PlaywrightError:
                pass
            return
        self.dialog = dialog
        self.opened.set()

    async def answer(self, accept: bool, text: str | None) -> str:
        """Accept (with `text` for a prompt) or dismiss the waiting dialog; returns what was answered."""
        dialog = self.dialog
        assert dialog is not None
        self.dialog, self.opened = None, anyio.Event()
        what = self.describe(dialog)
        try:
            if accept:
                await (dialog.accept(text) if text is not None and dialog.type == "prompt" else dialog.accept())
            else:
                await dialog.dismiss()
        except PlaywrightError:
            return f"{what} had already closed"
        return f"{'accepted' if accept else 'dismissed'} {what}"

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    # -- downloads ------------------------------------------------------------------------------

    def watch(self, context: BrowserContext) -> None:
        for page in context.pages:
            self._watch_page(page)
        context.on("page", self._watch_page)

    def _watch_page(self, page: Page) -> None:
        page.on("download", self._on_download)

    def _on_download(self, download: Download) -> None:
        self._saving += 1
        if self._settled.is_set():
            self._settled = anyio.Event()
        self.tg.start_soon(self._save, download)

    async def _save(self, download: Download) -> None:
        self._count += 1
        name = _SAFE_NAME.sub("_", download.suggested_filename).strip(" .")[:120] or "download"
        path = self.downloads_dir / f"{self._count:03d}-{name}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await download.save_as(path)
            self._saved.append(
                SavedDownload(name=download.suggested_filename[:200], path=str(path), bytes=path.stat().st_size)
            )
        except (PlaywrightError, OSError) as exc:
            log.info("a download (%s) could not be saved: %s", name, exc)
            self.notes.append(f"the download of {name} failed: {str(exc).splitlines()[0][:200]}")
        finally:
            self._saving -= 1
            if self._saving == 0:
                self._settled.set()

    async def downloads_settled(self, timeout: float) -> None:
        """Wait (bounded) for downloads already started to be written out."""
        with anyio.move_on_after(timeout):
            await self._settled.wait()

    def take_downloads(self) -> list[SavedDownload]:
        saved, self._saved = self._saved, []
        return saved
