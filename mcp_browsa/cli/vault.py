"""`mcp-browsa vault set|list|delete`: the only way a secret gets into the vault, typed at a terminal.

The value comes from a hidden prompt (or stdin when piped), never from the command line, where `ps` and the
shell history would keep it; nothing this module prints ever contains a value.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any, TextIO

from mcp_browsa.config import Settings
from mcp_browsa.errors import BadRequest, NotFound
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.keys import check_workspace_id
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from mcp_browsa.workspace_secrets import MAX_VALUE_CHARS, Vault, check_secret_name

__all__ = ["add_parser", "read_value", "run_vault"]


def add_parser(sub: Any) -> None:
    """The `vault` sub-command, added to the CLI's sub-parsers."""
    v = sub.add_parser("vault", help="secrets filled into pages server-side ({{secret:NAME}}): set, list, delete")
    v.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace whose vault to use")
    vs = v.add_subparsers(dest="vault_action", required=True)
    s = vs.add_parser("set", help="store a secret: typed at a hidden prompt, or read from stdin when piped")
    s.add_argument("name", help="e.g. github_password; tasks refer to it as {{secret:github_password}}")
    vs.add_parser("list", help="list secret names (never values) and when each was last set")
    s = vs.add_parser("delete", help="delete a secret")
    s.add_argument("name")


def read_value(name: str, stdin: TextIO | None = None) -> str:
    """The value for `name`: a hidden prompt typed twice at a terminal, else all of stdin less one final newline."""
    stream = stdin or sys.stdin
    if stream.isatty():
        first = getpass.getpass(f"value for {name} (not shown): ")
        again = getpass.getpass("again, to confirm: ")
        if first != again:
            raise BadRequest("the two entries differ; nothing was stored")
        value = first
    else:
        value = stream.read(MAX_VALUE_CHARS + 2)
        if value.endswith("\n"):
            value = value[:-1]
        if value.endswith("\r"):
            value = value[:-1]
    if not value:
        raise BadRequest(f"no value given for {name}; nothing was stored")
    if len(value) > MAX_VALUE_CHARS:
        raise BadRequest(f"the value for {name} is longer than {MAX_VALUE_CHARS} characters; nothing was stored")
    return value


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


async def run_vault(settings: Settings, args: argparse.Namespace) -> int:
    workspace = check_workspace_id(args.workspace)
    action = args.vault_action
    if action in ("set", "delete"):
        check_secret_name(args.name)
    # Read before opening anything, so a mistyped confirmation leaves no trace at all.
    value = read_value(args.name) if action == "set" else None
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    await db.open()
    try:
        if workspace == DEFAULT_WORKSPACE:
            await LedgerRepo(db).ensure_workspace(workspace, initial_credits=settings.initial_credits)
        elif not await LedgerRepo(db).workspace_exists(workspace):
            raise NotFound(f"workspace {workspace!r} not found; `mcp-browsa keys mint --workspace W` creates one")
        vault = Vault(db, settings)
        if action == "set":
            assert value is not None
            created = await vault.set(workspace, args.name, value)
            del value
            _report(args, {"name": args.name, "workspace_id": workspace, "created": created}, _set_text)
        elif action == "list":
            secrets = [
                {"name": s.name, "created_at": s.created_at, "updated_at": s.updated_at}
                for s in await vault.list(workspace)
            ]
            _report(args, {"workspace_id": workspace, "secrets": secrets}, _list_text)
        else:
            await vault.delete(workspace, args.name)
            _report(args, {"name": args.name, "workspace_id": workspace, "deleted": True}, _deleted_text)
    finally:
        await db.close()
    return 0


def _report(args: argparse.Namespace, data: dict[str, Any], text: Any) -> None:
    print(json.dumps(data, indent=2) if args.json else text(data))


def _set_text(d: dict[str, Any]) -> str:
    verb = "stored" if d["created"] else "replaced"
    return f"{verb} {d['name']} in the vault of {d['workspace_id']}; tasks refer to it as {{{{secret:{d['name']}}}}}"


def _list_text(d: dict[str, Any]) -> str:
    rows = [f"{s['name']:<32} updated {_when(s['updated_at'])}" for s in d["secrets"]]
    return (
        "\n".join(rows) or f"no secrets in the vault of {d['workspace_id']}; add one with `mcp-browsa vault set NAME`"
    )


def _deleted_text(d: dict[str, Any]) -> str:
    return f"deleted {d['name']} from the vault of {d['workspace_id']}"
