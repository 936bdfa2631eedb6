"""Identities: burners with their own Chromium and a CDP URL, persistent profiles, fingerprints and a trust score.

The app composes one `IdentityService`; tools, the CLI and `Browsa.browser_for` call it.
"""

from __future__ import annotations

from mcp_browsa.identities.core import IdentityCore
from mcp_browsa.identities.models import Identity, IdentityList, SessionClosed
from mcp_browsa.identities.service import IdentityService
from mcp_browsa.identities.spec import CreateSpec, build_spec, parse_ttl

__all__ = [
    "CreateSpec",
    "Identity",
    "IdentityCore",
    "IdentityList",
    "IdentityService",
    "SessionClosed",
    "build_spec",
    "parse_ttl",
]
