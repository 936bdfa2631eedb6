"""Programmable pages for engine tests: one that never finishes loading, a slow one, and one held behind a gate.

Install them on a `Site` with `add_pages(site)`; each handler thread ends when the browser goes away.
"""

from __future__ import annotations

import threading
import time
from http.server import SimpleHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.sites import Route, Site

__all__ = ["GATED", "SLOW", "STALLED", "add_pages"]

STALLED = "/stall"  # headers and the start of a page, then a trickle of spaces: `load` never fires
SLOW = "/slow"  # a whole page after `?s=` seconds (default 2)
GATED = "/gate"  # a whole page once the site's gate is opened

_MAX_SECONDS = 180.0


def _query(handler: SimpleHTTPRequestHandler) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query).items()}


def _page(handler: SimpleHTTPRequestHandler, title: str) -> None:
    body = (
        f"<!doctype html><html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>Served for {handler.path}</p></body></html>"
    ).encode()
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass  # the browser that asked is gone


def _stalled(handler: SimpleHTTPRequestHandler) -> None:
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", "10000000")
        handler.end_headers()
        handler.wfile.write(b"<!doctype html><html><head><title>Still loading</title></head><body><p>Loading")
        handler.wfile.flush()
        deadline = time.monotonic() + _MAX_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.25)  # a page that never finishes loading, on purpose: a trickle keeps it open
            handler.wfile.write(b" ")  # fails once the browser closed the connection
            handler.wfile.flush()
    except OSError:
        pass


def _slow(handler: SimpleHTTPRequestHandler) -> None:
    seconds = float(_query(handler).get("s", "2"))
    time.sleep(min(seconds, _MAX_SECONDS))  # slow on purpose: the page a timeout is tested against
    _page(handler, "Slow page")


def _gated(gate: threading.Event) -> Route:
    def handle(handler: SimpleHTTPRequestHandler) -> None:
        if gate.wait(_MAX_SECONDS):
            _page(handler, "Gated page")

    return handle


def add_pages(site: Site, gate: threading.Event | None = None) -> threading.Event:
    """Route STALLED, SLOW and GATED on `site`; returns the gate that releases GATED pages."""
    gate = gate or threading.Event()
    site.routes.update({STALLED: _stalled, SLOW: _slow, GATED: _gated(gate)})
    return gate
