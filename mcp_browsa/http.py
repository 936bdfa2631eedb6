"""The HTTP transports: streamable HTTP at /mcp and legacy SSE at /sse, in one Starlette app.

Binds loopback by default; every request passes `auth.HttpSecurity` first (Host/Origin against DNS rebinding,
then the API key, which picks the workspace).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from mcp_browsa.auth import HttpSecurity
from mcp_browsa.http_sessions import SessionLimits, streamable_http_app
from mcp_browsa.server import BrowsaServer
from mcp_browsa.storage.keys import ApiKeyRepo

__all__ = ["build_http_app", "serve_http", "transport_security"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Seconds open requests (a client's event stream, say) get to finish when the server stops.
SHUTDOWN_GRACE = 5


def transport_security(host: str, port: int, extra_hosts: list[str] | None = None) -> TransportSecuritySettings:
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    if host not in LOOPBACK and host not in ("0.0.0.0", "::"):
        hosts.append(f"{host}:{port}")
    hosts += extra_hosts or []
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_http_app(
    server: BrowsaServer,
    *,
    host: str,
    port: int,
    keys: ApiKeyRepo | None,
    extra_hosts: list[str] | None = None,
    sessions: SessionLimits | None = None,
) -> Starlette:
    """The ASGI app for /mcp, /sse and /messages/. `keys=None` serves without API keys (--no-auth, loopback only)."""
    security = transport_security(host, port, extra_hosts)
    app, _manager = streamable_http_app(server, sessions or SessionLimits(), security)
    sse = server.sse_app(host=host, transport_security=security)
    app.router.routes.extend(sse.routes)
    app.add_middleware(HttpSecurity, keys=keys, security=security)
    return app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the CLI owns SIGTERM/SIGINT and shuts down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(app: Any, *, host: str, port: int, log_level: str = "warning") -> None:
    """Serve until cancelled (the CLI cancels on SIGTERM/SIGINT), then stop as uvicorn does on Ctrl-C."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), lifespan="on", timeout_graceful_shutdown=SHUTDOWN_GRACE
    )
    server = _Server(config)
    try:
        await server.serve()
    except anyio.get_cancelled_exc_class():
        # Cancelled, uvicorn skips its shutdown: the app's lifespan task is left waiting, and asyncio cancels it on
        # the way out, which uvicorn logs as an ERROR with a traceback. Close connections and end the lifespan here.
        with anyio.CancelScope(shield=True):
            if server.started:
                await server.shutdown()
        raise
