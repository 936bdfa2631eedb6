"""Model calls made for a job outside the agent loop, charged as agent steps: credits, tokens and USD on the job,
an event in its timeline.

`extract` with a model and `act`/`observe` with an instruction on a session make one or a few model calls each;
`ChargedModel` wraps whichever model serves them (a vendor's, or the client's through sampling) so that every
call is paid for and recorded the moment it returns, whatever the caller does with the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp_browsa.engine.billing import charge_step
from mcp_browsa.engine.context import JobContext
from mcp_browsa.llm.base import ChatModel, Completion, Message, ToolChoice, ToolSpec
from mcp_browsa.models import PriceTable
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.progress import JobProgressRepo

__all__ = ["ChargedModel", "charge_model_call"]


async def charge_model_call(
    ctx: JobContext, prices: PriceTable, completion: Completion, description: str, event: str, data: dict[str, Any]
) -> None:
    """One agent step's credits for `completion`, its tokens and USD on the job, and `event` in the timeline."""
    usage = completion.usage

    async def counters(conn: Conn) -> None:
        await JobProgressRepo.add_model_usage(
            conn, ctx.id, usage.input_tokens, usage.output_tokens, completion.cost_usd
        )

    recorded = {**data, "model": completion.model, "tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    await charge_step(ctx, prices, description, usd=completion.cost_usd, event=(event, recorded), also=counters)


class ChargedModel:
    """`model` with each call charged to `ctx`'s job as `event` (e.g. "act.model"), numbered from 1."""

    def __init__(self, model: ChatModel, ctx: JobContext, prices: PriceTable, event: str, data: dict[str, Any]) -> None:
        self.inner = model
        self.model = model.model
        self.ctx = ctx
        self.prices = prices
        self.event = event
        self.data = data
        self.calls = 0

    async def ainvoke(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        system: str,
        tool_choice: ToolChoice = "required",
        max_tokens: int = 1024,
    ) -> Completion:
        completion = await self.inner.ainvoke(
            messages, tools, system=system, tool_choice=tool_choice, max_tokens=max_tokens
        )
        self.calls += 1
        description = f"{self.event.split('.')[0]} model call {self.calls}"
        await charge_model_call(
            self.ctx, self.prices, completion, description, self.event, {"call": self.calls, **self.data}
        )
        return completion
