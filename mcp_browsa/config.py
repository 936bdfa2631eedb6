"""Settings: the BROWSA_* environment, CLI overrides, the data dir and the limits.

One frozen object built once per process and handed down; nothing reads the environment later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from mcp_browsa.netpolicy import PrivateNetworkRule, parse_endpoint_list

__all__ = ["Settings", "load_settings"]


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_days(env: dict[str, str], name: str, default: int) -> int:
    """A retention in whole days; 0 keeps forever, and a negative one is refused rather than read as 0."""
    days = _env_int(env, name, default)
    if days < 0:
        raise ValueError(f"{name} must be a number of days, or 0 to keep forever; got {days}")
    return days


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(env: dict[str, str]) -> str:
    level = (env.get("BROWSA_LOG_LEVEL") or "WARNING").strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"BROWSA_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}; got {level!r}")
    return level


def _env_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the process needs to know before it starts; immutable once built."""

    home: Path
    max_burners: int = 4
    initial_credits: int = 1000
    chromium: str | None = None  # BROWSA_CHROMIUM: explicit browser executable
    browser_ws: str | None = None  # BROWSA_BROWSER_WS: connect to a remote browser instead of launching
    headed: bool = False
    # BROWSA_ALLOW_PRIVATE_NETWORK: "" (deny), "1" (allow all), or a comma list of hosts/host:port/CIDRs.
    allow_private_network: str = ""
    # BROWSA_LLM_ENDPOINTS: model servers (base URLs or host:port) HTTP callers may name despite the private-network
    # rule, e.g. a local Ollama; see llm/endpoint.py.
    llm_endpoints: str = ""
    # Streamable HTTP sessions: in all, per API key, and how long one may sit idle (see http_sessions.py).
    max_http_sessions: int = 200
    max_http_sessions_per_key: int = 20
    http_session_idle_seconds: int = 300
    screenshot_retention_days: int = 5
    webhook_log_retention_days: int = 30  # finished deliveries and their attempts; 0 keeps them forever
    lease_seconds: int = 30
    sweep_interval: float = 5.0
    poll_interval: float = 1.0
    warm_spares: int = 1
    nav_timeout_ms: int = 30_000
    # BROWSA_BROWSER_START_TIMEOUT: seconds a browser may take to start before the work fails UPSTREAM_TIMEOUT.
    browser_start_timeout: float = 60.0
    # BROWSA_MAX_IMAGE_BYTES: the largest screenshot sent back as image content; hosts refuse or choke on bigger ones.
    max_image_bytes: int = 8 * 1024 * 1024
    llm_api_key: str | None = field(default=None, repr=False)  # secrets never appear in a repr, a log or a traceback
    vault_key: str | None = field(default=None, repr=False)
    log_level: str = "WARNING"
    log_wire: bool = False  # BROWSA_LOG_WIRE: debug logs include the MCP messages and SQL parameters (see logsetup)
    warmup_recipes: dict[str, list[str]] = field(default_factory=dict)
    # BROWSA_LIVE_HOST / BROWSA_LIVE_PORT: where a process without the HTTP transport serves live views (0: any port).
    live_host: str = "127.0.0.1"
    live_port: int = 0
    upload_dir: Path | None = None  # BROWSA_UPLOAD_DIR: the only place session uploads may be read from
    # BROWSA_DATABASE_URL / --database-url: a postgresql:// URL every process of a deployment shares; None keeps
    # SQLite in the data dir.
    database_url: str | None = field(default=None, repr=False)

    @property
    def downloads_dir(self) -> Path:
        return self.home / "downloads"

    @property
    def db_path(self) -> Path:
        return self.home / "browsa.db"

    @property
    def database(self) -> str | Path:
        """Where the jobs, ledger and the rest live: the PostgreSQL URL, or else the SQLite file."""
        return self.database_url or self.db_path

    @property
    def screenshots_dir(self) -> Path:
        return self.home / "screenshots"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _parse_recipes(raw: str | None) -> dict[str, list[str]]:
    """`name=url1|url2;other=url3`: warm-up recipes an operator defines for identities."""
    recipes: dict[str, list[str]] = {}
    if not raw:
        return recipes
    for part in raw.split(";"):
        if "=" not in part:
            continue
        name, urls = part.split("=", 1)
        recipes[name.strip()] = [u.strip() for u in urls.split("|") if u.strip()]
    return recipes


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from an environment mapping (default: os.environ) plus explicit overrides."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("BROWSA_HOME") or platformdirs.user_data_dir("mcp-browsa", appauthor=False))
    settings = Settings(
        home=home.expanduser(),
        max_burners=max(1, _env_int(env, "BROWSA_MAX_BURNERS", 4)),
        initial_credits=_env_int(env, "BROWSA_INITIAL_CREDITS", 1000),
        chromium=env.get("BROWSA_CHROMIUM") or None,
        browser_ws=env.get("BROWSA_BROWSER_WS") or None,
        headed=_env_bool(env, "BROWSA_HEADED", False),
        allow_private_network=env.get("BROWSA_ALLOW_PRIVATE_NETWORK", "").strip(),
        llm_endpoints=env.get("BROWSA_LLM_ENDPOINTS", "").strip(),
        max_http_sessions=max(1, _env_int(env, "BROWSA_MAX_HTTP_SESSIONS", 200)),
        max_http_sessions_per_key=max(1, _env_int(env, "BROWSA_MAX_HTTP_SESSIONS_PER_KEY", 20)),
        http_session_idle_seconds=max(1, _env_int(env, "BROWSA_HTTP_SESSION_IDLE_SECONDS", 300)),
        screenshot_retention_days=_env_int(env, "BROWSA_SCREENSHOT_RETENTION_DAYS", 5),
        webhook_log_retention_days=_env_days(env, "BROWSA_WEBHOOK_LOG_RETENTION_DAYS", 30),
        lease_seconds=max(3, _env_int(env, "BROWSA_LEASE_SECONDS", 30)),
        warm_spares=max(0, _env_int(env, "BROWSA_WARM_SPARES", 1)),
        nav_timeout_ms=max(1000, _env_int(env, "BROWSA_NAV_TIMEOUT_MS", 30_000)),
        browser_start_timeout=float(max(1, _env_int(env, "BROWSA_BROWSER_START_TIMEOUT", 60))),
        max_image_bytes=max(1, _env_int(env, "BROWSA_MAX_IMAGE_BYTES", 8 * 1024 * 1024)),
        llm_api_key=env.get("BROWSA_LLM_API_KEY") or None,
        vault_key=env.get("BROWSA_VAULT_KEY") or None,
        log_level=_log_level(env),
        log_wire=_env_bool(env, "BROWSA_LOG_WIRE", False),
        warmup_recipes=_parse_recipes(env.get("BROWSA_WARMUP_RECIPES")),
        live_host=(env.get("BROWSA_LIVE_HOST") or "127.0.0.1").strip(),
        live_port=_env_int(env, "BROWSA_LIVE_PORT", 0),
        upload_dir=Path(env["BROWSA_UPLOAD_DIR"]).expanduser() if env.get("BROWSA_UPLOAD_DIR") else None,
        database_url=(env.get("BROWSA_DATABASE_URL") or "").strip() or None,
    )
    settings = settings.with_overrides(**overrides)
    if not isinstance(settings.home, Path):  # --home arrives as text
        settings = replace(settings, home=Path(settings.home).expanduser())
    try:
        PrivateNetworkRule.parse(settings.allow_private_network)
    except ValueError as exc:
        raise ValueError(f"BROWSA_ALLOW_PRIVATE_NETWORK: {exc}") from exc
    if settings.database_url and not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise ValueError("BROWSA_DATABASE_URL must be a postgresql://user:password@host:port/dbname URL")
    parse_endpoint_list(settings.llm_endpoints)  # a typo in a security switch is loud at start, like the one above
    return settings
