"""Where the egress proxy listens and who may use it: a loopback port per browser context, or one shared address.

Local browsers get a port of their own per context on 127.0.0.1: nothing to prove, and closing the port revokes the
policy. A remote browser cannot reach this machine's loopback, so with BROWSA_EGRESS_LISTEN the proxy listens on the
one address the operator makes reachable, and each context gets random credentials of its own
(`new_context(proxy={server, username, password})`); a request without valid ones is refused 407, so nobody else on
that network can use the proxy, and a context's credentials stop working the moment it is given back.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Listener, SocketAttribute, SocketStream, TaskGroup

from mcp_browsa.browser.http1 import Refused, header
from mcp_browsa.errors import InternalError

if TYPE_CHECKING:
    from playwright.async_api import ProxySettings

    from mcp_browsa.browser.guard import OnBlock
    from mcp_browsa.netpolicy import Policy

__all__ = ["PROXY_REALM", "ProxyAccess", "ProxyLease", "proxy_credentials"]

log = logging.getLogger(__name__)

PROXY_REALM = "mcp-browsa"


class ProxyLease:
    """One browser context's way through the proxy, under one policy.

    Give `playwright_proxy` to `browser.new_context(proxy=…)`; `close()` when the context is gone.
    """

    def __init__(
        self,
        policy: Policy,
        on_block: OnBlock | None,
        port: int,
        *,
        host: str = "127.0.0.1",
        username: str | None = None,
        password: str | None = None,
        forget: Callable[[], object] | None = None,
    ) -> None:
        self.policy = policy
        self.on_block = on_block
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self._forget = forget  # drops the credentials from the proxy
        self._scope = anyio.CancelScope()  # a port of its own: its listener's scope
        self._done = anyio.Event()
        self._connections: set[anyio.CancelScope] = set()
        self._closed = False

    @property
    def shared(self) -> bool:
        """Served on the shared address, told apart by its credentials."""
        return self.username is not None

    @property
    def playwright_proxy(self) -> ProxySettings:
        host = f"[{self.host}]" if ":" in self.host else self.host
        # "<-loopback>" removes Chromium's implicit bypass of localhost/127.0.0.1/[::1], so those go through us too.
        settings: ProxySettings = {"server": f"http://{host}:{self.port}", "bypass": "<-loopback>"}
        if self.username is not None and self.password is not None:
            settings["username"], settings["password"] = self.username, self.password
        return settings

    @contextmanager
    def connection(self) -> Iterator[None]:
        """Serve one client connection under this lease: `close()` cuts it."""
        with anyio.CancelScope() as scope:
            if self._closed:
                scope.cancel()
            self._connections.add(scope)
            try:
                yield
            finally:
                self._connections.discard(scope)
                if self._closed and self.shared and not self._connections:
                    self._done.set()

    async def close(self) -> None:
        """Revoke the lease and cut every connection made under it."""
        self._closed = True
        if self._forget is not None:
            self._forget()
        self._scope.cancel()
        for scope in list(self._connections):
            scope.cancel()
        if self.shared and not self._connections:
            self._done.set()
        await self._done.wait()


def proxy_credentials(headers: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The user and password of a request's `Proxy-Authorization: Basic …`, or None."""
    values = header(headers, "proxy-authorization")
    if len(values) != 1:
        return None
    scheme, _space, token = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


class ProxyAccess:
    """The proxy's listeners and the leases they serve; `EgressProxy` adds what is done with each connection.

    `listen=(host, port)` serves every lease on that one address, with credentials; without it each lease gets a
    loopback port of its own.
    """

    def __init__(self, listen: tuple[str, int] | None = None) -> None:
        self.listen = listen
        self._tg: TaskGroup | None = None
        self._leases: set[ProxyLease] = set()
        self._by_user: dict[str, ProxyLease] = {}
        self._shared_port = 0

    async def __aenter__(self) -> Any:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self.listen is not None:
            try:
                listener = await anyio.create_tcp_listener(local_host=self.listen[0], local_port=self.listen[1])
            except BaseException as exc:
                await self.__aexit__(None, None, None)
                if isinstance(exc, OSError):
                    where = f"{self.listen[0]}:{self.listen[1]}"
                    raise InternalError(
                        f"the egress proxy cannot listen on {where} (BROWSA_EGRESS_LISTEN): {exc}"
                    ) from None
                raise
            self._shared_port = listener.extra(SocketAttribute.local_port)
            log.info("egress proxy listens for remote browsers on %s:%s", self.listen[0], self._shared_port)
            self._tg.start_soon(self._serve_shared, listener)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            for lease in self._leases:
                lease._done.set()  # a lease whose task never started must not hang close()
            self._leases.clear()
            self._by_user.clear()
            self._tg = None

    async def register(self, policy: Policy, on_block: OnBlock | None = None) -> ProxyLease:
        """A lease enforcing `policy`, its blocks passed to on_block: its own loopback port, or credentials."""
        if self._tg is None:
            raise RuntimeError("EgressProxy is not running; use `async with EgressProxy() as proxy`")
        if self.listen is not None:
            user, password = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
            lease = ProxyLease(
                policy,
                on_block,
                self._shared_port,
                host=self.listen[0],
                username=user,
                password=password,
                forget=partial(self._by_user.pop, user, None),
            )
            self._by_user[user] = lease
            return lease
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        lease = ProxyLease(policy, on_block, listener.extra(SocketAttribute.local_port))
        self._leases.add(lease)
        self._tg.start_soon(self._serve, lease, listener)
        return lease

    def admit(self, lease: ProxyLease | None, headers: list[tuple[str, str]]) -> ProxyLease:
        """The lease a request is made under: its port's, or the one its credentials name (else 407)."""
        if lease is not None:
            return lease
        given = proxy_credentials(headers)
        if given is None:
            # Chromium asks without credentials first and answers the challenge: this is the usual first round.
            raise Refused(407, "proxy credentials required")
        found = self._by_user.get(given[0])
        if found is None or found._closed or not hmac.compare_digest(found.password or "", given[1]):
            log.info("egress proxy refused a request with unknown or revoked credentials")
            raise Refused(407, "unknown or revoked proxy credentials")
        return found

    async def _serve(self, lease: ProxyLease, listener: Listener[SocketStream]) -> None:
        try:
            with lease._scope:
                async with listener:
                    await listener.serve(partial(self._handle, lease))
        finally:
            self._leases.discard(lease)
            lease._done.set()

    async def _serve_shared(self, listener: Listener[SocketStream]) -> None:
        async with listener:
            await listener.serve(partial(self._handle, None))

    async def _handle(self, lease: ProxyLease | None, stream: SocketStream) -> None:
        raise NotImplementedError
