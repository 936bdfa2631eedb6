"""The stdio transport: the SDK's stdio server, fed by a stdin reader that shutdown never waits for.

The SDK reads stdin in a worker thread that cannot be cancelled, so on SIGTERM or SIGINT the server would
hang until the host wrote another line or closed the pipe. Here a daemon thread reads stdin and hands each
line over through a portal: cancelling stops the hand-over at once, and the thread ends with the process.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, Any, cast

import anyio
from anyio.from_thread import BlockingPortal
from mcp.server.stdio import stdio_server

from mcp_browsa.server import BrowsaServer

__all__ = ["StdinLines", "serve_stdio"]


class StdinLines:
    """`async for line in lines`: the lines of `fp`, read by a daemon thread and passed in through `portal`."""

    def __init__(self, fp: IO[str], portal: BlockingPortal) -> None:
        self._fp = fp
        self._portal = portal
        self._send, self._receive = anyio.create_memory_object_stream[str](0)
        self._reader: threading.Thread | None = None

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._reader is None:
            self._reader = threading.Thread(target=self._pump, name="mcp-browsa stdin", daemon=True)
            self._reader.start()
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop taking lines; a hand-over the thread is blocked in fails, and the thread returns."""
        self._receive.close()

    def _pump(self) -> None:
        try:
            for line in iter(self._fp.readline, ""):
                self._portal.call(self._send.send, line)
            self._portal.call(self._send.aclose)  # EOF: the host closed stdin
        except Exception:
            pass  # the server stopped reading (shutdown): nothing is waiting for this thread


def _own_stdin() -> IO[str] | None:
    """A text stream on a duplicate of fd 0 (closing it leaves sys.stdin alone), or None without a real fd 0."""
    try:
        return open(os.dup(sys.stdin.fileno()), encoding="utf-8", errors="replace")
    except (AttributeError, OSError, ValueError):
        return None


async def serve_stdio(server: BrowsaServer) -> None:
    """Serve MCP over stdin/stdout until stdin ends; cancelling returns at once, even while stdin is open."""
    fp = _own_stdin()
    if fp is None:
        await server.run_stdio_async()  # the SDK's own reader
        return
    lowlevel = server._lowlevel_server
    async with BlockingPortal() as portal:
        lines = StdinLines(fp, portal)
        try:
            async with stdio_server(stdin=cast("Any", lines)) as (read_stream, write_stream):  # it only iterates
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        finally:
            lines.close()
