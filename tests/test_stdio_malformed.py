"""Every request over stdio gets an answer carrying its own id, however malformed its params: raw JSON-RPC lines
written to a spawned `mcp-browsa`, the answers read back off its stdout.

A request nested 5,000 levels deep is past every JSON parser's depth limit (Python's, pydantic's); the server
used to drop it without a word, leaving the client to wait forever.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.mcp_server import StdioServer, spawn_stdio

pytestmark = pytest.mark.anyio

DEPTH = 5000
DEEP_ARRAY = "[" * DEPTH + "]" * DEPTH
DEEP_OBJECT = '{"a":' * DEPTH + "1" + "}" * DEPTH


def request(id_: Any, method: str, params: str) -> str:
    return f'{{"jsonrpc":"2.0","id":{json.dumps(id_)},"method":"{method}","params":{params}}}'


MALFORMED: dict[Any, str] = {
    101: request(101, "tools/call", f'{{"name":"scrape","arguments":{{"url":{DEEP_ARRAY}}}}}'),
    102: request(102, "tools/call", f'{{"name":"scrape","arguments":{DEEP_OBJECT}}}'),
    # The id after the params it cannot parse, and brackets inside strings that must not count.
    "after": f'{{"jsonrpc":"2.0","method":"tools/call","params":{{"s":"]}}\\"[{{","a":{DEEP_ARRAY}}},"id":"after"}}',
    104: request(104, "tools/list", DEEP_OBJECT),
    105: request(105, "resources/read", f'{{"uri":{DEEP_ARRAY}}}'),
    106: request(106, "tools/call", "5"),
    107: request(107, "tools/call", '{"arguments":{}}'),
    108: request(108, "tools/call", '{"name":"scrape","arguments":[1,2]}'),
    109: request(109, "tools/call", '{"name":"scrape","arguments":{"url": [[[[ broken'),
    110: request(110, "no/such/method", DEEP_ARRAY),
}


async def send(server: StdioServer, line: str) -> None:
    assert server.process.stdin is not None
    await server.process.stdin.send(line.encode() + b"\n")


async def answers(server: StdioServer, wanted: set[Any], timeout: float) -> dict[Any, dict[str, Any]]:
    """Answers off stdout by id until every wanted id has one; fails the test if one is missing after `timeout`."""
    assert server.process.stdout is not None
    got: dict[Any, dict[str, Any]] = {}
    buffer = b""
    with anyio.move_on_after(timeout):
        async for chunk in server.process.stdout:
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "id" in message:
                    got[message["id"]] = message
            if wanted <= set(got):
                break
    missing = wanted - set(got)
    assert not missing, f"no answer for ids {missing} within {timeout} s"
    return got


async def test_every_malformed_request_is_answered_with_its_own_id(tmp_path: Path) -> None:
    async with spawn_stdio(tmp_path, BROWSA_WARM_SPARES="0") as server:
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        await send(server, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}))
        assert "result" in (await answers(server, {1}, 60))[1]
        await send(server, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))

        for line in MALFORMED.values():
            await send(server, line)
        await send(server, json.dumps({"jsonrpc": "2.0", "id": 200, "method": "tools/list"}))
        got = await answers(server, {*MALFORMED, 200}, 60)

        for id_ in MALFORMED:
            answer = got[id_]
            assert answer["id"] == id_
            if "error" in answer:  # a JSON-RPC error for anything but a tool call it could read the name of
                assert isinstance(answer["error"]["code"], int) and answer["error"]["message"], answer
            else:  # a tool call: the error envelope, as every failed tool call
                result = answer["result"]
                assert result["isError"] is True, answer
                envelope = json.loads(result["content"][0]["text"])
                assert envelope["code"] == "BAD_REQUEST", envelope
        assert {"error"} <= set(got[104]) and {"error"} <= set(got[110])
        # Still serving: the well-formed request after them all has its tools.
        assert any(t["name"] == "scrape" for t in got[200]["result"]["tools"])
