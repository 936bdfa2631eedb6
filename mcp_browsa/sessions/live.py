"""One open session in this process: its browser context and tabs, the latest observation, and when it must end.

Calls on one session run one at a time (`lock`); each call pushes the idle deadline back. The runner waits on
`until_end()`, which returns why the session is over: closed, idle, its TTL, a cancel, or its browser gone.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup
from playwright.async_api import BrowserContext, Page

from mcp_browsa.engine.agent.walls import GuardWatch
from mcp_browsa.engine.context import JobContext
from mcp_browsa.engine.observation import Observation
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.engine.takeover import ViewHandle
from mcp_browsa.sessions.models import SessionRequest
from mcp_browsa.sessions.page_events import PageEvents
from mcp_browsa.workspace_secrets import SecretResolver

__all__ = ["Inflight", "LiveSession"]


@dataclass
class Inflight:
    """An action still running because a dialog froze its page; answering the dialog lets it finish."""

    label: str
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None


@dataclass
class LiveSession:
    id: str
    request: SessionRequest
    ctx: JobContext
    context: BrowserContext
    tabs: Tabs
    watch: GuardWatch
    events: PageEvents
    secrets: SecretResolver
    tg: TaskGroup
    nav_timeout_ms: int
    cdp_url: str | None = None
    upload_dir: Path | None = None  # BROWSA_UPLOAD_DIR
    obs: Observation | None = None
    inflight: Inflight | None = None
    steps: int = 0
    minutes_paid: int = 1  # the first minute is in the browser's start price
    shots: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # numbers of its screenshots
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    meter_lock: anyio.Lock = field(default_factory=anyio.Lock)
    started: float = field(default_factory=time.time)
    touched: float = field(default_factory=time.monotonic)
    end_reason: str | None = None
    browser_lost: bool = False
    view: ViewHandle | None = None  # its live view, while shown
    human_note: str | None = None  # during a call: what a person did in the live view since the last one
    _ended: anyio.Event = field(default_factory=anyio.Event)

    @property
    def workspace_id(self) -> str:
        return self.ctx.workspace_id

    @property
    def expires_at(self) -> float:
        return self.started + self.request.ttl_seconds

    @property
    def page(self) -> Page:
        """The active tab: what the observation, a screenshot or a live view shows."""
        return self.tabs.active

    @property
    def masks(self) -> tuple[str, ...]:
        return self.secrets.mask_values

    @property
    def open(self) -> bool:
        return self.end_reason is None

    def touch(self) -> None:
        self.touched = time.monotonic()

    def end(self, reason: str, *, browser_lost: bool = False) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.browser_lost = browser_lost
        self._ended.set()

    async def until_end(self) -> str:
        """Wait until something ends the session; returns the reason."""
        while not self._ended.is_set():
            if self.ctx.cancelled:
                self.end("cancelled (cancel_job)")
                break
            idle_left = self.touched + self.request.idle_seconds - time.monotonic()
            ttl_left = self.expires_at - time.time()
            if ttl_left <= 0:
                self.end(f"its TTL ({self.request.ttl_seconds:g} s) ran out")
                break
            if idle_left <= 0 and not self.lock.locked():
                self.end(f"no call for {self.request.idle_seconds:g} s (idle timeout)")
                break
            # A call in progress holds off the idle timeout: look again shortly after it could have ended.
            with anyio.move_on_after(min(ttl_left, idle_left if idle_left > 0 else 0.5)):
                async with anyio.create_task_group() as tg:

                    async def cancelled() -> None:
                        await self.ctx.cancel_event.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(cancelled)
                    await self._ended.wait()
                    tg.cancel_scope.cancel()
        assert self.end_reason is not None
        return self.end_reason
