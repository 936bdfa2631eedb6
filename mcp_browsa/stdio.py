"""The stdio transport: the SDK's stdio server, fed by a stdin reader that shutdown never waits for.

The SDK reads stdin in a worker thread that cannot be cancelled, so on SIGTERM or SIGINT the server would
hang until the host wrote another line or closed the pipe. Here a daemon thread reads stdin and hands each
line over through a portal: cancelling stops the hand-over at once, and the thread ends with the process.
A request the SDK cannot parse (arguments nested deeper than its parser goes) is answered here with the error
envelope; the SDK would drop it silently and leave the client waiting forever.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import IO, Any, cast

import anyio
import mcp_types
from anyio.from_thread import BlockingPortal
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from mcp_browsa.errors import BadRequest
from mcp_browsa.server import BrowsaServer

__all__ = ["StdinLines", "refusal", "serve_stdio", "top_level"]


class StdinLines:
    """`async for line in lines`: the lines of `fp`, read by a daemon thread and passed in through `portal`."""

    def __init__(self, fp: IO[str], portal: BlockingPortal) -> None:
        self._fp = fp
        self._portal = portal
        self._send, self._receive = anyio.create_memory_object_stream[str](0)
        self._reader: threading.Thread | None = None
        # Where answers to requests the SDK cannot parse go (the server's outgoing stream), once it exists.
        self.answer: Callable[[SessionMessage], Awaitable[None]] | None = None

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._reader is None:
            self._reader = threading.Thread(target=self._pump, name="mcp-browsa stdin", daemon=True)
            self._reader.start()
        while True:
            try:
                line = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
            answer = self.answer
            refused = refusal(line) if answer is not None else None
            if answer is None or refused is None:
                return line
            await answer(refused)

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
                lines.answer = write_stream.send
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        finally:
            lines.close()


_UNREADABLE = (
    "the request could not be read: it is not valid JSON-RPC, or its arguments nest deeper than the server reads"
    " (about 190 levels); send flatter arguments"
)


def refusal(line: str) -> SessionMessage | None:
    """The answer to a request line the SDK cannot parse, or None when it can (or when there is no id to answer)."""
    try:
        mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
        return None
    except ValueError:
        pass
    raw = top_level(line)
    if not isinstance(raw.get("method"), str):
        return None
    request_id = raw.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
        return None  # a notification, or no id to answer to
    message: mcp_types.JSONRPCMessage
    if raw["method"] == "tools/call":
        envelope = BadRequest(_UNREADABLE).envelope()
        result = mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=json.dumps(envelope))], is_error=True
        )
        body = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        message = mcp_types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=body)
    else:
        error = mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=_UNREADABLE)
        message = mcp_types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
    return SessionMessage(message)


_SPACE = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r'["\[\]{}]')


def top_level(line: str) -> dict[str, Any]:
    """The members of a JSON object line whose values are scalars (`jsonrpc`, `id`, `method`), read without
    descending into the others: a request nested too deep for any parser, or broken deep inside, still names the
    id its answer must carry. Reading stops quietly at the first thing that is not JSON."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] = {}
    text = line.strip()
    if not text.startswith("{"):
        return found
    i = 1
    try:
        while True:
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # matches the empty string too
            if text[i] != '"':
                return found
            key, i = decoder.raw_decode(text, i)
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if text[i] != ":":
                return found
            i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
            if text[i] in "[{":
                i = _skip_nested(text, i)
            else:
                found[key], i = decoder.raw_decode(text, i)
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if text[i] != ",":
                return found
            i += 1
    except (ValueError, IndexError, RecursionError):
        return found


def _skip_nested(text: str, start: int) -> int:
    """The index just past the array or object opening at `start`, skipping strings; ValueError if it never closes.
    A loop, not recursion: depth costs nothing here."""
    depth = 0
    i = start
    while True:
        match = _BRACKETS.search(text, i)
        if match is None:
            raise ValueError("unclosed array or object")
        char, i = match.group(), match.start()
        if char == '"':
            string = _STRING.match(text, i)
            if string is None:
                raise ValueError("unclosed string")
            i = string.end()
            continue
        depth += 1 if char in "[{" else -1
        i += 1
        if depth == 0:
            return i
