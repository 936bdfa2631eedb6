"""Run `mcp-browsa` as a real subprocess and talk to it with the `mcp` SDK client (stdio or HTTP).

Tests use these the way Claude Desktop or Cursor would: spawn, list tools, call them, shut down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

__all__ = [
    "HttpServer",
    "call",
    "envelope",
    "free_port",
    "server_env",
    "spawn_http",
    "stdio_client",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a server subprocess: its own data dir, quiet logs, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROWSA_")}
    env.update({"BROWSA_HOME": str(home), "BROWSA_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@asynccontextmanager
async def stdio_client(home: Path, *args: str, **env: str) -> AsyncIterator[Client]:
    """A connected client whose server is `python -m mcp_browsa` spawned over stdio."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_browsa", *args], env=server_env(home, **env))
    async with Client(params, read_timeout_seconds=180) as client:
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None, **kw: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments or {}, **kw)


def envelope(result: CallToolResult) -> dict[str, Any]:
    """The error envelope of a failed call (asserting it is one)."""
    assert result.is_error, f"expected an error, got {result.structured_content}"
    text = result.content[0].text  # type: ignore[union-attr]
    body = json.loads(text)
    assert set(body) >= {"code", "error", "request_id"}, body
    return body  # type: ignore[no-any-return]


@dataclass
class HttpServer:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@contextmanager
def spawn_http(home: Path, *args: str, transport: str = "http", **env: str) -> Iterator[HttpServer]:
    """`mcp-browsa serve --transport http` on a free loopback port, waiting until it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "mcp_browsa", *args, "serve", "--transport", transport, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=server_env(home, **env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = HttpServer(proc, port, home)
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start listening in 60 s") from None
                time.sleep(0.1)
        yield server
    finally:
        server.stop()
