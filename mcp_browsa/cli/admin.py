"""Operator commands: `mcp-browsa keys mint|list|revoke` and `mcp-browsa webhooks create|list|delete|ping|deliveries`.

They open only the database (no browser), act on the default workspace unless given `--workspace`, and print
readable text, or JSON with --json.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp_browsa.cli.output import emit
from mcp_browsa.config import Settings
from mcp_browsa.errors import NotFound
from mcp_browsa.models.webhooks import (
    MAX_DELIVERIES_LIMIT,
    PingResult,
    WebhookCreated,
    WebhookDeliveries,
    WebhookList,
)
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.keys import ApiKey, ApiKeyRepo, check_workspace_id
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from mcp_browsa.webhooks.events import EVENT_TYPES

__all__ = ["add_parsers", "is_loopback", "no_auth_refusal", "run_keys", "run_webhooks"]


def add_parsers(sub: Any) -> None:
    """The `keys` and `webhooks` sub-commands, added to the CLI's sub-parsers."""
    k = sub.add_parser("keys", help="API keys for the HTTP transports: mint, list, revoke")
    ks = k.add_subparsers(dest="keys_action", required=True)
    s = ks.add_parser("mint", aliases=["create"], help="mint a key (printed once; only its sha256 is stored)")
    s.add_argument("--name", default="", help="a label to recognise the key by")
    s.add_argument("--admin", action="store_true", help="the key may also list, create and revoke keys (key tools)")
    s.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace the key acts in (created if new)")
    s = ks.add_parser("list", help="list keys: prefix, workspace, last use")
    s.add_argument("--workspace", help="only this workspace's keys")
    s = ks.add_parser("revoke", help="revoke a key at once")
    s.add_argument("key_id")

    w = sub.add_parser("webhooks", help="webhook endpoints: create, list, delete, ping, deliveries")
    w.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace to act in")
    ws = w.add_subparsers(dest="webhooks_action", required=True)
    s = ws.add_parser("create", help="register an endpoint (prints its signing secret once)")
    s.add_argument("url")
    s.add_argument("--event", action="append", choices=EVENT_TYPES, help="event type to send (repeat; default all)")
    ws.add_parser("list", help="list endpoints")
    s = ws.add_parser("delete", help="delete an endpoint and its pending deliveries")
    s.add_argument("webhook_id")
    s = ws.add_parser("ping", help="send a webhook.test event now and show the result")
    s.add_argument("webhook_id")
    s = ws.add_parser("deliveries", help="show the delivery log")
    s.add_argument("webhook_id")
    s.add_argument("--limit", type=int, default=50, choices=range(1, MAX_DELIVERIES_LIMIT + 1), metavar="N")


def no_auth_refusal(args: argparse.Namespace) -> str | None:
    """Why `serve` must not start with these flags, in one line, or None."""
    if getattr(args, "no_auth", False) and args.transport != "stdio" and not is_loopback(args.host):
        return (
            f"refusing to start: --no-auth is only allowed on a loopback address, not {args.host}"
            " (mint a key with `mcp-browsa keys mint` instead)"
        )
    return None


def is_loopback(host: str) -> bool:
    """True for names and addresses only this machine can reach: the only places --no-auth may listen on."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "never"


async def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as db:
        repo = ApiKeyRepo(db)
        if args.keys_action in ("mint", "create"):
            minted = await repo.mint(
                args.workspace, name=args.name, initial_credits=settings.initial_credits, admin=args.admin
            )
            if not args.json:
                print(
                    f"minted {minted.id} for workspace {minted.workspace_id}; the key is shown only now:",
                    file=sys.stderr,
                )
            emit(minted, args.json, lambda m: m.key)
        elif args.keys_action == "list":
            keys = await repo.list_keys(args.workspace)
            emit({"keys": [k.model_dump(mode="json") for k in keys]}, args.json, lambda _d: _keys_text(keys))
        else:
            key = await repo.revoke(args.key_id)
            emit(key, args.json, lambda k: f"revoked {k.id} ({k.prefix}…) of workspace {k.workspace_id}")
    return 0


async def run_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    # Loaded here, not at import: every command's start (a server's included) skips the HTTP client they bring.
    from mcp_browsa.engine.worker import process_owner_id
    from mcp_browsa.webhooks.delivery import DeliveryConfig
    from mcp_browsa.webhooks.service import WebhookService

    workspace = check_workspace_id(args.workspace)
    async with _database(settings) as db:
        if workspace == DEFAULT_WORKSPACE:
            await LedgerRepo(db).ensure_workspace(workspace, initial_credits=settings.initial_credits)
        elif not await LedgerRepo(db).workspace_exists(workspace):
            raise NotFound(f"workspace {workspace!r} not found; `mcp-browsa keys mint --workspace W` creates one")
        service = WebhookService(
            db,
            private_network=settings.allow_private_network,
            owner=process_owner_id(),
            config=DeliveryConfig.from_settings(settings),
        )
        action = args.webhooks_action
        if action == "create":
            created = await service.create(workspace, args.url, args.event or [])
            emit(created, args.json, _created_text)
        elif action == "list":
            emit(await service.list_webhooks(workspace), args.json, _hooks_text)
        elif action == "delete":
            emit(await service.delete(workspace, args.webhook_id), args.json, lambda d: f"deleted {d.id}")
        elif action == "ping":
            ping = await service.ping(workspace, args.webhook_id)
            emit(ping, args.json, _ping_text)
            return 0 if ping.delivered else 1
        else:
            emit(await service.deliveries(workspace, args.webhook_id, limit=args.limit), args.json, _log_text)
    return 0


def _keys_text(keys: list[ApiKey]) -> str:
    rows = []
    for k in keys:
        row = f"{k.id}  {k.prefix}…  {k.workspace_id:<16} {k.name or '-':<16} last used {_when(k.last_used_at)}"
        row += "  admin" if k.admin else ""
        rows.append(row + (f"  REVOKED {_when(k.revoked_at)}" if k.revoked_at else ""))
    return "\n".join(rows) or "no keys; mint one with `mcp-browsa keys mint`"


def _created_text(c: WebhookCreated) -> str:
    return (
        f"created {c.id} → {c.url} (events: {', '.join(c.events) or 'all'})\n"
        f"signing secret (shown only now): {c.secret}"
    )


def _hooks_text(listing: WebhookList) -> str:
    rows = []
    for h in listing.webhooks:
        row = f"{h.id}  {h.status:<8} {h.url}  events: {', '.join(h.events) or 'all'}"
        rows.append(row + (f"  ({h.disabled_reason})" if h.disabled_reason else ""))
    return "\n".join(rows) or "no webhooks"


def _ping_text(p: PingResult) -> str:
    if p.delivered:
        return f"{p.event_id}: delivered (HTTP {p.status_code}, {p.duration_ms} ms)"
    return f"{p.event_id}: not delivered: {p.error}; retried at {_when(p.next_attempt_at)}"


def _log_text(d: WebhookDeliveries) -> str:
    rows = [f"{d.pending} pending"]
    for a in d.attempts:
        rows.append(
            f"{_when(a.created_at)}  {a.event_id}  {a.event_type:<16} try {a.attempt}"
            f"  {a.status_code or '-'}  {a.delivery_status:<9} {a.error or ''}"
        )
    return "\n".join(rows)
