"""HTTP/1 plumbing for the egress proxy: reading and parsing heads, relaying bodies, piping bytes both ways.

This is the proxy's wire format and nothing else: no policy is read or decided here. `guard.py` decides what may pass
and calls in here to move it, so the strictness that keeps request smuggling out can be read apart from the rules.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
from anyio.abc import ByteStream, TaskGroup

if TYPE_CHECKING:
    from mcp_browsa.netpolicy import Decision

__all__ = [
    "CHUNK",
    "HOP_BY_HOP",
    "MAX_HEAD",
    "STATUS_TEXT",
    "STREAM_ERRORS",
    "Buffered",
    "Refused",
    "header",
    "parse_head",
    "pump",
    "relay_head",
    "request_path",
    "send_body",
    "splice",
]

CHUNK = 256 * 1024
MAX_HEAD = 64 * 1024
STATUS_TEXT = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
STREAM_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "trailer"}
)


class Refused(Exception):
    """Answer the client with this status and stop; `blocked` is set when a policy refused."""

    def __init__(self, status: int, message: str, blocked: Decision | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.blocked = status, message, blocked


class Buffered:
    """A stream with read-ahead, so a head can be parsed and whatever followed it still piped untouched."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buf = bytearray()

    async def fill(self) -> None:
        self.buf += await self.stream.receive(CHUNK)

    async def read_until(self, delimiter: bytes, limit: int) -> bytes:
        start = 0
        while (index := self.buf.find(delimiter, start, limit + len(delimiter))) < 0:
            if len(self.buf) >= limit + len(delimiter):
                raise Refused(431, "request head too large")
            start = max(0, len(self.buf) - len(delimiter) + 1)
            await self.fill()
        end = index + len(delimiter)
        data = bytes(self.buf[:end])
        del self.buf[:end]
        return data

    def take(self, limit: int = CHUNK) -> bytes:
        data = bytes(self.buf[:limit])
        del self.buf[:limit]
        return data


def parse_head(head: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """(start-line parts, headers) of an HTTP/1.x head, strict enough that no smuggling trick reaches upstream."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    start = lines[0].split(" ")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or "\n" in value or "\r" in value or "\0" in value:
            raise Refused(400, "malformed header line")  # includes obsolete line folding
        headers.append((name, value.strip(" \t")))
    return start, headers


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name]


async def pump(src: ByteStream, dst: ByteStream, first: bytes = b"") -> None:
    """Copy until EOF, then pass the EOF on. Errors end the copy; the caller's scope tears the pair down."""
    try:
        if first:
            await dst.send(first)
        while True:
            await dst.send(await src.receive(CHUNK))
    except anyio.EndOfStream:
        try:
            await dst.send_eof()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, NotImplementedError):
            pass


async def splice(client: Buffered, upstream: Buffered, linger: float) -> None:
    """Both directions at once; once one side has finished, the other gets `linger` seconds to finish too."""

    async def one_way(tg: TaskGroup, src: ByteStream, dst: ByteStream, first: bytes) -> None:
        try:
            await pump(src, dst, first)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            tg.cancel_scope.cancel()
            return
        tg.cancel_scope.deadline = min(tg.cancel_scope.deadline, anyio.current_time() + linger)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one_way, tg, client.stream, upstream.stream, client.take(len(client.buf)))
        tg.start_soon(one_way, tg, upstream.stream, client.stream, upstream.take(len(upstream.buf)))


def request_path(head: bytes | bytearray) -> str:
    """The path of the HTTP request a head starts with ("/chat" of "GET /chat HTTP/1.1"), or ""."""
    parts = bytes(head[:2048]).split(b"\r\n", 1)[0].split(b" ")
    path = parts[1].decode("latin-1") if len(parts) == 3 else ""
    return path if path.startswith("/") else ""


async def send_body(tg: TaskGroup, client: Buffered, upstream: ByteStream, chunked: bool, length: int) -> None:
    try:
        await _copy_body(client, upstream, chunked, length)
    except (Refused, *STREAM_ERRORS):
        tg.cancel_scope.cancel()  # a broken body leaves nothing worth waiting for upstream


async def _copy_body(client: Buffered, upstream: ByteStream, chunked: bool, length: int) -> None:
    if not chunked:
        await _send_exactly(client, upstream, length)
        return
    while True:
        line = await client.read_until(b"\r\n", 4096)
        size_text = line[:-2].split(b";", 1)[0]
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise Refused(400, "malformed chunk size")  # strict, so upstream cannot frame the body differently
        size = int(size_text, 16)
        await upstream.send(line)
        if size == 0:
            while (trailer := await client.read_until(b"\r\n", MAX_HEAD)) != b"\r\n":
                await upstream.send(trailer)
            await upstream.send(trailer)
            return
        await _send_exactly(client, upstream, size + 2)


async def _send_exactly(client: Buffered, upstream: ByteStream, count: int) -> None:
    while count > 0:
        if not client.buf:
            await client.fill()
        data = client.take(count)
        count -= len(data)
        await upstream.send(data)


async def relay_head(upstream: Buffered, client: ByteStream) -> int | None:
    """Pass interim heads through and the final one with `Connection: close` (a 101 untouched); its status or None."""
    while True:
        try:
            head = await upstream.read_until(b"\r\n\r\n", MAX_HEAD)
        except (Refused, anyio.EndOfStream):
            return None  # no parsable head (HTTP/0.9, huge head, early close): the bytes are relayed as they are
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
        if status == 101 or status is None:
            await client.send(head)
            return status
        if 100 <= status < 200:
            await client.send(head)
            continue
        kept = [ln for ln in lines[1:] if ln.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive")]
        await client.send(b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""]))
        return status
