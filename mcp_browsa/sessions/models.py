"""The shapes of host-driven sessions: the request stored as the session job's params, and what the tools return.

`SessionRequest` is built once by open_session and read back typed by the runner; the result models are what the
host gets in structuredContent (its text content is the one-line outcome plus the observation).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mcp_browsa.engine.requests import JobRequest

__all__ = [
    "MAX_IDLE_SECONDS",
    "MAX_TTL_SECONDS",
    "Download",
    "Refused",
    "SessionEnded",
    "SessionList",
    "SessionRequest",
    "SessionView",
    "StepResult",
]

MAX_TTL_SECONDS = 3600.0
MAX_IDLE_SECONDS = 3600.0


class SessionRequest(JobRequest):
    """What open_session asked for; once checked (allowed_domains filled in), stored as the job's params."""

    model_config = ConfigDict(extra="forbid")

    identity_id: str | None = None
    initial_url: str | None = None
    allowed_domains: list[str] | None = None
    allow_writes: bool = False
    ttl_seconds: float = 900.0
    idle_seconds: float = 300.0
    os_type: str | None = None
    country: str | None = None
    cdp: bool = False
    human_login: bool = False  # a person signs in through the live view; no tool reads the page


class _Model(BaseModel):
    model_config = ConfigDict(use_enum_values=True)


class Refused(_Model):
    url: str = Field(description="What the guard refused.")
    rule: str = Field(description="The rule: writes, allowed_domains, scheme, ssrf:….")
    method: str | None = Field(None, description="HTTP method, or WEBSOCKET.")


class Download(_Model):
    name: str = Field(description="File name the site suggested.")
    path: str = Field(description="Where it was saved (never opened).")
    bytes: int = Field(description="Size.")


class SessionView(_Model):
    session_id: str = Field(description="The session's id (also its job id for get_job).")
    status: Literal["open", "ended"] = Field(description="open until close_session, the idle timeout or the TTL.")
    identity_id: str | None = Field(None, description="The persistent identity whose profile it runs on.")
    allowed_domains: list[str] = Field(description='Hosts it may reach (default-deny; ["*"] = any).')
    allow_writes: bool = Field(description="Whether forms may post and WebSockets open.")
    expires_at: float = Field(description="Unix time the TTL ends it.")
    idle_timeout_seconds: float = Field(description="It ends after this long without a call.")
    url: str | None = Field(None, description="The active tab's URL.")
    live_url: str | None = Field(
        None, description="Live view of the browser: a person watches it there, and can take control."
    )
    human_login: bool | None = Field(None, description="A person signs in through live_url; its page is not shown.")
    cdp_url: str | None = Field(None, description="CDP WebSocket URL (cdp=true only).")
    served_by: str | None = Field(
        None, description="The server process holding the browser (host:pid:worker); only it can drive the session."
    )
    outcome: str | None = Field(None, description="What became of initial_url.")
    observation: str | None = Field(None, description="The page as the model reads it.")


class SessionList(_Model):
    sessions: list[SessionView] = Field(description="Open sessions, newest first.")
    count: int


class StepResult(_Model):
    session_id: str
    ok: bool = Field(description="False when the action ran but failed (the page, not the arguments).")
    outcome: str = Field(description="What happened, in one line.")
    url: str = Field(description="The active tab's URL now.")
    tabs: int = Field(description="Open tabs.")
    navigated: bool = Field(False, description="The page or the active tab changed.")
    refused: list[Refused] | None = Field(None, description="Requests the guard refused during this step.")
    dialog: str | None = Field(None, description="A dialog waiting for accept_dialog or dismiss_dialog.")
    downloads: list[Download] | None = Field(None, description="Files downloaded during this step.")
    observation: str = Field(description="The page after the step.")
    idempotent_replay: bool | None = Field(None, description="True when this replays an earlier call.")


class SessionEnded(_Model):
    session_id: str
    reason: str = Field(description="Why it ended.")
    state_saved: bool | None = Field(None, description="Identity sessions: cookies and localStorage written back.")
    credits_charged: int = Field(0, description="What the session cost.")
    steps: int = Field(0, description="Actions taken.")
