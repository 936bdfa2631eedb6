"""Fixtures for host-driven sessions: local sites, and one stdio server a real MCP client drives.

The site's port is exempted with BROWSA_ALLOW_PRIVATE_NETWORK (as for a local dev server); `other` is a second
"public" host (127.0.0.2) that sessions must not reach unless allowed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from mcp import Client

from tests.support.sites import Site, respond, serve_site
from tests.support.vault_server import exempt, vault_server

__all__ = ["REPORT", "SECRET", "Stack"]

SECRET = "hunter2&swordfish"
REPORT = b"day,visits\nmon,12\ntue,30\n"


@dataclass
class Stack:
    client: Client
    home: Path
    uploads: Path
    posted: list[bytes]  # bodies the signup form's POST delivered


def add_session_routes(site: Site, posted: list[bytes]) -> None:
    def submit(req: SimpleHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        posted.append(req.rfile.read(length))
        respond(req, b"<!doctype html><title>Welcome</title><h1>Account created</h1>")

    def report(req: SimpleHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "text/csv")
        req.send_header("Content-Disposition", 'attachment; filename="visits.csv"')
        req.send_header("Content-Length", str(len(REPORT)))
        req.end_headers()
        req.wfile.write(REPORT)

    site.routes.update({"/sessions/submit": submit, "/sessions/report.csv": report})


@pytest.fixture(scope="package")
def posted() -> list[bytes]:
    return []


@pytest.fixture(scope="package")
def site(posted: list[bytes]) -> Iterator[Site]:
    with serve_site("127.0.0.1") as s:
        add_session_routes(s, posted)
        yield s


@pytest.fixture(scope="package")
def other() -> Iterator[Site]:
    with serve_site("127.0.0.2") as s:
        yield s


@pytest.fixture(scope="package")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, site: Site, other: Site, posted: list[bytes]
) -> AsyncIterator[Stack]:
    home = tmp_path_factory.mktemp("sessions-home")
    uploads = tmp_path_factory.mktemp("uploads")
    (uploads / "cv.txt").write_text("Ada Lovelace, analyst\n")
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": exempt(site, other), "BROWSA_UPLOAD_DIR": str(uploads)}
    async with vault_server(home, {"site_password": SECRET}, **env) as client:
        yield Stack(client, home, uploads, posted)
