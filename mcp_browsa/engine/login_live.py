"""A login job's browser in its live view while it signs in: its `live_url`, frames with the vault's values hidden.

A person may take control (a 2FA prompt, a consent screen the form filler cannot read); the login then waits
between its steps until they hand back, as an agent task does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from mcp_browsa.engine.context import JobContext
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.engine.takeover import LiveViews, ViewHandle, control_recorder

__all__ = ["login_shown"]

log = logging.getLogger(__name__)


@asynccontextmanager
async def login_shown(
    views: LiveViews | None, ctx: JobContext, tabs: Tabs, masks: tuple[str, ...]
) -> AsyncIterator[ViewHandle | None]:
    """`tabs` shown under the job's token while the block runs (None when there is no live server)."""
    if views is None:
        yield None
        return
    async with AsyncExitStack() as stack:
        view = None
        try:
            view = await stack.enter_async_context(
                views.view(
                    ctx.workspace_id,
                    ctx.id,
                    "main",
                    tabs,
                    masks=lambda: masks,
                    on_control=control_recorder(ctx, "main"),
                )
            )
        except OSError as exc:  # the live server could not start (its port is taken): the login runs unwatched
            log.warning("login job %s has no live view: %s", ctx.id, exc)
        if view is not None:
            await ctx.set_fields(live_url=view.job_url)
        yield view
