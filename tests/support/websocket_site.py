"""A real WebSocket echo server on loopback, in a thread, recording every message that reaches it.

Pages that talk to it: `WEBSOCKET` in tests/support/guard_pages.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.support.sites import serve_in_thread

__all__ = ["WebSocketSite", "serve_websockets"]


@dataclass
class WebSocketSite:
    host: str
    port: int
    connections: list[str] = field(default_factory=list)  # the path of every handshake that reached the server
    received: list[str] = field(default_factory=list)  # every message a client got through to it

    def url(self, path: str = "/") -> str:
        return f"ws://{self.host}:{self.port}{path}"


@contextmanager
def serve_websockets(host: str = "127.0.0.1") -> Iterator[WebSocketSite]:
    site = WebSocketSite(host, 0)

    def echo(connection: ServerConnection) -> None:
        site.connections.append(connection.request.path if connection.request else "?")
        try:
            for message in connection:
                site.received.append(str(message))
                connection.send(f"echo {message}")
        except ConnectionClosed:
            pass

    with serve(echo, host, 0, compression=None) as server:
        site.port = server.socket.getsockname()[1]
        with serve_in_thread(server):
            yield site
