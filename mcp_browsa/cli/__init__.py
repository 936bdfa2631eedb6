"""`mcp-browsa`: the stdio MCP server by default, plus sub-commands for people at a terminal.

Output is readable text, or JSON with --json. Long work shows progress on stderr; stdout stays
clean (under stdio it carries the MCP protocol).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from mcp_browsa import __version__, admin, vault_cli
from mcp_browsa.app import Browsa, Caller
from mcp_browsa.browser.discovery import BrowserNotFound, find_chromium
from mcp_browsa.browser.install import install_browser
from mcp_browsa.browser.private_hint import private_network_status, url_verdict
from mcp_browsa.cli import identities as identities_cli
from mcp_browsa.cli import live as live_cli
from mcp_browsa.cli import worker as worker_cli
from mcp_browsa.config import Settings, load_settings
from mcp_browsa.errors import BrowsaError
from mcp_browsa.jobs_text import http_status_note, jobs_table
from mcp_browsa.logsetup import configure_logging
from mcp_browsa.models import Job, JobKind, JobStatus
from mcp_browsa.tools.selection import PROFILES, ToolSelectionError

__all__ = ["main"]

log = logging.getLogger("mcp_browsa")


# Said on stderr when a person starts the server by hand: stdout is the protocol, so it stays silent.
_STDIO_AT_A_TERMINAL = (
    "mcp-browsa is an MCP server on stdio: it is now waiting for an MCP client (Claude Desktop, Cursor, Cline…)"
    " to speak the protocol on its stdin and stdout, so typing here does nothing useful.\n"
    "To try it at a terminal: `mcp-browsa demo` (a real browser job end to end) or `mcp-browsa scrape URL`;"
    " `mcp-browsa --help` lists every command. Ctrl-C stops the server."
)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        payload = data.model_dump(mode="json", exclude_none=True) if hasattr(data, "model_dump") else data
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(text(data))


async def _watch_signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for sig in signals:
            log.info("received %s; shutting down", signal.Signals(sig).name)
            scope.cancel()
            return


async def _run_until_signal(body: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, tg.cancel_scope)
        await body()
        tg.cancel_scope.cancel()


def ensure_browser(settings: Settings) -> None:
    """Find a browser, or get one (saying what is done) so a first run works on a fresh machine."""
    if settings.browser_ws:
        return
    try:
        find_chromium(settings.chromium)
    except BrowserNotFound:
        _say("No Chromium that starts was found; getting one (Playwright's download, else Debian's chromium)…")
        found, steps = install_browser()
        for line in steps:
            _say("  " + line)
        _say(f"Using {found.describe()}")


# -- servers -----------------------------------------------------------------------------------


async def _serve_stdio(settings: Settings, groups: tuple[str, ...] | None, no_worker: bool = False) -> None:
    from mcp_browsa.stdio import serve_stdio
    from mcp_browsa.tools.assemble import build_server

    app = Browsa(settings)
    server = build_server(app, groups=groups)  # an unknown tool name stops here, before anything starts
    async with app.running(workers=not no_worker, background=True):
        # Returns when stdin reaches EOF (the host closed us) or on SIGTERM/SIGINT, even with stdin still open.
        # Leaving the block closes Chromium.
        await _run_until_signal(lambda: serve_stdio(server))


async def _serve_http(settings: Settings, args: argparse.Namespace, groups: tuple[str, ...] | None) -> None:
    from mcp_browsa.cli.live import live_base_url
    from mcp_browsa.http import build_http_app, serve_http, transport_security
    from mcp_browsa.http_sessions import SessionLimits
    from mcp_browsa.tools.assemble import build_server

    sessions = SessionLimits(
        settings.max_http_sessions, settings.max_http_sessions_per_key, settings.http_session_idle_seconds
    )
    app = Browsa(settings)
    server = build_server(app, groups=groups)
    async with app.running(workers=not args.no_worker, background=True):
        keys = None if args.no_auth else app.keys
        mcp_app = build_http_app(
            server, host=args.host, port=args.port, keys=keys, extra_hosts=args.allowed_host, sessions=sessions
        )
        http_app = app.live.mount(
            mcp_app,
            port=args.port,
            base_url=live_base_url(args.host, args.port, args.allowed_host),
            security=transport_security(args.host, args.port, args.allowed_host),
        )
        _say(f"mcp-browsa {__version__}: streamable HTTP at http://{args.host}:{args.port}/mcp, SSE at /sse")
        if keys is None:
            _say("API keys are off (--no-auth): anything on this machine can use this server")
        elif not await keys.active_count():
            _say("no API key minted yet: every request gets 401 until you run `mcp-browsa keys mint`")
        await _run_until_signal(
            lambda: serve_http(http_app, host=args.host, port=args.port, log_level=settings.log_level)
        )


# -- terminal commands -------------------------------------------------------------------------


def _job_text(job: Job) -> str:
    lines = [f"job {job.id}  {job.kind}  {job.status}  credits={job.credits_charged}"]
    if note := http_status_note(job.result):
        lines[0] += f"  {note}: the page answered with an error; what follows is that page"
    if job.error_code:
        lines.append(f"error: {job.error_code}: {job.error_message}")
    result = job.result or {}
    for key in ("final_url", "title"):
        if key in result:
            lines.append(f"{key}: {result[key]}")
    for key in ("markdown", "text", "content", "final_result"):
        if key in result:
            lines.append("")
            lines.append(str(result[key]))
    if "links" in result:
        lines += [f"- {lk['text'] or '(no text)'} <{lk['url']}>" for lk in result["links"]]
    if "screenshot" in result:
        lines.append(f"screenshot: {result['screenshot']}")
    for item in job.items or []:
        extra = f" {item.error_code}: {item.error_message}" if item.error_code else ""
        if not item.error_code and (note := http_status_note(item.result)):
            extra = f" {note}"
        lines.append(f"  [{item.index}] {item.status} {item.url or ''}{extra}")
    return "\n".join(lines)


def _progress_bar() -> Callable[[Job], Awaitable[None]]:
    async def show(job: Job) -> None:
        total = job.progress_total or 1
        done = min(job.progress_done, total)
        width = 30
        filled = int(width * done / total)
        bar = "█" * filled + "·" * (width - filled)
        sys.stderr.write(f"\r{job.status:<10} [{bar}] {done}/{total} {(job.last_action or '')[:40]:<40}")
        sys.stderr.flush()

    return show


async def _wait_done(app: Browsa, job: Job, show: bool) -> Job:
    progress = _progress_bar() if show and sys.stderr.isatty() else None
    while job.status in ("queued", "running"):
        job = await app.get_job(Caller(), job.id, wait=30, on_progress=progress)
    if progress is not None:
        sys.stderr.write("\n")
    return job


async def _cmd_scrape(settings: Settings, args: argparse.Namespace) -> int:
    ensure_browser(settings)
    async with Browsa(settings).running() as app:
        job = await app.scrape(Caller(), args.url, formats=args.format or ["markdown"], max_chars=args.max_chars)
        job = await _wait_done(app, job, not args.json)
        _emit(job, args.json, _job_text)
        return 0 if job.status == "completed" else 1


async def _cmd_batch(settings: Settings, args: argparse.Namespace) -> int:
    ensure_browser(settings)
    async with Browsa(settings).running() as app:
        job = await app.batch_urls(Caller(), args.urls, formats=args.format or ["markdown"])
        job = await _wait_done(app, job, not args.json)
        _emit(job, args.json, _job_text)
        return 0 if job.status == "completed" else 1


async def _cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async with Browsa(settings).running(workers=False) as app:
        listing = await app.list_jobs(Caller(), status=args.status, kind=args.kind, limit=args.limit)
        targets = await app.engine.jobs.targets([j.id for j in listing.jobs])
        _emit(listing, args.json, lambda lst: jobs_table(lst.jobs, targets))
    return 0


async def _cmd_job(settings: Settings, args: argparse.Namespace) -> int:
    async with Browsa(settings).running(workers=False) as app:
        job = await app.get_job(Caller(), args.job_id)
        _emit(job, args.json, _job_text)
    return 0


async def _cmd_credits(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "add" and (args.amount is None or args.amount <= 0):
        _say("usage: mcp-browsa credits add N  (N > 0)")
        return 2
    async with Browsa(settings).running(workers=False) as app:
        if args.action == "add":
            await app.engine.ledger.top_up(Caller().workspace_id, args.amount, "top-up from the command line")
        credits = await app.credits(Caller(), limit=args.limit)

        def text(c: Any) -> str:
            rows = [f"balance: {c.balance} credits   LLM spend: ${c.usd_spent:.4f}"]
            rows += [f"  #{e.id} {e.kind:<7} {e.amount:+6d} → {e.balance_after:<6} {e.description}" for e in c.ledger]
            return "\n".join(rows)

        _emit(credits, args.json, text)
    return 0


def _cmd_install_browser(args: argparse.Namespace) -> int:
    try:
        found, steps = install_browser(force=args.force)
    except ToolSelectionError as exc:
        _say(f"configuration error: {exc}")
        return 2
    except BrowserNotFound as exc:
        _say(str(exc))
        return 1
    for line in steps:
        _say(line)
    print(f"browser: {found.describe()}")
    return 0


async def _cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_browsa.storage.db import Database

    report: dict[str, Any] = {"version": __version__, "data_dir": str(settings.home)}
    ok = True
    try:
        found = find_chromium(settings.chromium)
        report["browser"] = found.describe()
        skipped = found.skipped
    except ToolSelectionError as exc:
        _say(f"configuration error: {exc}")
        return 2
    except BrowserNotFound as exc:
        report["browser"] = f"MISSING — {exc}"
        skipped = exc.skipped
        ok = False
    if skipped:
        report["skipped"] = list(skipped)
    db = Database(settings.database)
    try:
        await db.open()
        report["db"] = db.describe()
        report["db_server"] = await db.server_version()
        report["schema_version"] = await db.schema_version()
        report["integrity"] = await db.integrity_check()
    except Exception as exc:
        report["db"] = f"ERROR — {exc}"
        ok = False
    finally:
        await db.close()
    if ok and not settings.browser_ws:
        from mcp_browsa.browser.host import BrowserHost

        host = BrowserHost(settings)
        try:
            browser = await host.browser()
            report["browser_version"] = browser.version
        except BrowsaError as exc:
            report["browser_version"] = f"FAILED TO START — {exc.message}"
            ok = False
        finally:
            await host.close()
    report["max_burners"] = settings.max_burners
    report["private_network"] = private_network_status(settings.allow_private_network)
    if args.url:
        report["url"] = url_verdict(settings.allow_private_network, args.url)
    _emit(report, args.json, _report_text)
    return 0 if ok else 1


def _report_text(report: dict[str, Any]) -> str:
    lines = []
    for key, value in report.items():
        for n, line in enumerate(value if isinstance(value, list) else [value]):
            lines.append(f"{key if n == 0 else '':>16}: {line}")
    return "\n".join(lines)


async def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    ensure_browser(settings)
    return await worker_cli.run(settings, args)


async def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_browsa.demo import run_demo

    ensure_browser(settings)
    return await run_demo(settings, as_json=args.json)


_DATABASE_URL_HELP = (
    "a postgresql:// URL shared by every process (BROWSA_DATABASE_URL; default: SQLite in the data dir)"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcp-browsa", description="Self-hosted MCP server with a real browser agent.")
    p.add_argument("--version", action="version", version=f"mcp-browsa {__version__}")
    p.add_argument("--home", help="data dir (default BROWSA_HOME or the platform's user data dir)")
    p.add_argument("--headed", action="store_true", default=None, help="show the browser window")
    p.add_argument("--max-burners", type=int, help="concurrent browser contexts (BROWSA_MAX_BURNERS)")
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
        "--allowed-host", action="append", metavar="HOST:PORT", help="another Host header to accept (repeat)"
    )
    s.add_argument(
        "--no-worker",
        action="store_true",
        help="run no browsers here: accept jobs and answer about them; `mcp-browsa worker` processes run them",
    )
    s.add_argument("--worker-id", help="this process's name in leases and job events (BROWSA_WORKER_ID)")

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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("json",):
        setattr(args, name, getattr(args, name, False))
    try:
        settings = load_settings(
            home=args.home,
            max_burners=args.max_burners,
            headed=args.headed,
            live_host=args.live_host,
            live_port=args.live_port,
            worker_id=getattr(args, "worker_id", None),
            database_url=args.database_url,
        )
    except ValueError as exc:
        _say(f"configuration error: {exc}")
        return 2
    configure_logging(settings.log_level, wire=settings.log_wire)
    wanted = [g.strip() for g in args.tools.split(",")] if args.tools else []
    groups = tuple(wanted + ([args.profile] if args.profile else [])) or None
    command = args.command
    try:
        if command is None or (command == "serve" and args.transport == "stdio"):
            if sys.stdin.isatty():
                _say(_STDIO_AT_A_TERMINAL)
            anyio.run(_serve_stdio, settings, groups, getattr(args, "no_worker", False))
            return 0
        if command == "serve":
            refusal = admin.no_auth_refusal(args)
            if refusal:
                _say(refusal)
                return 2
            anyio.run(_serve_http, settings, args, groups)
            return 0
        if command == "install-browser":
            return _cmd_install_browser(args)
        handlers: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]] = {
            "scrape": _cmd_scrape,
            "batch": _cmd_batch,
            "jobs": _cmd_jobs,
            "job": _cmd_job,
            "credits": _cmd_credits,
            "doctor": _cmd_doctor,
            "demo": _cmd_demo,
            "keys": admin.run_keys,
            "webhooks": admin.run_webhooks,
            "identities": identities_cli.run,
            "vault": vault_cli.run_vault,
            "live": live_cli.run,
            "worker": _cmd_worker,
        }
        return anyio.run(handlers[command], settings, args)
    except BrowsaError as exc:
        _say(f"error: {exc.code}: {exc.message}")
        return 1
    except ToolSelectionError as exc:
        _say(f"configuration error: {exc}")
        return 2
    except BrowserNotFound as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
