"""A serving process's start: its browser launches first, and the rest of the server loads beside it.

Loading the MCP SDK, the tools' models and the app costs most of a second of CPU; Playwright's driver and Chromium
take about as long, in processes of their own. One after the other they add up before the first job can run;
side by side, the first job finds Chromium up. Only `serve` and `worker` launch early: commands that never run a
browser (`jobs`, `credits`, `keys`…) start none.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.config import Settings

__all__ = ["SERVER_MODULES", "WORKER_MODULES", "in_thread", "launching", "load"]

T = TypeVar("T")

# What a server imports before it can answer `initialize`: the app, the tools and their models, the SDK. A package
# named here brings each of its modules (the tool groups, which `register_all` imports only when it runs).
SERVER_MODULES = ("mcp_browsa.app", "mcp_browsa.tools.assemble", "mcp_browsa.tools")
WORKER_MODULES = ("mcp_browsa.app",)


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
    """Import `modules` in a worker thread, so the event loop stays free to drive the browser launching meanwhile."""

    def load_all() -> None:
        for name in modules:
            module = importlib.import_module(name)
            for sub in pkgutil.iter_modules(getattr(module, "__path__", [])):
                importlib.import_module(f"{name}.{sub.name}")

    await anyio.to_thread.run_sync(load_all)


async def in_thread(build: Callable[[], T]) -> T:
    """`build()` (CPU work with no event loop in it: the tools' schemas) in a worker thread, for the same reason."""
    return await anyio.to_thread.run_sync(build)
