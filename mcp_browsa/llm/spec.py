"""The `llm=` string (`provider:model[@base_url]`), which API key a job uses, and building the model.

The rest of the package reaches the vendor modules only through here, on demand, so no SDK loads unless used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlsplit

from mcp_browsa.llm.base import ClosableChatModel, LLMError
from mcp_browsa.llm.retry import RetryPolicy

if TYPE_CHECKING:
    from mcp_browsa.llm.pinning import AddressCheck

__all__ = [
    "DEFAULT_TIMEOUT",
    "KEYLESS_PLACEHOLDER",
    "PROVIDERS",
    "LLMSpec",
    "Provider",
    "make_chat_model",
    "parse_llm_spec",
    "resolve_api_key",
]

Provider = Literal["anthropic", "openai"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
_PROVIDER_BY_NAME: dict[str, Provider] = {p: p for p in PROVIDERS}

# OpenAI-compatible servers (Ollama, vLLM, LM Studio) usually ignore the key, but the SDKs insist on one.
KEYLESS_PLACEHOLDER = "not-needed"
DEFAULT_TIMEOUT = 60.0

_ENV_KEY = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
_ENV_BASE_URL = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}
_OFFICIAL_HOSTS = {"api.anthropic.com", "api.openai.com"}
_EXAMPLES = "e.g. 'anthropic:claude-haiku-4-5', 'openai:gpt-4.1-mini' or 'openai:llama3.1@http://localhost:11434/v1'"
# The base URL starts at the last "@" followed by a scheme: model ids may hold ":" (Ollama tags) and even "@".
_WITH_BASE_URL = re.compile(r"^(?P<model>.*)@(?P<url>[A-Za-z][A-Za-z0-9+.-]*://.*)$")


@dataclass(frozen=True)
class LLMSpec:
    """A parsed `llm=` value. `base_url` is set only for an explicitly named (OpenAI-compatible) server."""

    provider: Provider
    model: str
    base_url: str | None = None

    def __str__(self) -> str:
        suffix = f"@{self.base_url}" if self.base_url else ""
        return f"{self.provider}:{self.model}{suffix}"


def parse_llm_spec(s: str) -> LLMSpec:
    """Parse `provider:model` or `provider:model@http(s)://host[:port]/path`; ValueError says what is wrong."""
    text = s.strip()
    if not text:
        raise ValueError(f"llm must not be empty ({_EXAMPLES})")
    provider_part, sep, rest = text.partition(":")
    if not sep:
        raise ValueError(f"llm {text!r} has no provider: write 'provider:model' ({_EXAMPLES})")
    provider = _PROVIDER_BY_NAME.get(provider_part.strip().lower())
    if provider is None:
        raise ValueError(f"unknown LLM provider {provider_part!r} in {text!r}: use one of {', '.join(PROVIDERS)}")

    base_url: str | None = None
    match = _WITH_BASE_URL.match(rest)
    if match:
        rest, base_url = match["model"], _check_base_url(match["url"], text)
    elif "@" in rest and not _looks_like_model_tag(rest):
        raise ValueError(f"bad base URL in llm {text!r}: after '@' give http(s)://host[:port]/path ({_EXAMPLES})")

    model = rest.strip()
    if not model:
        raise ValueError(f"llm {text!r} names no model ({_EXAMPLES})")
    if any(ch.isspace() for ch in model):
        raise ValueError(f"model name {model!r} must not contain whitespace")
    return LLMSpec(provider=provider, model=model, base_url=base_url)


def _looks_like_model_tag(rest: str) -> bool:
    # Some model ids legitimately contain "@" (e.g. "claude-opus-4@20250514"); a URL after it would have a scheme.
    _model, _at, after = rest.rpartition("@")
    return bool(after) and "/" not in after and ":" not in after


def _check_base_url(url: str, spec: str) -> str:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"bad base URL {url!r} in llm {spec!r}: {exc}") from None
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"bad base URL {url!r} in llm {spec!r}: the scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"bad base URL {url!r} in llm {spec!r}: it names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"bad base URL {url!r} in llm {spec!r}: pass credentials as the API key, not in the URL")
    if parts.query or parts.fragment:
        raise ValueError(f"bad base URL {url!r} in llm {spec!r}: it must not have a query or fragment")
    return url.rstrip("/")


def resolve_api_key(spec: LLMSpec, explicit: str | None, env: Mapping[str, str]) -> str | None:
    """The key a job uses: the call's own, else BROWSA_LLM_API_KEY, else the vendor's variable.

    A spec that names its own server (`@base_url`) never receives a key from the environment: the
    operator's vendor key must not be shipped to whatever host a request names. Such servers,
    and one the operator configured via ANTHROPIC_BASE_URL / OPENAI_BASE_URL, may need no key at
    all, so they get a placeholder. None means no key was found and the call cannot be made.
    """
    if explicit and explicit.strip():
        return explicit.strip()
    if spec.base_url is not None:
        return KEYLESS_PLACEHOLDER
    for name in ("BROWSA_LLM_API_KEY", _ENV_KEY[spec.provider]):
        value = env.get(name, "").strip()
        if value:
            return value
    env_base = env.get(_ENV_BASE_URL[spec.provider], "").strip()
    if env_base and (urlsplit(env_base).hostname or "") not in _OFFICIAL_HOSTS:
        return KEYLESS_PLACEHOLDER
    return None


def make_chat_model(
    spec: LLMSpec,
    api_key: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    check: AddressCheck | None = None,
) -> ClosableChatModel:
    """Build the vendor adapter for `spec`; the caller closes it. Raises LLMError(INVALID_API_KEY) without a key.

    `check` vets every address the model's HTTP client connects to (see `endpoint.py`)."""
    if not api_key:
        raise LLMError(
            "INVALID_API_KEY",
            f"no API key for {spec.provider}: pass llm_api_key, or set BROWSA_LLM_API_KEY or {_ENV_KEY[spec.provider]}",
        )
    policy = retry if retry is not None else RetryPolicy()
    if spec.provider == "anthropic":
        from mcp_browsa.llm.anthropic import AnthropicChatModel

        return AnthropicChatModel(
            spec.model, api_key, base_url=spec.base_url, timeout=timeout, retry=policy, check=check
        )
    from mcp_browsa.llm.openai import OpenAIChatModel

    return OpenAIChatModel(spec.model, api_key, base_url=spec.base_url, timeout=timeout, retry=policy, check=check)
