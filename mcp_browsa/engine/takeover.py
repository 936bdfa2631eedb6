"""Human takeover of one browser: who holds control, the agent's pause between steps, and what the human did.

The live view (mcp_browsa/live/) takes and hands back control; the code driving the browser (an agent attempt, a
session) waits at `turn()` before it reads or touches the page, and tells its model what the human did.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

import anyio
from playwright.async_api import BrowserContext, Page

from mcp_browsa.engine.context import JobContext
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.progress import JobProgressRepo

__all__ = [
    "HUMAN_CONTROL",
    "ContextPages",
    "HumanTurn",
    "LiveViews",
    "OnControl",
    "PageSet",
    "Takeover",
    "ViewHandle",
    "control_recorder",
    "with_live_url",
]

log = logging.getLogger(__name__)

OnControl = Callable[[bool], Awaitable[None]]
HUMAN_CONTROL = "human.control"  # the event recorded when a person takes or hands back a job's browser


@dataclass(frozen=True)
class HumanTurn:
    """What a human did while holding control, counted, never quoted: what they typed may be a password."""

    acts: tuple[str, ...]

    def note(self) -> str:
        counts = Counter(self.acts)
        done = ", ".join(f"{n} {what}{'s' if n > 1 else ''}" for what, n in counts.items())
        return (
            f"A person took control of the browser and handed it back ({done or 'nothing done'}). The page below is"
            " as they left it; what they typed is not shown to you."
        )


@dataclass
class Takeover:
    """Control of one browser. `on_change(held)` records the switch (the job's `human_control` status)."""

    on_change: OnControl | None = None
    holder: object | None = None
    acts: list[str] = field(default_factory=list)
    _released: anyio.Event = field(default_factory=anyio.Event)

    @property
    def held(self) -> bool:
        return self.holder is not None

    async def take(self, holder: object) -> bool:
        """Give control to `holder` (a viewer); False while someone else holds it."""
        if self.holder is not None:
            return self.holder is holder
        self.holder = holder
        self._released = anyio.Event()
        await self._changed(True)
        return True

    async def hand_back(self, holder: object) -> None:
        """End `holder`'s control (a closed viewer hands back too); the paused driver goes on."""
        if self.holder is not holder:
            return
        # Recorded before the driver goes on, so its next answer already finds the job running again.
        await self._changed(False)
        self.holder = None
        self._released.set()

    def close(self) -> None:
        """The browser is going away: nobody holds it, nothing waits for it."""
        self.holder = None
        self._released.set()

    def acted(self, what: str) -> None:
        self.acts.append(what)

    async def turn(self, stop: anyio.Event | None = None) -> HumanTurn | None:
        """Wait while a human holds control (or until `stop`, a cancel); then what they did since the last turn,
        or None if nothing."""
        while self.holder is not None and not (stop is not None and stop.is_set()):
            await _first(self._released, stop)
        if not self.acts:
            return None
        turn = HumanTurn(tuple(self.acts))
        self.acts.clear()
        return turn

    async def _changed(self, held: bool) -> None:
        if self.on_change is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await self.on_change(held)
            except Exception as exc:  # the status is informative; control itself must still switch
                log.warning("recording human control failed: %s", exc)


async def _first(*events: anyio.Event | None) -> None:
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            if event is not None:
                tg.start_soon(wait, event)


class ViewHandle(Protocol):
    """One browser shown in a live view: its address, and its control."""

    @property
    def url(self) -> str: ...

    @property
    def job_url(self) -> str: ...

    @property
    def takeover(self) -> Takeover: ...

    @property
    def watched(self) -> bool:
        """Someone has the live view open now."""
        ...


class PageSet(Protocol):
    """The pages a live view shows: `Tabs` for the agent's browsers, or a context's pages as they are."""

    @property
    def pages(self) -> list[Page]: ...

    @property
    def active(self) -> Page:
        """The page shown; RuntimeError when there is none."""
        ...


class ContextPages:
    """A browser context's open pages, the newest shown: for a browser someone else drives (an identity over CDP),
    watched without taking over its tabs or its dialogs."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context

    @property
    def pages(self) -> list[Page]:
        return [p for p in self.context.pages if not p.is_closed()]

    @property
    def active(self) -> Page:
        pages = self.pages
        if not pages:
            raise RuntimeError("no open page")
        return pages[-1]


class LiveViews(Protocol):
    """`LiveRegistry`: show a browser in its target's live view while the block runs; end a target's view."""

    def url_of(self, target_id: str) -> str | None: ...

    async def open(self, workspace_id: str, target_id: str) -> str: ...

    def end(self, target_id: str) -> None: ...

    def view(
        self,
        workspace_id: str,
        job_id: str,
        key: str,
        tabs: PageSet,
        *,
        masks: Callable[[], Collection[str]],
        on_control: OnControl | None = None,
    ) -> AbstractAsyncContextManager[ViewHandle]: ...


def with_live_url(question: str, view: ViewHandle | None) -> str:
    """A question to a person, with where to see (and take over) the browser it is about."""
    if view is None:
        return question
    return f"{question}\n\nThe browser, live (watch, or take control to do it yourself): {view.url}"


def control_recorder(ctx: JobContext, view: str) -> OnControl:
    """Records a switch of control on the job: its status (`human_control` while a person holds a browser of a
    running job; a job waiting for an answer stays `input_required`) and an event."""

    async def record(held: bool) -> None:
        async def write(conn: Conn) -> None:
            await JobProgressRepo.hand_control(conn, ctx.id, to_person=held)

        await ctx.write(write, event=(HUMAN_CONTROL, {"held": held, "view": view}))

    return record
