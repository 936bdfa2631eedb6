"""`mcp-browsa identities list|create|destroy`: identities from a terminal, on the same data dir as the servers.

`create` of a burner keeps its browser up until the TTL ends or Ctrl-C, printing the CDP URL to connect to.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import TYPE_CHECKING, Any, get_args

import anyio

from mcp_browsa.browser.fingerprint import OsType
from mcp_browsa.config import Settings
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE

if TYPE_CHECKING:
    from mcp_browsa.app import Browsa
    from mcp_browsa.identities.models import Identity, IdentityList

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("identities", help="browser identities: list, create, destroy")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace to act in")
    actions = p.add_subparsers(dest="identities_action", required=True)
    s = actions.add_parser("list", help="list identities, newest first")
    s.add_argument("--mode", choices=["burner", "persistent"])
    s.add_argument("--limit", type=int, default=20)
    s = actions.add_parser("create", help="create one; a burner stays up (CDP URL printed) until its TTL or Ctrl-C")
    s.add_argument("--mode", choices=["burner", "persistent"])
    s.add_argument("--ttl", help='burner lifetime: "90s", "5m", "1h"')
    s.add_argument("--os", dest="os_type", choices=get_args(OsType))
    s.add_argument("--country", help="ISO country code, e.g. DE")
    s.add_argument("--persona")
    s.add_argument("--warmup", dest="warmup_recipe", help="a BROWSA_WARMUP_RECIPES name")
    s.add_argument("--initial-url")
    s = actions.add_parser("destroy", help="destroy one (stops its browser, deletes stored state)")
    s.add_argument("identity_id")


def _text(agent: Identity) -> str:
    lines = [f"{agent.id}  {agent.mode:<10} {agent.status:<9} trust={agent.trust_score}  credits={agent.cost_credits}"]
    if agent.cdp_url:
        lines.append(f"  cdp_url:  {agent.cdp_url}\n  cdp_http: {agent.cdp_http}")
    if agent.error_message:
        lines.append(f"  {agent.error_message}")
    return "\n".join(lines)


def _emit(data: Identity | IdentityList, as_json: bool) -> None:
    from mcp_browsa.identities.models import IdentityList

    if as_json:
        print(json.dumps(data.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False), flush=True)
    elif isinstance(data, IdentityList):
        print("\n".join(_text(a) for a in data.agents) or "no identities", flush=True)
    else:
        print(_text(data), flush=True)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    # Loaded here, not at import: the CLI's start (and a server's, which launches its browser first) skips them.
    from mcp_browsa.app import Browsa
    from mcp_browsa.identities.spec import build_spec

    action = args.identities_action
    async with Browsa(settings).running(workers=False) as app:
        ws = args.workspace
        if action == "list":
            _emit(await app.identities.list_identities(ws, mode=args.mode, limit=args.limit), args.json)
            return 0
        if action == "destroy":
            _emit(await app.identities.destroy(ws, args.identity_id), args.json)
            return 0
        spec = build_spec(
            mode=args.mode,
            ttl=args.ttl,
            ttl_seconds=None,
            os_type=args.os_type,
            country=args.country,
            persona=args.persona,
            warmup_recipe=args.warmup_recipe,
            initial_url=args.initial_url,
            allowed_domains=None,
            recipes=settings.warmup_recipes,
        )
        agent = await app.identities.create(ws, spec)
        _emit(agent, args.json)
        if agent.mode == "burner":
            print("the browser stays up until its TTL ends; Ctrl-C destroys it now", file=sys.stderr, flush=True)
            await _until_ended_or_signal(app, agent.id)
        return 0


async def _until_ended_or_signal(app: Browsa, agent_id: str) -> None:
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_signal)
        while (row := await app.identities.core.repo.get(agent_id)) is not None and row["status"] == "running":
            await anyio.sleep(0.5)
        tg.cancel_scope.cancel()
