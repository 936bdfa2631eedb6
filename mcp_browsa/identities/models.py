"""The public shapes of identities: the agent as tools return it, its open session, listings and warm-up visits.

Field descriptions are what the host model reads in each identity tool's output schema.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Identity",
    "IdentityList",
    "IdentityMode",
    "IdentityStatus",
    "Include",
    "OsTypeName",
    "SessionClosed",
    "SessionInfo",
    "WarmupVisit",
]

OsTypeName = Literal["OS_TYPE_MACOS", "OS_TYPE_WINDOWS", "OS_TYPE_LINUX"]
Include = Literal["trust", "fingerprint", "detection"]


class IdentityMode(str, Enum):
    BURNER = "burner"  # its own Chromium with a CDP URL until the TTL ends; nothing is kept
    PERSISTENT = "persistent"  # cookies and localStorage kept (encrypted) between sessions, fingerprint pinned


class IdentityStatus(str, Enum):
    QUEUED = "queued"  # being provisioned
    RUNNING = "running"  # usable: a burner's browser is up; a persistent identity can open sessions
    DESTROYED = "destroyed"  # ended on request, at its TTL, or with the server; its browser is gone
    FAILED = "failed"  # could not start, or its browser died; `error_message` says why


class _Model(BaseModel):
    model_config = ConfigDict(use_enum_values=True)


class WarmupVisit(_Model):
    url: str = Field(description="A URL of the warm-up recipe.")
    ok: bool = Field(description="True when the page loaded.")
    status: int | None = Field(None, description="HTTP status of the response.")
    error: str | None = Field(None, description="Why the visit failed.")


class SessionInfo(_Model):
    id: str = Field(description="Session id (`ses_…`).")
    kind: Literal["create", "interactive", "job"] = Field(description="interactive = open_session; job = a task.")
    started_at: float = Field(description="Unix time the session started.")
    expires_at: float | None = Field(None, description="Unix time an interactive session ends by itself.")
    job_id: str | None = Field(None, description="The job using the identity (job sessions).")


class Identity(_Model):
    # The public schema keeps its name (browsa://schemas/Agent), as the `agt_` ids keep their prefix.
    model_config = ConfigDict(use_enum_values=True, title="Agent")

    id: str = Field(description="Identity id (`agt_` + 20 hex).")
    mode: IdentityMode = Field(description="burner | persistent")
    status: IdentityStatus = Field(description="queued | running | destroyed | failed")
    cdp_url: str | None = Field(
        None,
        description="Chrome DevTools WebSocket URL on 127.0.0.1 while a browser is up: "
        "`playwright.chromium.connect_over_cdp(cdp_url)`, then use `browser.contexts[0]`.",
    )
    cdp_http: str | None = Field(
        None, description="The same browser's DevTools HTTP endpoint (/json/version, /json/list)."
    )
    live_url: str | None = Field(
        None, description="While its browser runs: a page to watch it live and take control (no key needed)."
    )
    expires_at: float | None = Field(None, description="Unix time a burner is destroyed by itself (its TTL).")
    trust_score: int | None = Field(
        None,
        description='0–1000: the sum of the trust factors (get_identity include=["trust"] lists them), the '
        "detection harness run in the identity's browser among them.",
    )
    trust_band: Literal["high", "medium", "low"] | None = Field(
        None, description="≥850 high, 700–849 medium, below low."
    )
    os_type: OsTypeName = Field(description="The operating system the fingerprint presents.")
    country: str | None = Field(None, description="ISO country of locale and time zone; none = en-US, host time zone.")
    persona: str | None = Field(None, description="Your label for the identity.")
    warmup_recipe: str | None = Field(None, description="Warm-up recipe visited at creation.")
    initial_url: str | None = Field(None, description="Page each browser of the identity opens on.")
    allowed_domains: list[str] | None = Field(None, description="Hosts the identity's browser may reach (None = any).")
    created_at: float = Field(description="Unix time of creation.")
    destroyed_at: float | None = Field(None, description="Unix time it ended.")
    error_message: str | None = Field(None, description="Why it failed or ended early.")
    cost_credits: int = Field(0, description="Credits charged for this identity so far (net of refunds).")
    session: SessionInfo | None = Field(None, description="The session open on a persistent identity, if any.")
    warmup: list[WarmupVisit] | None = Field(None, description="Warm-up visits made at creation.")
    trust: dict[str, Any] | None = Field(
        None,
        description="Trust measured now: score, band, failed check names, and `factors` [{name, points, detail}] "
        "adding up to the score (baseline, harness, mode, os, warmup, country, age, sessions), each detail saying "
        "what would raise it.",
    )
    detection: list[dict[str, Any]] | None = Field(
        None, description="Every detection check: name, weight, passed, detail."
    )
    fingerprint: dict[str, Any] | None = Field(
        None, description="What a page in the identity's live browser reports (read back, not the config)."
    )
    fingerprint_pinned: dict[str, Any] | None = Field(None, description="The fingerprint the identity is pinned to.")
    hint: str | None = Field(None, description="What to do next.")


class IdentityList(_Model):
    model_config = ConfigDict(use_enum_values=True, title="AgentList")

    agents: list[Identity] = Field(description="Newest first.")
    count: int = Field(description="How many are on this page.")
    next_cursor: str | None = Field(None, description="The `cursor` of the next page; absent on the last.")
    total: int = Field(0, description="How many identities match, over every page.")


class SessionClosed(_Model):
    agent_id: str = Field(description="The identity.")
    session_id: str = Field(description="The session that ended.")
    state_saved: bool = Field(description="True when cookies and localStorage were written back.")
    cookies: int = Field(0, description="Cookies stored for the next session.")
    origins: int = Field(0, description="Origins whose localStorage was stored.")
