"""An HTTP transport for the vendor SDKs that checks every address it connects to, and connects to that address.

The URL, the Host header and TLS (SNI, certificate name) stay the ones the SDK asked for; only the TCP connection
is made here: resolve the name once, hand the addresses to the check, connect to a checked one. There is no second
lookup for a rebinding DNS server to answer differently. Every connection goes through it, redirects included.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpcore2
import httpx2

from mcp_browsa.browser.netpolicy import IPAddress, normalize_host
from mcp_browsa.llm.endpoint import resolve

__all__ = ["AddressCheck", "PinnedBackend", "pinned_transport"]

# (host as the URL names it, port, the addresses it resolved to) -> None, or raises to refuse the connection.
AddressCheck = Callable[[str | IPAddress, int, Sequence[IPAddress]], None]


class PinnedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking each host before it opens a socket to the result."""

    def __init__(self, check: AddressCheck, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self._check = check
        self._inner = inner if inner is not None else httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            name = normalize_host(host)
            addresses = await resolve(name, port)
        except (OSError, ValueError) as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from exc
        try:
            self._check(name, port, addresses)  # before any socket exists
        except Exception as exc:
            # As a connection error, which every SDK wraps as its own; the refusal rides along as the cause.
            raise httpcore2.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # resolve() never returns an empty list without raising
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("model servers are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(check: AddressCheck, tls: ssl.SSLContext | None) -> httpx2.AsyncHTTPTransport:
    """httpx's own transport (its request and error mapping) over a connection pool that uses `PinnedBackend`.

    No proxy from the environment: through a proxy the connection that matters would be the proxy's, unchecked.
    """
    transport = httpx2.AsyncHTTPTransport(verify=tls if tls is not None else True, trust_env=False)
    limits = httpx2.Limits()
    # The transport takes no network backend, so its pool is replaced by the same pool with ours; httpx uses
    # `_pool` for nothing but sending requests through it and closing it.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=tls if tls is not None else httpx2.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PinnedBackend(check),
    )
    return transport
