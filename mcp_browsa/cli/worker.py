"""`mcp-browsa worker`: the engine without an MCP transport, claiming jobs from the database it shares.

Any number of workers and `serve` front-ends may share one database; each worker runs up to --max-burners
jobs. SIGTERM or SIGINT stops it cleanly: it claims nothing more, gives running jobs --grace seconds to end,
then hands back what is left at once (read-only work is queued again for another worker, agent tasks end
INTERRUPTED) instead of leaving it to a lease that expires. A second signal skips the wait.
"""

from __future__ import annotations

import argparse
import signal
from typing import TYPE_CHECKING

import anyio

from mcp_browsa import __version__
from mcp_browsa.cli.output import say
from mcp_browsa.config import Settings

if TYPE_CHECKING:
    from mcp_browsa.browser.host import BrowserHost

__all__ = ["DEFAULT_GRACE", "add_parser", "run"]

DEFAULT_GRACE = 30.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("worker", help="run jobs from the shared database, with no MCP transport")
    w.add_argument(
        "--worker-id", help="this worker's name in leases, logs and job events (BROWSA_WORKER_ID; default host:pid)"
    )
    w.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        help=f"seconds running jobs get to end after SIGTERM before they are handed back (default {DEFAULT_GRACE:g})",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_browsa.cli.setup import ensure_browser
    from mcp_browsa.cli.startup import WORKER_MODULES, launching, load

    ensure_browser(settings)
    async with launching(settings) as host:
        await load(WORKER_MODULES)  # while Chromium starts
        return await _work(settings, args, host)


async def _work(settings: Settings, args: argparse.Namespace, host: BrowserHost) -> int:
    from mcp_browsa.app import Browsa

    app = Browsa(settings, early_host=host)
    # Held until the process has handed everything back: a signal during that goes to the receiver, not to the
    # default handler, which would kill the process halfway through giving its leases up.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        signals = received.__aiter__()
        async with app.running():
            say(
                f"mcp-browsa {__version__}: worker {app.workers.owner} running up to {settings.max_burners} jobs"
                f" from {app.db.describe()}; SIGTERM or Ctrl-C stops it"
            )
            await signals.__anext__()
            with anyio.move_on_after(max(0.0, args.grace)):
                await app.workers.stop_claiming()
            say(f"stopping: claiming nothing more; {app.workers.busy} running job(s) get up to {args.grace:g} s to end")
            async with anyio.create_task_group() as tg:

                async def hurry() -> None:
                    await signals.__anext__()
                    say("second signal: handing running jobs back now")
                    tg.cancel_scope.cancel()

                tg.start_soon(hurry)
                await app.workers.drain(max(0.0, args.grace))
                tg.cancel_scope.cancel()
            if app.workers.busy:
                say(f"handing back {app.workers.busy} job(s) still running: other workers take them now")
    return 0
