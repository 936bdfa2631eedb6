"""Wiring every browser context to the URL guard: its own proxy port plus the request hook, before any page loads.

Warm spares are wired with a deny-all policy; the job's policy is set on the lease at hand-over,
so a spare can never load anything under another job's rules. A read-only job's context also gets its
WebSockets refused then (see `refuse_websockets` for why only then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from playwright.async_api import BrowserContext, Page

from mcp_browsa.browser.guard import EgressProxy, OnBlock, ProxyLease, context_options
from mcp_browsa.browser.intercept import guard_page, install_request_guard, refuse_websockets
from mcp_browsa.browser.pool import ContextWiring
from mcp_browsa.netpolicy import Policy, PrivateNetworkRule

__all__ = ["GuardWiring", "make_policy"]


def make_policy(
    private: PrivateNetworkRule, *, allowed_domains: Sequence[str] | None = None, allow_writes: bool = True
) -> Policy:
    """A job's guard policy; `allowed_domains` is validated here (ValueError names the bad pattern)."""
    domains = tuple(allowed_domains) if allowed_domains is not None else None
    return Policy(allowed_domains=domains, allow_writes=allow_writes, private=private)


class GuardWiring(ContextWiring):
    def __init__(self, proxy: EgressProxy, private: PrivateNetworkRule) -> None:
        self.proxy = proxy
        self.private = private
        # Nothing may load through a context that has not been handed to a job yet.
        self._closed_policy = Policy(allowed_domains=(), allow_writes=False, private=private)

    async def context_options(self) -> tuple[dict[str, Any], Any]:
        lease = await self.proxy.register(self._closed_policy)
        return context_options(lease), lease

    async def attach(self, context: BrowserContext, handle: Any) -> None:
        await install_request_guard(context, handle)

    async def ready(self, page: Page) -> None:
        await guard_page(page)

    async def configure(
        self, context: BrowserContext, handle: Any, policy: Any, on_block: Callable[[Any], None] | None
    ) -> None:
        lease: ProxyLease = handle
        lease.policy = policy if isinstance(policy, Policy) else make_policy(self.private)
        lease.on_block = _as_on_block(on_block)
        if not lease.policy.allow_writes:
            await refuse_websockets(context, lease)

    async def release(self, handle: Any) -> None:
        if handle is not None:
            await handle.close()


def _as_on_block(fn: Callable[[Any], None] | None) -> OnBlock | None:
    return fn
