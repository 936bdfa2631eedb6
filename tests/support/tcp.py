"""A raw TCP server on a free loopback port, for tests and benchmarks of what the egress proxy relays."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.abc import SocketAttribute, SocketStream

__all__ = ["tcp_server"]


@asynccontextmanager
async def tcp_server(handler: Callable[[SocketStream], Awaitable[None]]) -> AsyncIterator[int]:
    """Serve each connection with `handler` for the block; yields the port."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        try:
            yield listener.extra(SocketAttribute.local_port)
        finally:
            tg.cancel_scope.cancel()
