"""Pages that try to escape the URL guard: redirects (HTTP, script, meta refresh) to any target, and a page that posts.

Install them on a `Site` with `add_guard_pages(site)`; targets come in the query string (`?to=URL`).
"""

from __future__ import annotations

import html
import json
from http.server import SimpleHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.sites import Site

__all__ = ["AUTOPOST", "JS_REDIRECT", "LEAVING_LOGIN", "META_REDIRECT", "REDIRECT", "WEBSOCKET", "add_guard_pages"]

REDIRECT = "/guardtest/redirect"  # 302 to ?to=
JS_REDIRECT = "/guardtest/js-redirect"  # location.replace(?to=) once loaded
META_REDIRECT = "/guardtest/meta-redirect"  # <meta http-equiv=refresh> to ?to=
LEAVING_LOGIN = "/guardtest/leaving-login"  # a sign-in form that sends the page to ?to= right after it loads
# Opens a WebSocket to ?to=, sends "hello", and shows what became of it: "socket: echo hello" or "socket: closed …".
WEBSOCKET = "/guardtest/websocket"
# Sends a fetch POST, an OPTIONS with a body (?options=body) and one without (?options=none) as soon as it loads,
# and with ?form=1 submits a form once loaded.
AUTOPOST = "/guardtest/autopost"


def _to(h: SimpleHTTPRequestHandler) -> str:
    return parse_qs(urlsplit(h.path).query).get("to", ["/"])[-1]


def _js_to(h: SimpleHTTPRequestHandler) -> str:
    """?to= as a JS string literal that cannot close the script element."""
    return json.dumps(_to(h)).replace("<", "\\u003c")


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
    _html(h, f"</head><body><p>moving on</p><script>location.replace({_js_to(h)});</script></body></html>")


def _meta_redirect(h: SimpleHTTPRequestHandler) -> None:
    target = html.escape(_to(h), quote=True)
    _html(h, f'<meta http-equiv="refresh" content="0;url={target}"></head><body><p>moving on</p></body></html>')


def _leaving_login(h: SimpleHTTPRequestHandler) -> None:
    _html(
        h,
        "</head><body><form method='post'><input type='email' name='email'><input type='password' name='password'>"
        "<button type='submit'>Sign in</button></form>"
        f"<script>addEventListener('load', () => setTimeout(() => location.assign({_js_to(h)})));</script></body></html>",
    )


def _websocket(h: SimpleHTTPRequestHandler) -> None:
    _html(
        h,
        "</head><body><p>live chat</p><p id='out'></p><script>"
        f"const out = document.getElementById('out'); const ws = new WebSocket({_js_to(h)});"
        "ws.onopen = () => ws.send('hello');"
        "ws.onmessage = (e) => { out.textContent = 'socket: ' + e.data; };"
        "ws.onclose = (e) => { if (!out.textContent) out.textContent = `socket: closed ${e.code} ${e.reason}`; };"
        "</script></body></html>",
    )


def _autopost(h: SimpleHTTPRequestHandler) -> None:
    if h.command != "GET":  # only the bodyless OPTIONS belongs here: anything else got through the guard
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
        f"fetch('{AUTOPOST}?options=body', {{method: 'OPTIONS', body: 'q=options'}}).catch(() => null);"
        f"fetch('{AUTOPOST}?options=none', {{method: 'OPTIONS'}}).catch(() => null);"
        # Right after the load event: the refused submission lands while a reader of the loaded page is at work.
        "if (location.search.includes('form=1'))"
        " addEventListener('load', () => setTimeout(() => document.forms[0].submit()));</script></body></html>",
    )


def add_guard_pages(site: Site) -> Site:
    site.routes.update({REDIRECT: _redirect, JS_REDIRECT: _js_redirect, META_REDIRECT: _meta_redirect})
    site.routes[LEAVING_LOGIN] = _leaving_login
    site.routes[WEBSOCKET] = _websocket
    site.routes[AUTOPOST] = _autopost
    return site
