"""A TCP listener that must receive nothing: it records every connection made to it and the bytes sent.

Stands in for an internal service (a database admin page, a metadata endpoint) that an attacker wants the server
to reach; a test asserts `hits == []` after the attempt.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

__all__ = ["Tripwire"]


class Tripwire:
    """`with Tripwire("127.0.0.1") as wire:` listens on a free port of that address (IPv6 when it has a colon)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"tripwire {host}:{self.port}", daemon=True)

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.hits.append(data or b"(connected, sent nothing)")

    def __enter__(self) -> Tripwire:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
