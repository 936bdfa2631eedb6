"""mcp-browsa: a self-hosted MCP server that gives AI assistants a real browser agent."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
