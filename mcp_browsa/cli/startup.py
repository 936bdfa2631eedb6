"""A serving process's start: its browser launches first, and the rest of the server loads beside it.

Loading the MCP SDK, the tools' models and the app costs most of a second of CPU; Playwright's driver and Chromium
take about as long, in processes of their own. One after the other they add up before the first job can run;
side by side, the first job finds Chromium up. Only `serve` and `worker` launch early: commands that never run a
browser (`jobs`, `credits`, `keys`…) start none.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel

from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.config import Settings

__all__ = ["SERVER_MODULES", "WORKER_MODULES", "launching", "load"]

# What a worker imports before it can run jobs, in steps of a tenth of a second or so (on this machine), leaves
# first; a server adds the SDK, the tools and their models before it can answer `initialize`. A package named here
# brings each of its modules: the tool groups, which `register_all` imports only when it runs.
WORKER_MODULES = (
    "mcp_browsa.storage.db",
    "mcp_browsa.browser.pool",
    "mcp_browsa.engine.requests",
    "mcp_browsa.engine.jobs",
    "mcp_browsa.engine.readonly",
    "mcp_browsa.engine.agent.runner",
    "mcp_browsa.identities",
    "mcp_browsa.sessions",
    "mcp_browsa.live",
    "mcp_browsa.webhooks.service",
    "mcp_browsa.app",
)
SERVER_MODULES = (
    "mcp_types",
    "mcp.server.mcpserver",
    *WORKER_MODULES,
    "mcp_browsa.server",
    "mcp_browsa.tools",
    "mcp_browsa.tools.assemble",
)


@asynccontextmanager
async def launching(settings: Settings, *, browser: bool = True) -> AsyncIterator[BrowserHost]:
    """The process's browser host, its browser launching in the background when `browser` (a front-end with
    --no-worker runs none). On exit a launch still under way is stopped and whatever it started is closed, also when
    the body fails (an unknown --tools name), whose exception comes out as itself."""
    host = BrowserHost(settings)
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            if browser:
                tg.start_soon(host.launch_early)
            try:
                yield host
            except Exception as exc:  # re-raised below as itself, not inside the task group's ExceptionGroup
                failure = exc
            tg.cancel_scope.cancel()
    finally:
        await host.close()
    if failure is not None:
        raise failure


async def load(modules: tuple[str, ...]) -> None:
    """Import `modules` one at a time, letting the event loop run in between: the launch under way gets its
    messages answered within a step. Not a thread: on a busy machine each hand-over of the GIL between an importing
    thread and the loop waits for the scheduler, and the imports came out slower than with no launch at all."""
    for name in modules:
        module = importlib.import_module(name)
        await anyio.lowlevel.checkpoint()
        for sub in pkgutil.iter_modules(getattr(module, "__path__", [])):
            importlib.import_module(f"{name}.{sub.name}")
            await anyio.lowlevel.checkpoint()
