"""Account tools: credits (balance, prices, recent ledger rows) and capacity (a live snapshot)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.models import Capacity, Credits
from mcp_browsa.server import BrowsaServer, caller_for

__all__ = ["register"]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def credits(
        ledger_rows: Annotated[int, Field(ge=0, le=200, description="How many recent ledger rows to include.")] = 10,
        ctx: Context[Any, Any] | None = None,
    ) -> Credits:
        """Credit balance, prices, LLM spend and recent ledger rows."""
        return await app.credits(caller_for(ctx), limit=ledger_rows)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def capacity() -> Capacity:
        """Live load: jobs queued and running, burners in use, oldest queued job's age."""
        return await app.capacity()
