"""Live-view tokens: one per job, session or running identity, the browsers shown under it, dead when it ends.

A token is 128 random bits in the URL path, the only thing that opens the view: it is not an API key and
opens nothing else. Unknown tokens are 404; a token whose job ended is 410 for as long as this process
remembers it (the newest `GONE_KEPT`).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_browsa.engine.takeover import OnControl, PageSet, Takeover

__all__ = ["GONE", "MAIN", "LiveRegistry", "LiveTarget", "TargetHooks", "View"]

GONE_KEPT = 10_000
GONE: Literal["gone"] = "gone"
MAIN = "main"


@dataclass
class View:
    """One browser under a token: a job's only browser ("main"), a fanout attempt or a batch row."""

    key: str
    tabs: PageSet
    masks: Callable[[], Collection[str]]
    takeover: Takeover
    target: LiveTarget

    @property
    def url(self) -> str:
        return self.target.url if self.key == MAIN else f"{self.target.url}?view={self.key}"

    @property
    def job_url(self) -> str:
        """The address of the whole target (every view of it)."""
        return self.target.url

    @property
    def watched(self) -> bool:
        return self.target.watchers > 0


@dataclass
class TargetHooks:
    """How the page learns a target's state: `describe()` (status, last action, question), `changed(t)` returns
    when it may have changed (or after t seconds), `answer(text, secret)` answers its question."""

    describe: Callable[[], Awaitable[dict[str, Any]]]
    changed: Callable[[float], Awaitable[None]]
    answer: Callable[[str, bool], Awaitable[None]] | None = None


@dataclass
class LiveTarget:
    token: str
    workspace_id: str
    target_id: str  # the job, session or identity id
    url: str
    hooks: TargetHooks | None
    views: dict[str, View] = field(default_factory=dict)
    watchers: int = 0  # live pages connected now

    def pick(self, key: str | None) -> View | None:
        """The view asked for, else the first one still open."""
        if key and key in self.views:
            return self.views[key]
        return next(iter(self.views.values()), None)


class LiveRegistry:
    """Tokens of this process's live views. `base_url()` is where they are served (see live/web.py)."""

    def __init__(self, base_url: Callable[[], Awaitable[str]]) -> None:
        self._base_url = base_url
        self._by_token: dict[str, LiveTarget] = {}
        self._by_target: dict[str, LiveTarget] = {}
        self._gone: OrderedDict[str, None] = OrderedDict()
        self.hooks_for: Callable[[str, str], TargetHooks | None] = lambda _workspace, _target: None

    def lookup(self, token: str) -> LiveTarget | Literal["gone"] | None:
        target = self._by_token.get(token)
        if target is not None:
            return target
        return GONE if token in self._gone else None

    def target(self, target_id: str) -> LiveTarget | None:
        return self._by_target.get(target_id)

    def url_of(self, target_id: str) -> str | None:
        target = self._by_target.get(target_id)
        return target.url if target is not None else None

    @asynccontextmanager
    async def view(
        self,
        workspace_id: str,
        job_id: str,
        key: str,
        tabs: PageSet,
        *,
        masks: Callable[[], Collection[str]],
        on_control: OnControl | None = None,
    ) -> AsyncIterator[View]:
        """Show `tabs` under the target's token while the block runs. The token lives until `end(target_id)`, so
        a batch's rows or a fanout's attempts come and go under one address."""
        target = await self._open(workspace_id, job_id)
        if key in target.views:
            raise ValueError(f"view {key!r} of {job_id} is open already")
        view = View(key, tabs, masks, Takeover(on_control), target)
        target.views[key] = view
        try:
            yield view
        finally:
            del target.views[key]
            if view.takeover.holder is not None:  # a person still holds it: record the end of their control
                await view.takeover.hand_back(view.takeover.holder)
            view.takeover.close()

    async def open(self, workspace_id: str, target_id: str) -> str:
        """The target's live_url, its token made now if it has none yet (before its browser is shown)."""
        return (await self._open(workspace_id, target_id)).url

    async def _open(self, workspace_id: str, target_id: str) -> LiveTarget:
        target = self._by_target.get(target_id)
        if target is not None:
            return target
        base = await self._base_url()  # may start the server, and another call may have opened it meanwhile
        target = self._by_target.get(target_id)
        if target is None:
            token = secrets.token_urlsafe(16)  # 128 bits
            hooks = self.hooks_for(workspace_id, target_id)
            target = LiveTarget(token, workspace_id, target_id, f"{base}/live/{token}", hooks)
            self._by_token[token] = target
            self._by_target[target_id] = target
        return target

    def end(self, target_id: str) -> None:
        """The job, session or identity is over: its token answers 410 from now on."""
        target = self._by_target.pop(target_id, None)
        if target is None:
            return
        self._by_token.pop(target.token, None)
        self._gone[target.token] = None
        while len(self._gone) > GONE_KEPT:
            self._gone.popitem(last=False)

    def alive(self, target: LiveTarget) -> bool:
        return self._by_token.get(target.token) is target
