"""MCP tool adapters, one module per group: validate input, call the Browsa app, return a model.

`register_all` wires the selected groups and tools onto a server; nothing here holds state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_browsa.app import Browsa
    from mcp_browsa.server import BrowsaServer

__all__ = ["register_all"]


def register_all(server: BrowsaServer, app: Browsa, wanted: Iterable[str]) -> None:
    """Register every group, then drop the tools `wanted` (groups, tool names, profiles) leaves out."""
    from mcp_browsa.tools import (
        account,
        auto,
        content,
        identities,
        jobs,
        keys,
        login,
        quick,
        resources,
        sessions,
        tasks,
        webhooks,
    )
    from mcp_browsa.tools.selection import selected_tools

    modules = {"quick": (quick,), "content": (content,), "jobs": (jobs,), "tasks": (tasks, auto)}
    modules |= {"account": (account, keys)}
    modules |= {"webhooks": (webhooks,), "browser": (sessions,), "identities": (identities, login)}
    groups: dict[str, list[str]] = {}
    for group, members in modules.items():
        before = len(server.tool_names)
        for module in members:
            module.register(server, app)
        groups[group] = server.tool_names[before:]
    groups["tasks"] = groups["jobs"] + groups["tasks"]  # run_task's job tools come with it
    keep = selected_tools(wanted, groups, server.tool_names)
    for name in [n for n in server.tool_names if n not in keep]:
        server.remove_tool(name)
        server.tool_names.remove(name)
    resources.register(server, app)
