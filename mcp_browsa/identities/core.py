"""What every identity operation shares: dependencies, capacity slots, charges and events in one transaction, sealing.

`IdentityService` (create, get, destroy), `Sessions` (open/close, job sessions) and the reaper all work through this.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup

from mcp_browsa.browser.discovery import BrowserNotFound, find_chromium
from mcp_browsa.browser.fingerprint import Fingerprint, OsType, make_fingerprint
from mcp_browsa.browser.guard import EgressProxy
from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.browser.pool import BurnerPool
from mcp_browsa.browser.trust import band_for
from mcp_browsa.config import Settings
from mcp_browsa.crypto import VaultKeyError, load_or_create_key, open_sealed, seal
from mcp_browsa.engine.outbox import Outbox, committing
from mcp_browsa.engine.takeover import ContextPages, LiveViews
from mcp_browsa.errors import InternalError, TooManyRequests, UpstreamUnavailable
from mcp_browsa.events import EventBus
from mcp_browsa.identities.cdp import chromium_version
from mcp_browsa.identities.live import LiveBrowser, start_live
from mcp_browsa.identities.models import Identity, SessionInfo
from mcp_browsa.models import PriceTable
from mcp_browsa.netpolicy import Policy
from mcp_browsa.storage.db import Conn, Database, Row, dumps, loads, now
from mcp_browsa.storage.identities import AgentRepo, json_list
from mcp_browsa.storage.jobs import FinishHook
from mcp_browsa.storage.ledger import LedgerRepo

__all__ = [
    "DEFAULT_COUNTRY",
    "FingerprintFactory",
    "IdentityCore",
    "Outbox",
    "event_data",
    "identity_model",
    "monotonic_deadline",
    "owner_alive",
]

T = TypeVar("T")
DEFAULT_COUNTRY = "US"  # the country a browser has without asking for one; others pay the surcharge


class FingerprintFactory(Protocol):
    def __call__(self, *, os_type: OsType, country: str | None, chromium_version: str) -> Fingerprint: ...


def event_data(row: Row | dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The agent as webhook events carry it."""
    keys = ("mode", "status", "os_type", "country", "persona", "cdp_url", "cdp_http", "expires_at", "trust_score")
    known = dict(row)
    data: dict[str, Any] = {"agent_id": known["id"], **{k: known.get(k) for k in keys}}
    if known.get("mode") == "persistent":
        data["profile_id"] = known["id"]  # the stored profile (cookies, storage, pinned fingerprint) is the identity
    if known.get("live_url"):
        data["live_url"] = known["live_url"]
    data.update(extra)
    return data


def _default_factory(*, os_type: OsType, country: str | None, chromium_version: str) -> Fingerprint:
    return make_fingerprint(os_type=os_type, country=country, chromium_version=chromium_version)


@dataclass
class IdentityCore:
    db: Database
    bus: EventBus
    host: BrowserHost
    pool: BurnerPool
    settings: Settings
    prices: PriceTable
    owner: str  # this process (host:pid:random), written on every agent and session it runs
    policy_for: Callable[[list[str] | None], Policy]
    repo: AgentRepo = field(init=False)
    live: dict[str, LiveBrowser] = field(default_factory=dict)
    proxy: EgressProxy | None = None
    tg: TaskGroup | None = None
    # How fingerprints are made; tests swap it to give an identity a deliberate tell.
    fingerprint_factory: FingerprintFactory = _default_factory
    live_views: LiveViews | None = None  # where a running identity's browser is shown (set by the app)
    # The engine's event hooks: an identity's events reach the webhook outbox in the transaction of its change.
    hooks: Sequence[FinishHook] = ()
    _key: bytes | None = None
    _locks: dict[str, anyio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.repo = AgentRepo(self.db)

    def lock(self, agent_id: str) -> anyio.Lock:
        """Serialises lifecycle changes of one agent in this process (destroy vs TTL expiry vs session end)."""
        return self._locks.setdefault(agent_id, anyio.Lock())

    # -- transactions, charges, events ----------------------------------------------------------

    async def commit(self, fn: Callable[[Conn, Outbox], Awaitable[T]]) -> T:
        """Run `fn` in one durable transaction (charges are money); its events go out only if it commits."""
        async with committing(self.db, self.bus, self.hooks, durable=True) as box:
            return await fn(box.conn, box)

    @staticmethod
    async def charge(
        conn: Conn,
        workspace_id: str,
        amount: int,
        description: str,
        *,
        agent_id: str | None,
        job_id: str | None = None,
        allow_partial: bool = False,
    ) -> int:
        """Charge `amount` credits; returns what was taken (less than asked only with allow_partial)."""
        if amount <= 0:
            return 0
        applied = await LedgerRepo.apply(
            conn,
            workspace_id,
            -amount,
            kind="charge",
            description=description,
            agent_id=agent_id,
            job_id=job_id,
            allow_partial=allow_partial,
        )
        return -applied

    @staticmethod
    async def refund(conn: Conn, workspace_id: str, amount: int, description: str, agent_id: str) -> None:
        if amount > 0:
            await LedgerRepo.apply(
                conn, workspace_id, amount, kind="refund", description=description, agent_id=agent_id
            )

    def start_price(self, mode: str, country: str | None) -> int:
        base = self.prices.burner_start if mode == "burner" else self.prices.persistent_session
        return base + self.country_surcharge(country)

    def country_surcharge(self, country: str | None) -> int:
        return self.prices.non_default_country if country and country.upper() != DEFAULT_COUNTRY else 0

    def started_minutes(self, started_at: float, until: float) -> int:
        return max(1, math.ceil(max(0.0, until - started_at) / 60.0))

    # -- capacity -------------------------------------------------------------------------------

    def reserve(self) -> None:
        """Hold a BROWSA_MAX_BURNERS slot for an identity's own browser, or TOO_MANY_REQUESTS with retry_after."""
        if self.pool.reserve_nowait():
            return
        t = now()
        ends = [lb.expires_at - t for lb in self.live.values() if lb.expires_at is not None]
        retry = min(ends) if ends else 5.0
        raise TooManyRequests(
            f"all {self.pool.max} browser slots (BROWSA_MAX_BURNERS) are busy with identities and jobs;"
            " destroy an identity you no longer need, or retry later",
            retry_after=max(1.0, min(retry, 300.0)),
            max_burners=self.pool.max,
        )

    def unreserve(self) -> None:
        self.pool.unreserve()

    # -- browsers -------------------------------------------------------------------------------

    async def executable(self) -> str:
        try:
            found = find_chromium(self.settings.chromium)
        except BrowserNotFound as exc:
            raise UpstreamUnavailable(str(exc)) from exc
        if found.executable is None:
            return str((await self.host.playwright()).chromium.executable_path)
        return found.executable

    async def new_fingerprint(self, os_type: OsType, country: str | None) -> Fingerprint:
        if self.host.remote is not None:  # the Chromium it will run in is remote: nothing here to ask
            version = (await self.host.browser()).version
        else:
            version = await anyio.to_thread.run_sync(chromium_version, await self.executable())
        return self.fingerprint_factory(os_type=os_type, country=country, chromium_version=version)

    async def launch(self, agent_id: str, workspace_id: str, kind: str, fp: Fingerprint, policy: Policy) -> LiveBrowser:
        assert self.tg is not None and self.proxy is not None, "IdentityService.running() is not active"
        self.host.refuse_own_chromium(f"a {kind} browser", "open it without cdp")
        executable = await self.executable()
        return await start_live(
            self.tg,
            await self.host.playwright(),
            self.proxy,
            agent_id=agent_id,
            workspace_id=workspace_id,
            kind=kind,
            fp=fp,
            policy=policy,
            executable=executable,
            headed=self.settings.headed,
            start_timeout=self.settings.browser_start_timeout,
        )

    async def watch(self, live: LiveBrowser) -> str:
        """Wait for the browser's end: "expired" (its TTL), "exited" (it died by itself) or "stopped" (we stopped it)."""
        outcome = "stopped"
        with live.scope:
            async with self._shown(live), anyio.create_task_group() as tg:

                async def expiry() -> None:
                    nonlocal outcome
                    if live.expires_at is not None:
                        await anyio.sleep_until(monotonic_deadline(live.expires_at))
                        outcome = "expired"
                        tg.cancel_scope.cancel()

                tg.start_soon(expiry)
                await live.process.process.wait()
                if not live.stopping:
                    outcome = "exited"
                tg.cancel_scope.cancel()
        return outcome

    @asynccontextmanager
    async def _shown(self, live: LiveBrowser) -> AsyncIterator[None]:
        """The identity's browser in its live view while it runs; its view ends with it."""
        views = self.live_views
        if views is None:
            yield
            return
        try:
            async with views.view(live.workspace_id, live.agent_id, "main", ContextPages(live.context), masks=tuple):
                yield
        finally:
            views.end(live.agent_id)

    @staticmethod
    def fingerprint_of(row: Row) -> Fingerprint:
        return Fingerprint.from_dict(loads(row["fingerprint"]))

    def policy_of(self, row: Row) -> Policy:
        return self.policy_for(json_list(row["allowed_domains"]))

    # -- sealed state ---------------------------------------------------------------------------

    def key(self) -> bytes:
        if self._key is None:
            try:
                self._key = load_or_create_key(self.settings)
            except VaultKeyError as exc:
                raise InternalError(f"cannot seal identity state: {exc}") from exc
        return self._key

    def seal_state(self, workspace_id: str, agent_id: str, state: dict[str, Any]) -> tuple[bytes, bytes]:
        return seal(self.key(), dumps(state).encode(), _aad(workspace_id, agent_id))

    async def load_state(self, workspace_id: str, agent_id: str) -> dict[str, Any] | None:
        sealed = await self.repo.get_state(agent_id)
        if sealed is None:
            return None
        plain = open_sealed(self.key(), sealed[0], sealed[1], _aad(workspace_id, agent_id))
        state = loads(plain)
        return state if isinstance(state, dict) else None

    # -- models ---------------------------------------------------------------------------------

    async def to_models(self, rows: list[Row]) -> list[Identity]:
        costs = await self.repo.costs([str(r["id"]) for r in rows])
        out = []
        for row in rows:
            session = None
            if row["mode"] == "persistent" and row["status"] == "running":
                open_row = await self.repo.open_session_of(row["id"])
                if open_row is not None:
                    session = SessionInfo(
                        id=open_row["id"],
                        kind=open_row["kind"],
                        started_at=open_row["started_at"],
                        expires_at=open_row["expires_at"],
                        job_id=open_row["job_id"],
                    )
            agent = identity_model(row, cost=costs.get(str(row["id"]), 0), session=session)
            if row["status"] == "running" and self.live_views is not None and row["id"] in self.live:
                # Its view's address, made now if the watcher has not shown the browser yet.
                agent.live_url = await self.live_views.open(str(row["workspace_id"]), str(row["id"]))
            out.append(agent)
        return out


def identity_model(row: Row, *, cost: int, session: SessionInfo | None) -> Identity:
    score = row["trust_score"]
    return Identity(
        id=row["id"],
        mode=row["mode"],
        status=row["status"],
        cdp_url=row["cdp_url"],
        cdp_http=row["cdp_http"],
        expires_at=row["expires_at"],
        trust_score=score,
        trust_band=band_for(int(score)) if score is not None else None,
        os_type=row["os_type"],
        country=row["country"],
        persona=row["persona"],
        warmup_recipe=row["warmup_recipe"],
        initial_url=row["initial_url"],
        allowed_domains=json_list(row["allowed_domains"]),
        created_at=row["created_at"],
        destroyed_at=row["destroyed_at"],
        error_message=row["error_message"],
        cost_credits=cost,
        session=session,
    )


def owner_alive(owner: str | None) -> bool:
    """Whether the server process named `host:pid:random` may still be running (another host's always may)."""
    parts = (owner or "").split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    if parts[0] != socket.gethostname():
        return True
    pid = int(parts[1])
    if pid == os.getpid():
        return True  # another app object in this very process: alive as far as anyone can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _aad(workspace_id: str, agent_id: str) -> bytes:
    # Bound to the row: a state blob copied to another identity or workspace does not open.
    return f"mcp-browsa identity_state {workspace_id} {agent_id}".encode()


def monotonic_deadline(expires_at: float) -> float:
    """The anyio clock time of a wall-clock expiry, for sleep_until."""
    return anyio.current_time() + max(0.0, expires_at - time.time())
