"""What a job's work costs, charged in one place: the browser it opens, its minutes past the first, each model call.

Every charge goes through `JobContext.charge` (a ledger row written under the job's lease, with the batch row's
share when inside one); the runners say what they used, this module says what that costs and how it reads in
the ledger.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp_browsa.engine.context import JobContext, LeaseLost
from mcp_browsa.models import PriceTable
from mcp_browsa.storage.db import Conn

__all__ = ["charge_browser", "charge_minutes", "charge_session_minute", "charge_step"]

Also = Callable[[Conn], Awaitable[Any]]


async def charge_browser(
    ctx: JobContext, prices: PriceTable, *, identity: bool, purpose: str, prefix: str = "", also: Also | None = None
) -> None:
    """The browser a unit of work runs in, paid before it opens: a burner, or an identity's persistent session.
    Raises InsufficientCredit when the balance cannot pay, before anything starts."""
    price = prices.persistent_session if identity else prices.burner_start
    what = "identity session" if identity else "burner"
    await ctx.charge(price, f"{prefix}{what} for {purpose}", also=also)


async def charge_minutes(ctx: JobContext, prices: PriceTable, started: float, label: str) -> None:
    """The burner-minutes after the first (which came with the browser), for work that began at `started`
    (time.monotonic). Paid as far as the balance goes; nothing when the job's lease is gone."""
    minutes = math.ceil(max(0.0, time.monotonic() - started) / 60.0)
    extra = max(0, minutes - 1) * prices.burner_minute
    if not extra or ctx.lost:
        return
    try:
        await ctx.charge(extra, f"{label}: {minutes} burner-minutes", allow_partial=True)
    except LeaseLost:
        pass


async def charge_session_minute(ctx: JobContext, prices: PriceTable, minute: int) -> int:
    """A host-driven session's `minute`-th minute, as far as the balance goes; the credits actually taken."""
    return await ctx.charge(prices.burner_minute, f"session minute {minute}", allow_partial=True)


async def charge_step(
    ctx: JobContext,
    prices: PriceTable,
    description: str,
    *,
    usd: float,
    event: tuple[str, dict[str, Any]],
    also: Also,
) -> None:
    """One model call (an agent step, or a call made for extract, act or observe): its credits and USD, the event
    in the job's timeline and the job's counters, in one transaction. A call that was made is paid for, even
    past the balance."""
    await ctx.charge(prices.agent_step, description, usd=round(usd, 6), allow_partial=True, event=event, also=also)
