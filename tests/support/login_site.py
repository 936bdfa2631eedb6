"""Login pages for vault and login tests: one-step, two-step, script-driven and GET forms, plus an exfiltrating one.

`add_login_pages(site, username, password)` installs them; `LoginLog.posts` records what each form delivered, so a
test can check the right values reached the right server (and no value reached another).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.sites import Site

__all__ = ["LoginLog", "add_login_pages"]


@dataclass
class LoginLog:
    username: str
    password: str
    posts: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, fields) of every form received


def _send(h: SimpleHTTPRequestHandler, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
    data = body.encode()
    h.send_response(status)
    h.send_header("Content-Type", "text/html; charset=utf-8")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def _fields(h: SimpleHTTPRequestHandler) -> dict[str, str]:
    length = int(h.headers.get("Content-Length") or 0)
    raw = h.rfile.read(length).decode() if length else ""
    if h.headers.get("Content-Type", "").startswith("application/json"):
        return {k: str(v) for k, v in json.loads(raw or "{}").items()}
    return {k: v[-1] for k, v in parse_qs(raw).items()}


def _page(title: str, body: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


_DECOYS = (
    '<form action="/search"><input type="search" name="q" placeholder="Search the site"></form>'
    '<aside><input type="text" name="newsletter_email" placeholder="Newsletter e-mail"></aside>'
)


def _one_step(error: str = "") -> str:
    err = f'<div class="error" role="alert">{html.escape(error)}</div>' if error else ""
    return _page(
        "Sign in",
        f"{_DECOYS}<h1>Sign in</h1>{err}"
        '<form method="post" action="/login">'
        '<label>Email <input type="email" name="email" autocomplete="username"></label>'
        '<label>Password <input type="password" name="password" autocomplete="current-password"></label>'
        '<button type="button">Show password</button><button type="submit">Sign in</button></form>',
    )


def add_login_pages(site: Site, username: str, password: str, *, exfil_to: str | None = None) -> LoginLog:
    """Install the login pages on `site`; `exfil_to` is a URL the /exfil page's form posts to (another host)."""
    log = LoginLog(username, password)
    session = "session=signed-in; Path=/"

    def ok(fields: dict[str, str], user_key: str = "email") -> bool:
        return fields.get(user_key) == username and fields.get("password") == password

    def login(h: SimpleHTTPRequestHandler) -> None:
        if h.command != "POST":
            _send(h, 200, _one_step())
            return
        fields = _fields(h)
        log.posts.append(("/login", fields))
        if ok(fields):
            _send(h, 303, headers={"Location": "/account", "Set-Cookie": session})
        else:
            # Echoes the username the way many sites do: the job must mask it in what it records.
            _send(h, 200, _one_step(f"Incorrect password for {fields.get('email', '')}"))

    def account(h: SimpleHTTPRequestHandler) -> None:
        if "signed-in" not in (h.headers.get("Cookie") or ""):
            _send(h, 303, headers={"Location": "/login"})
            return
        who = html.escape(username)
        _send(
            h,
            200,
            _page(
                f"Account of {who}",
                f'<nav id="user-menu">Signed in as {who}</nav><h1>Your account</h1>'
                '<form method="post" action="/verify"><label>Verification code'
                ' <input name="code" autocomplete="one-time-code"></label><button>Verify</button></form>',
            ),
        )

    def verify(h: SimpleHTTPRequestHandler) -> None:
        fields = _fields(h)
        log.posts.append(("/verify", fields))
        _send(h, 200, _page("Verified", "<h1>Verified</h1><p>Your device is trusted now.</p>"))

    def two_step(h: SimpleHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        if h.command != "POST":
            _send(
                h,
                200,
                _page(
                    "Sign in — step 1",
                    '<form method="post" action="/two-step/password"><label>Username'
                    ' <input type="text" name="login" id="login_field"></label>'
                    '<input type="submit" value="Next"></form>',
                ),
            )
            return
        fields = _fields(h)
        log.posts.append((path, fields))
        if path == "/two-step/password":
            user = html.escape(fields.get("login", ""), quote=True)
            _send(
                h,
                200,
                _page(
                    "Sign in — step 2",
                    '<form method="post" action="/two-step/done">'
                    f'<input type="hidden" name="login" value="{user}">'
                    '<label>Password <input type="password" name="password"></label>'
                    "<button>Continue</button></form>",
                ),
            )
        elif ok(fields, "login"):
            _send(h, 303, headers={"Location": "/account", "Set-Cookie": session})
        else:
            _send(h, 200, _one_step("Wrong username or password"))

    spa_page = _page(
        "App",
        '<div id="app"><form id="f"><input name="user" placeholder="Username">'
        '<input name="password" type="password" placeholder="Password">'
        '<button type="submit">Log in</button></form><p id="msg"></p></div>'
        "<script>document.getElementById('f').addEventListener('submit', async (e) => {"
        " e.preventDefault(); const f = e.target;"
        " const r = await fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        "   body: JSON.stringify({user: f.user.value, password: f.password.value})});"
        " if (r.ok) { document.getElementById('app').innerHTML = '<h1>Dashboard</h1>'; }"
        " else { const m = document.getElementById('msg'); m.className = 'error'; m.textContent = 'Login failed'; }"
        "});</script>",
    )

    def spa(h: SimpleHTTPRequestHandler) -> None:
        _send(h, 200, spa_page)

    def api_login(h: SimpleHTTPRequestHandler) -> None:
        fields = _fields(h)
        log.posts.append(("/api/login", fields))
        _send(h, 200 if ok(fields, "user") else 401, "{}")

    def get_login(h: SimpleHTTPRequestHandler) -> None:
        # A form sent with GET puts both values in the URL: everything the job records about URLs must mask them.
        _send(
            h,
            200,
            _page(
                "Old sign in",
                '<form action="/welcome"><input name="username" autocomplete="username">'
                '<input type="password" name="password"><input type="submit" value="Log in"></form>',
            ),
        )

    def welcome(h: SimpleHTTPRequestHandler) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(h.path).query).items()}
        log.posts.append(("/welcome", query))
        good = query.get("username") == username and query.get("password") == password
        _send(h, 200, _page("Welcome" if good else "Denied", "<h1>Welcome</h1>" if good else "<h1>Denied</h1>"))

    def exfil(h: SimpleHTTPRequestHandler) -> None:
        target = html.escape(exfil_to or "/nowhere", quote=True)
        method = "get" if "method=get" in h.path else "post"  # GET puts the values in the refused URL itself
        _send(
            h,
            200,
            _page(
                "Sign in",
                f'<form method="{method}" action="{target}"><input type="email" name="email">'
                '<input type="password" name="password"><button type="submit">Sign in</button></form>',
            ),
        )

    for path, route in {
        "/login": login,
        "/account": account,
        "/verify": verify,
        "/two-step": two_step,
        "/two-step/password": two_step,
        "/two-step/done": two_step,
        "/spa": spa,
        "/api/login": api_login,
        "/get-login": get_login,
        "/welcome": welcome,
        "/exfil": exfil,
    }.items():
        site.routes[path] = route
    return log
