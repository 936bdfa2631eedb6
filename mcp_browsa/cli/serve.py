"""`mcp-browsa` and `mcp-browsa serve`: the MCP server over stdio or HTTP until the client leaves or a signal stops it."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from mcp_browsa import __version__
from mcp_browsa.cli.output import say
from mcp_browsa.cli.startup import SERVER_MODULES, launching, load
from mcp_browsa.config import Settings

if TYPE_CHECKING:
    from mcp_browsa.browser.host import BrowserHost

__all__ = ["STDIO_AT_A_TERMINAL", "run_http_server", "run_stdio_server"]

log = logging.getLogger("mcp_browsa")


# Said on stderr when a person starts the server by hand: stdout is the protocol, so it stays silent.
STDIO_AT_A_TERMINAL = (
    "mcp-browsa is an MCP server on stdio: it is now waiting for an MCP client (Claude Desktop, Cursor, Cline…)"
    " to speak the protocol on its stdin and stdout, so typing here does nothing useful.\n"
    "To try it at a terminal: `mcp-browsa demo` (a real browser job end to end) or `mcp-browsa scrape URL`;"
    " `mcp-browsa --help` lists every command. Ctrl-C stops the server."
)


async def _watch_signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for sig in signals:
            log.info("received %s; shutting down", signal.Signals(sig).name)
            scope.cancel()
            return


async def _run_until_signal(body: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, tg.cancel_scope)
        await body()
        tg.cancel_scope.cancel()


async def run_stdio_server(settings: Settings, groups: tuple[str, ...] | None, no_worker: bool = False) -> None:
    async with launching(settings, browser=not no_worker) as host:
        await load((*SERVER_MODULES, "mcp_browsa.stdio"))  # while Chromium starts
        from mcp_browsa.app import Browsa
        from mcp_browsa.stdio import serve_stdio
        from mcp_browsa.tools.assemble import build_server

        app = Browsa(settings, early_host=host)
        # An unknown tool name stops here, before the database opens (a browser launching meanwhile is stopped).
        server = build_server(app, groups=groups)
        async with app.running(workers=not no_worker, background=True):
            # Returns when stdin reaches EOF (the host closed us) or on SIGTERM/SIGINT, even with stdin still open.
            # Leaving the block closes Chromium.
            await _run_until_signal(lambda: serve_stdio(server))


async def run_http_server(settings: Settings, args: argparse.Namespace, groups: tuple[str, ...] | None) -> None:
    async with launching(settings, browser=not args.no_worker) as host:
        await load((*SERVER_MODULES, "mcp_browsa.http"))  # while Chromium starts
        await _serve_http(settings, args, groups, host)


async def _serve_http(
    settings: Settings, args: argparse.Namespace, groups: tuple[str, ...] | None, host: BrowserHost
) -> None:
    from mcp_browsa.app import Browsa
    from mcp_browsa.cli.live import live_base_url
    from mcp_browsa.http import build_http_app, serve_http, transport_security
    from mcp_browsa.http_sessions import SessionLimits
    from mcp_browsa.tools.assemble import build_server

    sessions = SessionLimits(
        settings.max_http_sessions, settings.max_http_sessions_per_key, settings.http_session_idle_seconds
    )
    app = Browsa(settings, early_host=host)
    server = build_server(app, groups=groups)
    async with app.running(workers=not args.no_worker, background=True):
        keys = None if args.no_auth else app.keys
        mcp_app = build_http_app(
            server, host=args.host, port=args.port, keys=keys, extra_hosts=args.allowed_host, sessions=sessions
        )
        http_app = app.live.mount(
            mcp_app,
            port=args.port,
            base_url=live_base_url(args.host, args.port, args.allowed_host),
            security=transport_security(args.host, args.port, args.allowed_host),
        )
        say(f"mcp-browsa {__version__}: streamable HTTP at http://{args.host}:{args.port}/mcp, SSE at /sse")
        if keys is None:
            say("API keys are off (--no-auth): anything on this machine can use this server")
        elif not await keys.active_count():
            say("no API key minted yet: every request gets 401 until you run `mcp-browsa keys mint`")
        await _run_until_signal(
            lambda: serve_http(http_app, host=args.host, port=args.port, log_level=settings.log_level)
        )
