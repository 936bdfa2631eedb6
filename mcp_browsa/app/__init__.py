"""Browsa: the one service object. Its lifespan owns the database, the engine, workers and the browser.

The MCP tools, the CLI and the tests all drive this object; it is the only place that composes storage, engine,
browser, LLM, identities, sessions, live views and webhooks. `service` composes and runs them; `calls` takes what
callers ask for (a request per job kind) and submits it; `reading` answers what callers ask about jobs and credits.
"""

from mcp_browsa.app.calls import Caller
from mcp_browsa.app.service import Browsa

__all__ = ["Browsa", "Caller"]
