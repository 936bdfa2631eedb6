"""Host-driven sessions: a live browser the host's own model drives step by step (open_session, act, observe…).

The app composes one `SessionService` and registers `SessionRunner.run` for jobs of kind "session".
"""

from __future__ import annotations

from mcp_browsa.sessions.models import SessionEnded, SessionList, SessionRequest, SessionView, StepResult
from mcp_browsa.sessions.runner import SessionRunner
from mcp_browsa.sessions.service import SessionService
from mcp_browsa.sessions.steps import ACT_ACTIONS

__all__ = [
    "ACT_ACTIONS",
    "SessionEnded",
    "SessionList",
    "SessionRequest",
    "SessionRunner",
    "SessionService",
    "SessionView",
    "StepResult",
]
