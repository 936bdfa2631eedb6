"""Pages that try to escape the URL guard: redirects (HTTP, script, meta refresh) to any target, and a page that posts.

Install them on a `Site` with `add_guard_pages(site)`; targets come in the query string (`?to=URL`).
"""

from __future__ import annotations

import html
import json
from http.server import SimpleHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.sites import Site

__all__ = ["AUTOPOST", "JS_REDIRECT", "META_REDIRECT", "REDIRECT", "add_guard_pages"]

REDIRECT = "/guardtest/redirect"  # 302 to ?to=
JS_REDIRECT = "/guardtest/js-redirect"  # location.replace(?to=) once loaded
META_REDIRECT = "/guardtest/meta-redirect"  # <meta http-equiv=refresh> to ?to=
AUTOPOST = "/guardtest/autopost"  # sends a fetch POST as soon as it loads, and with ?form=1 submits a form too


def _to(h: SimpleHTTPRequestHandler) -> str:
    return parse_qs(urlsplit(h.path).query).get("to", ["/"])[-1]


def _html(h: SimpleHTTPRequestHandler, body: str) -> None:
    data = f"<!doctype html><html><head><meta charset='utf-8'><title>hostile</title>{body}".encode()
    h.send_response(200)
    h.send_header("Content-Type", "text/html; charset=utf-8")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _redirect(h: SimpleHTTPRequestHandler) -> None:
    h.send_response(302)
    h.send_header("Location", _to(h))
    h.send_header("Content-Length", "0")
    h.end_headers()


def _js_redirect(h: SimpleHTTPRequestHandler) -> None:
    target = json.dumps(_to(h)).replace("<", "\\u003c")  # a JS string that cannot close the script element
    _html(h, f"</head><body><p>moving on</p><script>location.replace({target});</script></body></html>")


def _meta_redirect(h: SimpleHTTPRequestHandler) -> None:
    target = html.escape(_to(h), quote=True)
    _html(h, f'<meta http-equiv="refresh" content="0;url={target}"></head><body><p>moving on</p></body></html>')


def _autopost(h: SimpleHTTPRequestHandler) -> None:
    if h.command == "POST":  # reached only if the guard let a write through
        h.send_response(200)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")
        return
    _html(
        h,
        "</head><body><p>posting</p>"
        f'<form method="post" action="{AUTOPOST}"><input name="q" value="order"></form>'
        f"<script>fetch('{AUTOPOST}', {{method: 'POST', body: 'q=fetch'}}).catch(() => null);"
        "if (location.search.includes('form=1')) document.forms[0].submit();</script></body></html>",
    )


def add_guard_pages(site: Site) -> Site:
    site.routes.update({REDIRECT: _redirect, JS_REDIRECT: _js_redirect, META_REDIRECT: _meta_redirect})
    site.routes[AUTOPOST] = _autopost
    return site
