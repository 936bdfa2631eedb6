"""The MCP server with its tools: a `BrowsaServer` for one app, and the tool groups registered on it.

Lives above both `server` (the error boundary) and the tool modules, which register on that server.
"""

from __future__ import annotations

from mcp_browsa import __version__
from mcp_browsa.app import Browsa
from mcp_browsa.server import INSTRUCTIONS, BrowsaServer
from mcp_browsa.tools import register_all
from mcp_browsa.tools.job_tasks import TASK_TOOLS, JobTasks, task_calls

__all__ = ["TOOL_GROUPS", "build_server"]

TOOL_GROUPS = ("tasks", "quick", "browser", "identities", "webhooks", "account", "content")


def build_server(app: Browsa, *, groups: tuple[str, ...] | None = None) -> BrowsaServer:
    """The server with the tools `groups` names: groups, single tool names or profiles (all when None).

    An unknown name raises ValueError, listing what exists.
    """
    server = BrowsaServer(
        extensions=[JobTasks(app)],
        task_tools=TASK_TOOLS,
        name="mcp-browsa",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=app.settings.log_level
        if app.settings.log_level in ("DEBUG", "INFO", "WARNING", "ERROR")
        else "WARNING",
    )
    server.middleware.append(task_calls)
    register_all(server, app, groups or TOOL_GROUPS)
    return server
