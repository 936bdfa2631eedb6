"""A real local HTTP server for test pages: static files from tests/sites plus programmable routes."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SITES_DIR", "Route", "Site", "respond", "serve_in_thread", "serve_site"]

SITES_DIR = Path(__file__).resolve().parent.parent / "sites"

Route = Callable[[SimpleHTTPRequestHandler], None]


@dataclass
class Site:
    """A running server. `routes` maps a path (no query) to a handler that writes the whole response."""

    host: str
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) seen, in order

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path


class _Handler(SimpleHTTPRequestHandler):
    site: Site

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(SITES_DIR), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> bool:
        self.site.requests.append((self.command, self.path))
        route = self.site.routes.get(self.path.split("?", 1)[0])
        if route is None:
            return False
        route(self)
        return True

    def do_GET(self) -> None:
        if not self._dispatch():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._dispatch():
            super().do_HEAD()

    def do_POST(self) -> None:
        if not self._dispatch():
            self.send_error(405)

    def do_OPTIONS(self) -> None:
        if not self._dispatch():
            self.send_error(405)


class _Server(Protocol):
    def serve_forever(self) -> None: ...
    def shutdown(self) -> None: ...


@contextmanager
def serve_in_thread(server: _Server, **serve_options: Any) -> Iterator[None]:
    """Run `server.serve_forever(**serve_options)` in a daemon thread for the block; shut it down (and close it) after."""
    thread = threading.Thread(target=server.serve_forever, kwargs=serve_options, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        close = getattr(server, "server_close", None)
        if close is not None:
            close()
        thread.join(timeout=5)


def respond(
    handler: SimpleHTTPRequestHandler,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    """Send a whole response: status, type, any further `headers`, length and body."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serve_site(host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[Site]:
    """Serve tests/sites on host (any free port by default) in a background thread; over TLS given `tls`."""
    site = Site(host=host, port=0)
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    site.port = server.server_address[1]
    with serve_in_thread(server, poll_interval=0.05):
        yield site
