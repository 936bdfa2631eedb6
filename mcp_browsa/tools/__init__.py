"""MCP tool adapters, one module per group: validate input, call the Browsa app, return a model.

`register_all` wires the selected groups onto a server; nothing here holds state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_browsa.app import Browsa
    from mcp_browsa.server import BrowsaServer

__all__ = ["register_all"]


def register_all(server: BrowsaServer, app: Browsa, groups: set[str]) -> None:
    from mcp_browsa.tools import (
        account,
        auto,
        content,
        identities,
        jobs,
        keys,
        login,
        quick,
        resources,
        sessions,
        tasks,
        webhooks,
    )

    if "quick" in groups:
        quick.register(server, app)
    if "content" in groups:
        content.register(server, app)
    if "tasks" in groups:
        jobs.register(server, app)
        tasks.register(server, app)
        auto.register(server, app)
    if "account" in groups:
        account.register(server, app)
        keys.register(server, app)
    if "webhooks" in groups:
        webhooks.register(server, app)
    if "browser" in groups:
        sessions.register(server, app)
    if "identities" in groups:
        identities.register(server, app)
        login.register(server, app)
    resources.register(server, app)
