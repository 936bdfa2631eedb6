"""Hostile pages for the reliability tests: endless redirects, a 50 MB page, endless alerts, a page that spins
its main thread, 100 popups and a memory eater; plus tiny pages for load tests. Install with `add_reliability_pages`.
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler

from tests.support.sites import Site

__all__ = [
    "ALERTS",
    "BIG",
    "BIG_BYTES",
    "BUSY",
    "HOSTILE",
    "MEMORY",
    "POPUPS",
    "REDIRECTS",
    "TINY",
    "add_reliability_pages",
]

REDIRECTS = "/hostile/redirect/0"  # 302 to /hostile/redirect/1, and so on: browsers give up after 20 hops
BIG = "/hostile/big"  # a 50 MB HTML page
ALERTS = "/hostile/alerts"  # alert() in an endless loop, from the first script on
BUSY = "/hostile/busy"  # loads, then spins its main thread forever: every later evaluate waits behind it
POPUPS = "/hostile/popups"  # opens 100 windows
MEMORY = "/hostile/memory"  # allocates until the tab dies
TINY = "/tiny"  # a few hundred bytes: `/tiny?n=…` (the query is echoed in the page)

# name -> path, for parametrised tests and the benchmark
HOSTILE = {
    "redirect-loop": REDIRECTS,
    "50mb-page": BIG,
    "endless-alerts": ALERTS,
    "busy-main-thread": BUSY,
    "100-popups": POPUPS,
    "memory-eater": MEMORY,
}

BIG_BYTES = 50 * 1024 * 1024
_PARAGRAPH = b"<p>" + b"All work and no play makes a large page. " * 1600 + b"</p>\n"
_REDIRECT_HOPS = 64


def _send(handler: SimpleHTTPRequestHandler, body: bytes, status: int = 200, location: str | None = None) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        if location is not None:
            handler.send_header("Location", location)
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass  # the browser went away first


def _html(title: str, body: str) -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _scripted(title: str, script: str) -> Callable[[SimpleHTTPRequestHandler], None]:
    page = _html(title, f"<h1>{title}</h1><script>{script}</script>")
    return lambda handler: _send(handler, page)


def _redirect(handler: SimpleHTTPRequestHandler) -> None:
    n = int(handler.path.split("?", 1)[0].rsplit("/", 1)[-1])
    _send(handler, b"", 302, location=f"/hostile/redirect/{n + 1}")


def _big(handler: SimpleHTTPRequestHandler) -> None:
    head = b"<!doctype html><html><head><title>A very large page</title></head><body><h1>A very large page</h1>\n"
    tail = b"</body></html>"
    count, pad = divmod(BIG_BYTES - len(head) - len(tail), len(_PARAGRAPH))
    block = _PARAGRAPH * 4
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(BIG_BYTES))
        handler.end_headers()
        handler.wfile.write(head)
        for _ in range(count // 4):
            handler.wfile.write(block)
        handler.wfile.write(_PARAGRAPH * (count % 4) + b" " * pad + tail)
    except OSError:
        pass


def _tiny(handler: SimpleHTTPRequestHandler) -> None:
    _send(handler, _html("Tiny", f"<h1>Tiny</h1><p>{handler.path}</p><a href='/tiny?n=next'>next</a>"))


def add_reliability_pages(site: Site) -> Site:
    """Route every hostile page and TINY on `site`."""
    site.routes.update(
        {
            BIG: _big,
            ALERTS: _scripted("Alerts", "for (;;) alert('hello again');"),
            BUSY: _scripted("Busy", "addEventListener('load', () => setTimeout(() => { for (;;) {} }, 50));"),
            POPUPS: _scripted("Popups", "for (let i = 0; i < 100; i++) window.open('/tiny?n=popup' + i, 'w' + i);"),
            MEMORY: _scripted(
                "Memory", "const hoard = []; for (;;) hoard.push(new Array(1 << 20).fill(Math.random()));"
            ),
            TINY: _tiny,
        }
    )
    for n in range(_REDIRECT_HOPS):
        site.routes[f"/hostile/redirect/{n}"] = _redirect
    return site
