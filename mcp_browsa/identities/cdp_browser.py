"""A session browser with a CDP URL: a Chromium of its own, for a burner or on a persistent identity's profile.

Both the host's tools (through our own CDP connection) and the caller's Playwright (`connect_over_cdp`) drive it.
The URL guard's proxy holds for every request as elsewhere, and the route hook and WebSocket refusal for
allow_writes are installed on its context; but a CDP client can change the browser itself, which is why the
README warns that cdp=true trusts the caller. An identity's state is restored first and written back at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio

from mcp_browsa.browser.intercept import guard_page, install_request_guard, refuse_websockets
from mcp_browsa.browser.pool import Burner
from mcp_browsa.errors import BadRequest, NotFound
from mcp_browsa.identities.live import LiveBrowser
from mcp_browsa.identities.sessions import Sessions
from mcp_browsa.identities.spec import DEFAULT_OS, OS_TYPES
from mcp_browsa.netpolicy import Policy, intersect_allowed_domains

__all__ = ["cdp_browser"]


@asynccontextmanager
async def cdp_browser(
    sessions: Sessions,
    workspace_id: str,
    params: dict[str, Any],
    *,
    policy: Policy,
    on_block: Any,
    job_id: str,
    ttl: float,
) -> AsyncIterator[Burner]:
    """Its own Chromium for the session job `job_id`; the yielded burner's `cdp_url` is the DevTools WebSocket."""
    core = sessions.core
    identity_id = params.get("identity_id")
    live: LiveBrowser
    if identity_id:
        row = await core.repo.get(str(identity_id).strip(), workspace_id)
        if row is None:
            raise NotFound(f"identity {str(identity_id)[:60]!r} not found; list_identities shows yours")
        sessions.check_runnable(row)
        own = core.policy_of(row).allowed_domains
        policy = replace(policy, allowed_domains=intersect_allowed_domains(policy.allowed_domains, own))
        core.reserve()
        try:
            async with core.lock(row["id"]):
                live = await sessions.start_interactive(row, ttl, job_id=job_id)
        except BaseException:
            core.unreserve()
            raise
        core.live[row["id"]] = live
    else:
        os_type = params.get("os_type") or DEFAULT_OS
        if os_type not in OS_TYPES:
            raise BadRequest(f"os_type {os_type!r} is not one of {', '.join(OS_TYPES)}")
        try:
            fp = await core.new_fingerprint(os_type, params.get("country"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        core.reserve()
        try:
            live = await core.launch(job_id, workspace_id, "session", fp, policy)
        except BaseException:
            core.unreserve()
            raise
    try:
        live.lease.policy, live.lease.on_block = policy, on_block
        context = live.context
        await install_request_guard(context, live.lease)
        if not policy.allow_writes:
            await refuse_websockets(context, live.lease)
        page = context.pages[0] if context.pages else await context.new_page()
        await guard_page(page)
        yield Burner(context=context, page=page, generation=-1, cdp_url=live.process.ws_url)
    finally:
        with anyio.CancelScope(shield=True):
            if identity_id:
                await sessions.end_live(live, reason="its session ended", save=True)
            else:
                await live.stop()
                core.unreserve()
