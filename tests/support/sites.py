"""A real local HTTP server for test pages: static files from tests/sites plus programmable routes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["SITES_DIR", "Site", "serve_site"]

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


@contextmanager
def serve_site(host: str = "127.0.0.1", port: int = 0) -> Iterator[Site]:
    """Serve tests/sites on host (any free port by default) in a background thread."""
    site = Site(host=host, port=0)
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
