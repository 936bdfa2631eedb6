"""The URL guard's enforcement: an egress proxy every browser context is forced through.

Why a proxy and not an in-browser hook alone: a hook sees URLs, not the addresses names resolve to (so no defence
against DNS rebinding or a public name pointing at 10.0.0.1), and never sees WebSockets. The proxy resolves each
host itself, refuses if any address is forbidden, connects to exactly the address it checked, and past the request
head only copies bytes. The in-browser hook (`intercept.py`) keeps what TLS hides from the proxy: the scheme and
the method. Under allow_writes=false a write is any method but GET/HEAD/OPTIONS or any request with a body, and no
WebSocket may open at all: the proxy refuses every ws:// (upgrade or plaintext tunnel), `refuse_websockets` closes
the pages' own, wss:// included, before they connect. A wss:// opened inside a web worker is the one left: to the
proxy it is a TLS tunnel like any HTTPS one, and the stand-in does not reach workers.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import SocketStream

from mcp_browsa.browser.egress_access import PROXY_REALM, ProxyAccess, ProxyLease
from mcp_browsa.browser.http1 import (
    HOP_BY_HOP,
    MAX_HEAD,
    STATUS_TEXT,
    STREAM_ERRORS,
    Buffered,
    Refused,
    header,
    parse_head,
    pump,
    relay_head,
    request_path,
    send_body,
    splice,
)
from mcp_browsa.netpolicy import (
    Decision,
    IPAddress,
    check_addresses,
    check_host,
    check_websocket,
    check_write,
    normalize_host,
    parse_web_url,
    split_host_port,
)

__all__ = [
    "GUARD_LAUNCH_ARGS",
    "BlockedRequest",
    "EgressProxy",
    "OnBlock",
    "ProxyLease",
    "Resolver",
    "context_options",
    "report_block",
    "system_resolver",
]

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

# WebRTC can send UDP straight to any address (STUN/TURN), past every HTTP proxy; this keeps it on the proxy.
GUARD_LAUNCH_ARGS: tuple[str, ...] = ("--webrtc-ip-handling-policy=disable_non_proxied_udp",)

_TLS_HANDSHAKE = 0x16  # the content type of the record every TLS connection opens with
_WEBSOCKET = "WEBSOCKET"  # the method a refused WebSocket is reported with: its handshake is a GET


@dataclass(frozen=True)
class BlockedRequest:
    """One refused request: what was asked for, the rule that refused it, and why."""

    url_or_host: str  # full URL when known (plain HTTP, in-browser hook); host:port for a CONNECT tunnel
    rule: str
    reason: str
    method: str | None = None
    source: str = "proxy"  # "proxy" | "route" (the in-browser hook)
    navigation: bool = False  # a main-frame navigation (known to the in-browser hook only)
    page: Any = field(default=None, compare=False, repr=False)  # the tab that asked (known to the in-browser hook only)


OnBlock = Callable[[BlockedRequest], None]


def report_block(on_block: OnBlock | None, blocked: BlockedRequest) -> None:
    # Without the query: a form sent with GET puts what was typed there, and logs are not masked.
    where = blocked.url_or_host.split("#", 1)[0].split("?", 1)[0]
    log.info("guard blocked %s (%s): %s", where, blocked.rule, blocked.reason)
    if on_block is None:
        return
    try:
        on_block(blocked)
    except Exception:
        log.exception("on_block callback failed")  # a faulty listener must not open the gate


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every A and AAAA address of a name, in the system's preferred order."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(sockaddr[0]), None)
    return list(seen)


class EgressProxy(ProxyAccess):
    """Async context manager running the proxy; `register(policy)` gives each browser context its own lease.

    Locally a lease is a port rather than proxy credentials naming it: Chromium sends each CONNECT without credentials
    first and pays a 407 round trip, while a port needs nothing from the browser, cannot be switched mid-connection,
    and closing it (`lease.close()`) revokes the policy and cuts its live tunnels at once. Remote browsers cannot
    reach our loopback: `listen` serves them on one address, with credentials per lease (see egress_access.py).
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        listen: tuple[str, int] | None = None,
        connect_timeout: float = 10.0,
        head_timeout: float = 30.0,
        linger: float = 60.0,
    ) -> None:
        super().__init__(listen)
        self._resolve: Resolver = resolver or system_resolver
        self.connect_timeout = connect_timeout
        self.head_timeout = head_timeout
        self.linger = linger

    async def _handle(self, lease: ProxyLease | None, stream: SocketStream) -> None:
        async with stream:
            client = Buffered(stream)
            try:
                await self._handle_request(lease, client)
            except Refused as refused:
                await self._answer(client, refused)
            except (*STREAM_ERRORS, TimeoutError):
                pass
            except Exception:
                log.exception("egress proxy connection failed")  # one odd client must not stop the listener

    async def _answer(self, client: Buffered, refused: Refused) -> None:
        rule = refused.blocked.rule if refused.blocked else "proxy"
        body = f"mcp-browsa URL guard: {refused.message}\nrule: {rule}\n".encode()
        # X-Browsa-Guard marks a policy refusal; a site the proxy could not reach (502/504) is not one.
        mark = f"X-Browsa-Guard: {rule}" if refused.blocked else f"X-Browsa-Upstream-Error: {refused.status}"
        if refused.status == 407:
            mark = f'Proxy-Authenticate: Basic realm="{PROXY_REALM}"'
        head = (
            f"HTTP/1.1 {refused.status} {STATUS_TEXT.get(refused.status, 'Error')}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"{mark}\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n"
        )
        try:
            await client.stream.send(head.encode("latin-1") + body)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass

    async def _handle_request(self, given: ProxyLease | None, client: Buffered) -> None:
        head = b""
        with anyio.move_on_after(self.head_timeout):
            head = await client.read_until(b"\r\n\r\n", MAX_HEAD)
        if not head:
            if client.buf:
                raise Refused(408, "request head not completed in time")
            return  # an unused preconnected socket: close quietly, as a server closes idle keep-alives
        start, headers = parse_head(head)
        if len(start) != 3 or start[2] not in ("HTTP/1.1", "HTTP/1.0"):
            raise Refused(400, "malformed request line")
        method, target, version = start
        lease = self.admit(given, headers)
        with lease.connection():
            if method == "CONNECT":
                await self._tunnel(lease, client, target)
            else:
                await self._forward(lease, client, method, target, version, headers)

    def _refuse(self, lease: ProxyLease, what: str, decision: Decision, method: str | None) -> Refused:
        report_block(lease.on_block, BlockedRequest(what, decision.rule, decision.reason, method=method))
        return Refused(403, f"blocked: {decision.reason}", decision)

    async def _open(self, lease: ProxyLease, host: str | IPAddress, port: int, what: str, method: str) -> SocketStream:
        """Check, resolve, check every address, and connect to one of exactly those addresses."""
        decision = check_host(host, port, lease.policy)
        if not decision.allowed:
            raise self._refuse(lease, what, decision, method)
        with anyio.move_on_after(self.connect_timeout) as scope:
            if isinstance(host, str):
                try:
                    addresses = list(await self._resolve(host, port))
                except OSError as exc:
                    raise Refused(502, f"cannot resolve {host}: {exc}") from None
            else:
                addresses = [host]
            decision = check_addresses(host, port, addresses, lease.policy)
            if not decision.allowed:
                raise self._refuse(lease, what, decision, method)
            last: OSError | None = None
            for ip in addresses:  # pinned: the checked address, never the name again
                try:
                    return await anyio.connect_tcp(str(ip), port)
                except OSError as exc:
                    last = exc
            raise Refused(502, f"cannot connect to {what}: {last}")
        assert scope.cancelled_caught
        raise Refused(504, f"timed out connecting to {what}")

    async def _tunnel(self, lease: ProxyLease, client: Buffered, target: str) -> None:
        try:
            host_text, port_text = split_host_port(target)
            host = normalize_host(host_text)
            if port_text is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError("CONNECT needs host:port")
        except ValueError as exc:
            raise Refused(400, f"bad CONNECT target {target!r}: {exc}") from None
        upstream = await self._open(lease, host, int(port_text), target, "CONNECT")
        async with upstream:
            await client.stream.send(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            if not lease.policy.allow_writes and await self._plaintext(client):
                # Chromium tunnels https and wss as TLS, and plain ws:// through CONNECT as well: a tunnel that does
                # not open with a TLS record is a WebSocket, and read-only allows none. Nothing went upstream.
                where = f"ws://{target}{request_path(client.buf)}"
                refusal = check_websocket(where, lease.policy)
                report_block(lease.on_block, BlockedRequest(where, refusal.rule, refusal.reason, method=_WEBSOCKET))
                return
            await splice(client, Buffered(upstream), self.linger)

    async def _plaintext(self, client: Buffered) -> bool:
        """Whether the client's first bytes in a tunnel are not a TLS handshake record (kept in its buffer)."""
        with anyio.move_on_after(self.head_timeout):
            try:
                if not client.buf:
                    await client.fill()
            except anyio.EndOfStream:
                return False
        return bool(client.buf) and client.buf[0] != _TLS_HANDSHAKE

    async def _forward(
        self,
        lease: ProxyLease,
        client: Buffered,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
    ) -> None:
        if not target.lower().startswith("http://"):
            raise Refused(400, "a forward request needs an absolute http:// URL (use CONNECT for TLS)")
        try:
            _scheme, host, port = parse_web_url(target)
        except ValueError as exc:
            raise Refused(400, f"bad URL: {exc}") from None
        rest = target[len("http://") :]
        authority, _slash, path = rest.partition("/")
        if any(c in authority for c in "@\\?#"):
            raise Refused(400, "request target must be a plain absolute URL")

        lengths = set(header(headers, "content-length"))
        encodings = header(headers, "transfer-encoding")
        if (lengths and encodings) or len(lengths) > 1 or any(not v.isdigit() for v in lengths):
            raise Refused(400, "ambiguous request body length")
        if encodings and [e.lower() for e in encodings] != ["chunked"]:
            raise Refused(400, "unsupported transfer-encoding")
        connection = {t.strip().lower() for v in header(headers, "connection") for t in v.split(",")}
        # Only WebSocket may turn a connection into a tunnel; h2c and friends would carry unchecked requests.
        upgrades = [v.strip().lower() for v in header(headers, "upgrade")]
        websocket = method == "GET" and "upgrade" in connection and upgrades == ["websocket"]
        has_body = bool(encodings) or any(int(v) > 0 for v in lengths)
        if websocket:
            decision = check_websocket("ws" + target[len("http") :], lease.policy)
        else:
            decision = check_write(lease.policy, method, has_body=has_body)
        if not decision.allowed:
            raise self._refuse(lease, target, decision, _WEBSOCKET if websocket else method)
        dropped = HOP_BY_HOP | connection | {"host", "upgrade"}
        out = [f"{method} /{path} {version}", f"Host: {authority}"]
        out += [f"{k}: {v}" for k, v in headers if k.lower() not in dropped]
        # One request per connection: the next request on this client connection would otherwise skip the check.
        out += ["Upgrade: websocket", "Connection: Upgrade"] if websocket else ["Connection: close"]
        request_head = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

        upstream = Buffered(await self._open(lease, host, port, target, method))
        async with upstream.stream:
            await upstream.stream.send(request_head)
            async with anyio.create_task_group() as tg:
                if not websocket:
                    tg.start_soon(
                        send_body, tg, client, upstream.stream, bool(encodings), int(next(iter(lengths), "0"))
                    )
                try:
                    status = await relay_head(upstream, client.stream)
                    if websocket and status == 101:
                        await splice(client, upstream, self.linger)
                    else:
                        await pump(upstream.stream, client.stream, upstream.take(len(upstream.buf)))
                except STREAM_ERRORS:
                    pass
                tg.cancel_scope.cancel()  # bytes after the body would be a second, unchecked request


def context_options(lease: ProxyLease) -> dict[str, Any]:
    """Keyword arguments for `browser.new_context(**…)`: the lease's proxy, and no service workers to dodge the
    request guard (their requests would pause in no page's session)."""
    return {"proxy": dict(lease.playwright_proxy), "service_workers": "block"}
