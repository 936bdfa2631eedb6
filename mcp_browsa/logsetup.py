"""Logging for the server process: one stderr handler, and the wire kept out of debug logs.

At DEBUG the MCP SDK's SSE transport and sse-starlette log every message sent and received in full, aiosqlite every
statement with its parameters: tool arguments, page text, a webhook's signing secret, what a human typed into a
hand-off. A debug log is what people paste into bug reports, so those loggers stay at INFO unless the operator
asks for the wire with BROWSA_LOG_WIRE=1.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["WIRE_LOGGERS", "configure_logging"]

WIRE_LOGGERS = ("mcp.server.sse", "sse_starlette", "aiosqlite")


def configure_logging(level: str, *, wire: bool = False) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if wire:
        return
    floor = max(logging.getLogger().getEffectiveLevel(), logging.INFO)
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(floor)
