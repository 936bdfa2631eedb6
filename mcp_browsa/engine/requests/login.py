"""A login as a request (`login`, kind "login"): where to sign in, with which vaulted secrets, how to tell it worked."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_browsa.engine.requests.base import SecondsTimeout

__all__ = [
    "LoginIdentity",
    "LoginRequest",
    "LoginTimeout",
    "LoginUrl",
    "SecretName",
    "Service",
    "SuccessSelector",
    "SuccessText",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

Service = Annotated[
    str,
    Field(
        min_length=1,
        max_length=60,
        pattern=_NAME,
        description="Site name (e.g. github): secrets {service}_username, {service}_password.",
    ),
]
LoginUrl = Annotated[str, Field(max_length=4096, description="The login page's absolute http(s) URL.")]
SecretName = Annotated[
    str | None,
    Field(
        min_length=1, max_length=100, pattern=_NAME, description="A vault secret's name (`mcp-browsa vault set NAME`)."
    ),
]
LoginIdentity = Annotated[
    str | None, Field(max_length=100, description="Log in on this persistent identity (default: a burner).")
]
SuccessSelector = Annotated[str | None, Field(max_length=500, description="CSS selector visible only once logged in.")]
SuccessText = Annotated[str | None, Field(max_length=500, description="Text the page shows only once logged in.")]
LoginTimeout = Annotated[float, Field(ge=5, le=120, description="Limit for the whole login.")]


class LoginRequest(SecondsTimeout):
    """Log in with a vaulted username and password; the secrets' names are stored, never their values."""

    service: Service
    url: LoginUrl
    username_secret: SecretName = None
    password_secret: SecretName = None
    identity_id: LoginIdentity = None
    success_selector: SuccessSelector = None
    success_text: SuccessText = None
    timeout_seconds: LoginTimeout = 45
    sync: bool = False  # the caller waits for the answer in its call: no webhook announces its end

    @property
    def username_name(self) -> str:
        return self.username_secret or f"{self.service}_username"

    @property
    def password_name(self) -> str:
        return self.password_secret or f"{self.service}_password"
