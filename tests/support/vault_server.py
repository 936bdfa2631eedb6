"""A stdio server over a fresh data dir whose vault holds secrets set the way an operator sets them (the CLI),
with chosen local sites exempted from the private-network rule.

The safety and sessions suites drive one such server per package; this is where it is put together.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client

from tests.support.mcp_server import server_env, stdio_client
from tests.support.sites import Site

__all__ = ["exempt", "vault_server", "vault_set"]


def exempt(*sites: Site, extra: tuple[str, ...] = ()) -> str:
    """BROWSA_ALLOW_PRIVATE_NETWORK naming these sites (host:port) and any `extra` host:port, as an operator would
    for local dev servers; every other private address stays refused."""
    return ",".join([*(f"{s.host}:{s.port}" for s in sites), *extra])


def vault_set(home: Path, name: str, value: str) -> subprocess.CompletedProcess[str]:
    """`mcp-browsa vault set NAME` with the value piped on stdin, as a script would do it."""
    done = subprocess.run(
        [sys.executable, "-m", "mcp_browsa", "vault", "set", name],
        input=value,
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


@asynccontextmanager
async def vault_server(
    home: Path, secrets: Mapping[str, str], *, log: Path | None = None, **env: str
) -> AsyncIterator[Client]:
    """A client of `python -m mcp_browsa` on `home` once its vault holds `secrets`; the server's stderr goes to
    `log` when given (a test reads what it logged), and a traceback in it fails the suite at the end."""
    for name, value in secrets.items():
        vault_set(home, name, value)
    if log is None:
        async with stdio_client(home, **env) as client:
            yield client
        return
    with log.open("w", encoding="utf-8") as errlog:
        async with stdio_client(home, errlog=errlog, **env) as client:
            yield client
    _no_traceback(log)


def _no_traceback(log: Path) -> None:
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text, text[-3000:]
