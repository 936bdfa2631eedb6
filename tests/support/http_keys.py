"""The `mcp` SDK client on the HTTP transports with an API key, and keys minted with the real CLI.

`refusals` collects the HTTP responses a server refused (status ≥ 400, body read), so a test can see the 401
envelope behind whatever the SDK raised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.mcp_server import HttpServer, run_cli

__all__ = ["Connect", "base_url", "http_client", "leaves", "mint", "sse"]

# http_client or sse: (base URL, key or None, refusals list or None) -> a connected client.
Connect = Callable[..., AbstractAsyncContextManager[Client]]


def base_url(server: HttpServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def mint(home: Path, workspace: str, **env: str) -> str:
    """`mcp-browsa keys mint --workspace W`: the printed key, checked for its documented shape."""
    done = run_cli(home, "keys", "mint", "--workspace", workspace, "--name", f"{workspace} key", **env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("agt_live_") and len(key) == len("agt_live_") + 24
    return key


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple):
        return [leaf for e in inner for leaf in leaves(e)]
    return [exc]


def _hooks(refusals: list[httpx2.Response] | None) -> dict[str, list[Any]]:
    if refusals is None:
        return {}

    async def keep(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            await response.aread()  # the SDK may never read a refused body; read it while the stream is open
            refusals.append(response)

    return {"response": [keep]}


@asynccontextmanager
async def http_client(
    base: str, key: str | None, refusals: list[httpx2.Response] | None = None
) -> AsyncIterator[Client]:
    """Streamable HTTP (`/mcp`), the key in `X-API-Key`."""
    headers = {"X-API-Key": key} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300), event_hooks=_hooks(refusals)) as http,
        Client(streamable_http_client(base + "/mcp", http_client=http)) as client,
    ):
        yield client


@asynccontextmanager
async def sse(
    base: str, key: str | None, refusals: list[httpx2.Response] | None = None, **headers: str
) -> AsyncIterator[Client]:
    """Legacy SSE (`/sse`), the key in `Authorization: Bearer`."""
    if key:
        headers["Authorization"] = f"Bearer {key}"

    def factory(
        headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, event_hooks=_hooks(refusals))

    async with Client(sse_client(base + "/sse", headers=headers, httpx_client_factory=factory)) as client:
        yield client
