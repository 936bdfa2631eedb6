"""A person at a session's browser: its live view, the host's calls held while the person has control, and
`human_login`, the sign-in a person does themselves while no tool reads the page.

The host's model drives a session between calls, so a person taking control in the live view pauses it at the
next call: that call waits for the hand-back (a while), then says what the person did instead of running an
action decided on a page that has since changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from mcp_browsa.engine.takeover import LiveViews, control_recorder
from mcp_browsa.errors import Forbidden, TooManyRequests
from mcp_browsa.sessions.live import LiveSession

__all__ = ["GATE_SECONDS", "refuse_page_for_login", "shown", "wait_for_person"]

GATE_SECONDS = 20.0  # how long a call waits for a person to hand the browser back (hosts cut calls near 60 s)
_KEEPALIVE_SECONDS = 5.0


@asynccontextmanager
async def shown(views: LiveViews | None, live: LiveSession) -> AsyncIterator[None]:
    """The session's browser in its live view (its `live_url`) while the block runs.

    A person holding control keeps the session from its idle timeout: they are using it.
    """
    if views is None:
        yield
        return
    ctx = live.ctx
    async with (
        views.view(
            ctx.workspace_id,
            ctx.id,
            "main",
            live.tabs,
            masks=lambda: live.masks,
            on_control=control_recorder(ctx, "main"),
        ) as view,
        anyio.create_task_group() as tg,
    ):
        live.view = view
        await ctx.set_fields(live_url=view.job_url)

        async def keep_alive() -> None:
            while True:
                await anyio.sleep(_KEEPALIVE_SECONDS)
                if view.takeover.held:
                    live.touch()

        tg.start_soon(keep_alive)
        try:
            yield
        finally:
            live.view = None
            tg.cancel_scope.cancel()


async def wait_for_person(live: LiveSession) -> str | None:
    """Before a call reads or drives the page: wait while a person holds it; then a note of what they did, if
    anything. TOO_MANY_REQUESTS when they keep it past GATE_SECONDS (the host calls again later)."""
    view = live.view
    if view is None:
        return None
    with anyio.move_on_after(GATE_SECONDS) as scope:
        turn = await view.takeover.turn(live.ctx.cancel_event)
    if scope.cancelled_caught:
        raise TooManyRequests(
            f"a person has control of session {live.id}'s browser in its live view; it comes back when they click"
            " Hand back: call again shortly",
            retry_after=10.0,
        )
    return turn.note() if turn is not None else None


def refuse_page_for_login(live: LiveSession) -> None:
    """A human_login session's page is the person's alone: no tool reads or drives it, so no password is seen."""
    if live.request.human_login:
        raise Forbidden(
            f"session {live.id} is a person's sign-in (human_login): no tool reads or drives its page. Ask the user to"
            " open its live_url, take control and sign in, then call close_session to save the login into the"
            " identity"
        )
