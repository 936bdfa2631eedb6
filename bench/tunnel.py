"""`python -m bench tunnel`: bytes per second through the egress proxy's CONNECT tunnel, beside the same transfer
over a direct loopback connection in the same run.

A local server sends `--mib` MiB (default 128) as fast as the reader takes them; the proxy relays them to the
reader. Target: 50 MB/s through the tunnel, a floor that a page's downloads never come near. The machine may be
shared: the ratio to the direct transfer says more than either figure alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from anyio.abc import SocketStream

from bench.common import print_table, write_json
from mcp_browsa.browser.guard import EgressProxy
from mcp_browsa.netpolicy import Policy, PrivateNetworkRule
from tests.support.tcp import tcp_server

__all__ = ["main"]

TARGET_MB_S = 50.0
BLOCK = b"x" * (1 << 20)


def _firehose(size: int) -> AbstractAsyncContextManager[int]:
    """A loopback server that sends `size` bytes to each connection and closes; its port."""

    async def send(stream: SocketStream) -> None:
        async with stream:
            for _ in range(size // len(BLOCK)):
                await stream.send(BLOCK)

    return tcp_server(send)


async def _drain(stream: SocketStream, received: int = 0) -> int:
    try:
        while True:
            received += len(await stream.receive(1 << 20))
    except anyio.EndOfStream:
        return received


async def _direct(port: int) -> tuple[int, float]:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        started = time.perf_counter()
        received = await _drain(stream)
        return received, time.perf_counter() - started


async def _tunnelled(proxy: EgressProxy, port: int) -> tuple[int, float]:
    lease = await proxy.register(Policy(private=PrivateNetworkRule.parse(f"127.0.0.1:{port}")))
    try:
        async with await anyio.connect_tcp("127.0.0.1", lease.port) as stream:
            await stream.send(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive()
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            started = time.perf_counter()
            received = await _drain(stream, len(head) - head.index(b"\r\n\r\n") - 4)
            return received, time.perf_counter() - started
    finally:
        await lease.close()


async def run(mib: int, rounds: int) -> dict[str, Any]:
    size = mib * len(BLOCK)
    rates: dict[str, list[float]] = {"direct loopback": [], "through the tunnel": []}
    async with _firehose(size) as port, EgressProxy() as proxy:
        for _ in range(rounds):  # alternated, so a busy moment on a shared machine hits both alike
            for what, transfer in (("direct loopback", _direct(port)), ("through the tunnel", _tunnelled(proxy, port))):
                received, seconds = await transfer
                assert received == size, f"{what}: {received} of {size} bytes"
                rates[what].append(size / seconds / 1e6)
    rows = [
        {
            "what": what,
            "mib": mib,
            "rounds": rounds,
            "mb_per_s": round(statistics.median(xs), 1),
            "min": round(min(xs), 1),
            "max": round(max(xs), 1),
        }
        for what, xs in rates.items()
    ]
    return {"rows": rows}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tunnel")
    parser.add_argument("--mib", type=int, default=128, help="MiB per transfer (default 128)")
    parser.add_argument("--rounds", type=int, default=5, help="transfers of each kind; medians are reported")
    args = parser.parse_args(argv)
    data = anyio.run(run, args.mib, args.rounds)
    print_table("CONNECT tunnel throughput, MB/s", data["rows"], ["what", "mib", "rounds", "mb_per_s", "min", "max"])
    direct, tunnel = (r["mb_per_s"] for r in data["rows"])
    print(f"tunnel against direct loopback in the same run: {tunnel / max(direct, 0.001):.2f}x")
    verdict = {"metric": "tunnel_mb_per_s", "value": tunnel, "target": TARGET_MB_S}
    verdict["met"] = "yes" if tunnel >= TARGET_MB_S else "NO"
    print_table("Targets", [verdict], ["metric", "value", "target", "met"])
    data["targets"] = [verdict]
    write_json("tunnel", data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
