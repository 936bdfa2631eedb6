"""The live view over HTTP: the page, its static files and its WebSocket under /live/, with their own guards.

Served beside /mcp on the HTTP transport (`LiveMount`, ahead of the API-key check: the token is the credential),
or by a loopback-only server a process without one starts when the first view opens (`LiveServer`). The Host
header is checked on every request and the Origin on the WebSocket, as on the HTTP transport, so a page in the
user's own browser cannot reach a view through DNS rebinding; responses are never cached, framed or referred.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Iterator
from importlib import resources
from typing import Any

import anyio
from anyio.abc import TaskGroup
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from mcp_browsa.live.registry import GONE, LiveRegistry
from mcp_browsa.live.viewer import Viewer

__all__ = ["LiveMount", "LiveServer", "live_security", "redact_tokens", "url_host"]

log = logging.getLogger(__name__)

_STATIC = {"live.js": "text/javascript", "live.css": "text/css"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self';"
        " frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}
_TOKEN_IN_PATH = re.compile(r"/live/[A-Za-z0-9_-]{6,}")
# WebSocket close codes a closed view answers with before accepting: 4404 unknown, 4410 ended, 4403 refused.
_WS_GONE, _WS_UNKNOWN, _WS_REFUSED = 4410, 4404, 4403


def live_security(host: str, port: int, extra_hosts: list[str] | None = None) -> TransportSecuritySettings:
    """The Host and Origin values a loopback live server answers (the same rule as the HTTP transport's)."""
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        hosts.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    hosts += extra_hosts or []
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def _matches(value: str | None, allowed: list[str]) -> bool:
    return bool(value) and any(value == a or (a.endswith(":*") and str(value).startswith(a[:-1])) for a in allowed)


def _text(status: int, body: str) -> Response:
    return PlainTextResponse(body, status_code=status, headers=_HEADERS)


def build_live_app(registry: LiveRegistry, security: TransportSecuritySettings) -> Starlette:
    page_html = _asset("live.html")

    def host_ok(headers: Any) -> bool:
        return _matches(headers.get("host"), security.allowed_hosts)

    async def page(request: Request) -> Response:
        if not host_ok(request.headers):
            return _text(403, "this address is not served here")
        found = registry.lookup(request.path_params["token"])
        if found is None:
            return _text(404, "no live view here: the link is wrong")
        if found == GONE:
            return _text(410, "this live view has ended: its job, session or browser is over")
        return Response(page_html, media_type="text/html; charset=utf-8", headers=_HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if not host_ok(request.headers) or name not in _STATIC:
            return _text(404, "not found")
        return Response(_asset(name), media_type=_STATIC[name], headers=_HEADERS)

    async def stream(ws: WebSocket) -> None:
        if not host_ok(ws.headers) or not _matches(ws.headers.get("origin"), security.allowed_origins):
            await ws.close(_WS_REFUSED)
            return
        found = registry.lookup(ws.path_params["token"])
        if found is None or found == GONE:
            await ws.close(_WS_UNKNOWN if found is None else _WS_GONE)
            return
        await ws.accept()
        target = found
        await Viewer(ws, target, ws.query_params.get("view"), lambda: registry.alive(target)).run()

    return Starlette(
        routes=[
            Route("/live/static/{name}", static),
            Route("/live/{token}", page),
            WebSocketRoute("/live/{token}/ws", stream),
        ]
    )


def _asset(name: str) -> str:
    return resources.files("mcp_browsa.live").joinpath("static").joinpath(name).read_text(encoding="utf-8")


class LiveMount:
    """ASGI: /live/ to the live view, everything else (lifespan included) to `app`."""

    def __init__(self, app: ASGIApp, live: ASGIApp) -> None:
        self.app = app
        self.live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and str(scope.get("path", "")).startswith("/live/"):
            await self.live(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class _TokenRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        return True


def redact_tokens(text: str) -> str:
    return _TOKEN_IN_PATH.sub("/live/<token>", text)


def _quiet_uvicorn_logs() -> None:
    """uvicorn logs each request's path (access log) and each WebSocket it accepts: never with a token in it."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TokenRedaction) for f in logger.filters):
            logger.addFilter(_TokenRedaction())


def _uvicorn_server(app: ASGIApp) -> Any:
    """A uvicorn server for `app` that leaves signal handling to the process; uvicorn is imported only when a
    standalone live view first starts, not on every cold start."""
    import uvicorn

    class _Uvicorn(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the process's own handlers stay in charge
            yield

    return _Uvicorn(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, ws="auto"))


class LiveServer:
    """Where this process's live views are served, and the registry of their tokens."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, own_ports: set[int] | None = None) -> None:
        self.host = host
        self.port = port
        # The guard's set of ports no browser may reach: the port views are served on joins it.
        self.own_ports = own_ports if own_ports is not None else set()
        self.registry = LiveRegistry(self.base_url)
        self._base: str | None = None
        self._tg: TaskGroup | None = None
        self._lock = anyio.Lock()
        self._standalone = False
        _quiet_uvicorn_logs()

    def bind(self, tg: TaskGroup | None) -> None:
        """The task group a standalone server runs in (the app's); None when the app stops, and the server with it."""
        self._tg = tg
        if tg is None and self._standalone:
            self._base = None
            self._standalone = False

    def mount(self, app: ASGIApp, *, port: int, base_url: str, security: TransportSecuritySettings) -> ASGIApp:
        """Serve the views beside `app` (the HTTP transport, on `port`) at `base_url`, under its Host/Origin rules."""
        self._base = base_url.rstrip("/")
        self.own_ports.add(port)
        return LiveMount(app, build_live_app(self.registry, security))

    async def base_url(self) -> str:
        async with self._lock:
            if self._base is None:
                self._base = await self._start()
            return self._base

    async def _start(self) -> str:
        if self._tg is None:
            raise RuntimeError("the live view server needs a running app")
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.setblocking(False)
        port = int(sock.getsockname()[1])
        self.own_ports.add(port)
        app = build_live_app(self.registry, live_security(self.host, port))
        server = _uvicorn_server(app)
        self._standalone = True

        async def serve() -> None:
            try:
                await server.serve(sockets=[sock])
            finally:
                sock.close()

        self._tg.start_soon(serve)
        return f"http://{url_host(self.host)}:{port}"


def url_host(host: str) -> str:
    """`host` as it goes in a URL a person on this machine opens (a wildcard bind is reached on loopback)."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
