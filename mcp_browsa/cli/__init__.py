"""`mcp-browsa`: the stdio MCP server by default, plus sub-commands for people at a terminal.

Output is readable text, or JSON with --json. Long work shows progress on stderr; stdout stays
clean (under stdio it carries the MCP protocol).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

import anyio
from pydantic import ValidationError

from mcp_browsa import __version__
from mcp_browsa.browser.discovery import BrowserNotFound
from mcp_browsa.cli import admin
from mcp_browsa.cli import identities as identities_cli
from mcp_browsa.cli import live as live_cli
from mcp_browsa.cli import vault as vault_cli
from mcp_browsa.cli import worker as worker_cli
from mcp_browsa.cli.output import say
from mcp_browsa.cli.setup import cmd_demo, cmd_doctor, cmd_install_browser
from mcp_browsa.config import Settings, load_settings
from mcp_browsa.errors import BrowsaError
from mcp_browsa.logsetup import configure_logging
from mcp_browsa.models import JobKind, JobStatus
from mcp_browsa.tools.selection import PROFILES, ToolSelectionError

__all__ = ["main"]


_DATABASE_URL_HELP = (
    "a postgresql:// URL shared by every process (BROWSA_DATABASE_URL; default: SQLite in the data dir)"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcp-browsa", description="Self-hosted MCP server with a real browser agent.")
    p.add_argument("--version", action="version", version=f"mcp-browsa {__version__}")
    p.add_argument("--home", help="data dir (default BROWSA_HOME or the platform's user data dir)")
    p.add_argument("--headed", action="store_true", default=None, help="show the browser window")
    p.add_argument("--max-burners", type=int, help="concurrent browser contexts (BROWSA_MAX_BURNERS)")
    p.add_argument("--browser-ws", help="remote browsers to use instead of launching one (BROWSA_BROWSER_WS)")
    p.add_argument(
        "--tools", help="comma list of tool groups (tasks,jobs,quick,identities,webhooks,account) and tool names"
    )
    p.add_argument("--profile", choices=sorted(PROFILES), help="a preset of groups: host = browser,quick,jobs")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--live-host", help="where a stdio server serves live views (BROWSA_LIVE_HOST, default 127.0.0.1)")
    p.add_argument("--live-port", type=int, help="its port (BROWSA_LIVE_PORT; default: any free port)")
    p.add_argument("--database-url", help=_DATABASE_URL_HELP)
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("serve", help="serve MCP over stdio, streamable HTTP (/mcp) or SSE (/sse)")
    s.add_argument("--transport", choices=["stdio", "http", "sse"], default="stdio")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8931)
    s.add_argument("--database-url", default=argparse.SUPPRESS, help=_DATABASE_URL_HELP)
    s.add_argument("--no-auth", action="store_true", help="serve HTTP without API keys (loopback addresses only)")
    s.add_argument(
        "--no-worker",
        action="store_true",
        help="run no browsers here: accept jobs and answer about them; `mcp-browsa worker` processes run them",
    )
    s.add_argument("--worker-id", help="this process's name in leases and job events (BROWSA_WORKER_ID)")
    s.add_argument(
        "--allowed-host", action="append", metavar="HOST:PORT", help="another Host header to accept (repeat)"
    )

    s = sub.add_parser("scrape", help="scrape one URL and print it")
    s.add_argument("url")
    s.add_argument("--format", action="append", choices=["html", "text", "links", "markdown", "screenshot"])
    s.add_argument("--max-chars", type=int, default=50_000)

    s = sub.add_parser("batch", help="scrape several URLs as one job")
    s.add_argument("urls", nargs="+")
    s.add_argument("--format", action="append", choices=["html", "text", "links", "markdown", "screenshot"])

    s = sub.add_parser("jobs", help="list recent jobs")
    s.add_argument("--status", choices=[st.value for st in JobStatus], help="only jobs in this state")
    s.add_argument("--kind", choices=[k.value for k in JobKind], help="only jobs of this kind")
    s.add_argument("--limit", type=int, default=20)

    s = sub.add_parser("job", help="show one job")
    s.add_argument("job_id")

    s = sub.add_parser("credits", help="show the balance and ledger, or `credits add N`")
    s.add_argument("action", nargs="?", choices=["show", "add"], default="show")
    s.add_argument("amount", nargs="?", type=int)
    s.add_argument("--limit", type=int, default=10)

    s = sub.add_parser("install-browser", help="get a Chromium (Playwright's, else Debian's)")
    s.add_argument("--force", action="store_true")

    doctor = sub.add_parser("doctor", help="check the browser, the data dir and the database")
    doctor.add_argument("--url", help="also say whether the URL guard lets the browser reach this URL, and why not")
    sub.add_parser("demo", help="serve a small local site and scrape it end to end")
    admin.add_parsers(sub)
    identities_cli.add_parser(sub)
    vault_cli.add_parser(sub)
    live_cli.add_parser(sub)
    worker_cli.add_parser(sub)
    _json_after_subcommands(p)
    return p


def _json_after_subcommands(parser: argparse.ArgumentParser) -> None:
    """Accept `--json` after any sub-command too (`mcp-browsa jobs --json`), not only before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # An alias (`keys create` for `keys mint`) is the same parser under a second name: visit it once.
            for child in {id(c): c for c in action.choices.values()}.values():
                # SUPPRESS: when absent here, the value parsed before the sub-command stands.
                child.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
                _json_after_subcommands(child)


async def _jobs_command(settings: Settings, args: argparse.Namespace) -> int:
    """scrape, batch, jobs, job and credits, loaded when one runs: they bring the whole app with them."""
    from mcp_browsa.cli import jobs

    commands = {
        "scrape": jobs.cmd_scrape,
        "batch": jobs.cmd_batch,
        "jobs": jobs.cmd_jobs,
        "job": jobs.cmd_job,
        "credits": jobs.cmd_credits,
    }
    return await commands[args.command](settings, args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("json",):
        setattr(args, name, getattr(args, name, False))
    try:
        settings = load_settings(
            home=args.home,
            max_burners=args.max_burners,
            browser_ws=args.browser_ws,
            headed=args.headed,
            live_host=args.live_host,
            live_port=args.live_port,
            database_url=args.database_url,
            worker_id=getattr(args, "worker_id", None),
        )
    except ValueError as exc:
        say(f"configuration error: {exc}")
        return 2
    configure_logging(settings.log_level, wire=settings.log_wire)
    wanted = [g.strip() for g in args.tools.split(",")] if args.tools else []
    groups = tuple(wanted + ([args.profile] if args.profile else [])) or None
    command = args.command
    try:
        if command in (None, "serve"):
            # Loaded only to serve: a server starts its browser before loading the rest (see cli/startup.py).
            from mcp_browsa.cli.serve import STDIO_AT_A_TERMINAL, run_http_server, run_stdio_server
        if command is None or (command == "serve" and args.transport == "stdio"):
            if sys.stdin.isatty():
                say(STDIO_AT_A_TERMINAL)
            anyio.run(run_stdio_server, settings, groups, getattr(args, "no_worker", False))
            return 0
        if command == "serve":
            refusal = admin.no_auth_refusal(args)
            if refusal:
                say(refusal)
                return 2
            anyio.run(run_http_server, settings, args, groups)
            return 0
        if command == "install-browser":
            return cmd_install_browser(settings, args)
        handlers: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]] = {
            "scrape": _jobs_command,
            "batch": _jobs_command,
            "jobs": _jobs_command,
            "job": _jobs_command,
            "credits": _jobs_command,
            "doctor": cmd_doctor,
            "demo": cmd_demo,
            "keys": admin.run_keys,
            "webhooks": admin.run_webhooks,
            "identities": identities_cli.run,
            "vault": vault_cli.run_vault,
            "live": live_cli.run,
            "worker": worker_cli.run,
        }
        return anyio.run(handlers[command], settings, args)
    except BrowsaError as exc:
        say(f"error: {exc.code}: {exc.message}")
        return 1
    except ValidationError as exc:  # an argument outside what the request takes (a request model's bounds)
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        say(f"error: BAD_REQUEST: {where}: {problem['msg']}")
        return 1
    except ToolSelectionError as exc:
        say(f"configuration error: {exc}")
        return 2
    except BrowserNotFound as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
