"""The live view: a job's, session's or identity's browser streamed to a web page, and a human's takeover of it.

`LiveServer` owns where views are served and their tokens (`registry`); `LiveRegistry.view` shows one browser.
"""

from __future__ import annotations

from mcp_browsa.live.registry import LiveRegistry, LiveTarget, TargetHooks, View
from mcp_browsa.live.web import LiveServer

__all__ = ["LiveRegistry", "LiveServer", "LiveTarget", "TargetHooks", "View"]
