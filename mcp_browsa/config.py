"""Settings: the BROWSA_* environment (and the model vendors' own variables), CLI overrides, the data dir, the limits.

One frozen pydantic-settings object built once per process by `load_settings` and handed down: nothing else in
the package reads the environment. Each field's env name is BROWSA_ and the field name in capitals, unless it
names its own alias. A bad value stops the start with one line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from mcp_browsa.durations import parse_duration
from mcp_browsa.netpolicy import PrivateNetworkRule, parse_endpoint_list
from mcp_browsa.remote_endpoints import check_remote_settings

__all__ = ["DEFAULT_RETRY_SCHEDULE", "Settings", "load_settings", "parse_schedule"]

PREFIX = "BROWSA_"
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"1", "true", "yes", "on"})
# The environment load_settings was given; None: the process's own.
_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("browsa_settings_env", default=None)


def parse_schedule(raw: str) -> tuple[float, ...]:
    """`5s,5m,30m,2h` or plain seconds `0.2,0.5`: the delays before retry 1, 2, …; ValueError when malformed."""
    delays = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            value = parse_duration(part)
        except ValueError as exc:
            raise ValueError(f"BROWSA_WEBHOOK_RETRY_SCHEDULE: bad delay {part!r}") from exc
        if value < 0:
            raise ValueError(f"BROWSA_WEBHOOK_RETRY_SCHEDULE: negative delay {part!r}")
        delays.append(value)
    if not delays:
        raise ValueError("BROWSA_WEBHOOK_RETRY_SCHEDULE is empty")
    return tuple(delays)


def _parse_recipes(raw: str) -> dict[str, list[str]]:
    """`name=url1|url2;other=url3`: warm-up recipes an operator defines for identities."""
    recipes: dict[str, list[str]] = {}
    for part in raw.split(";"):
        if "=" not in part:
            continue
        name, urls = part.split("=", 1)
        recipes[name.strip()] = [u.strip() for u in urls.split("|") if u.strip()]
    return recipes


def _env_name(info: ValidationInfo) -> str:
    return PREFIX + (info.field_name or "").upper()


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


# Integer settings and the least each may be: a smaller value from the environment is raised to it (an override
# from code is taken as given). None: no floor.
_INT_FLOORS: dict[str, int | None] = {
    "max_burners": 1,
    "initial_credits": None,
    "max_http_sessions": 1,
    "max_http_sessions_per_key": 1,
    "http_session_idle_seconds": 1,
    "screenshot_retention_days": None,
    "webhook_log_retention_days": None,
    "lease_seconds": 3,
    "warm_spares": 0,
    "nav_timeout_ms": 1000,
    "browser_start_timeout": 1,
    "max_image_bytes": 1,
    "live_port": None,
}


class Settings(BaseSettings):
    """Everything the process needs to know before it starts; immutable once built."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, frozen=True, extra="ignore", env_ignore_empty=True, validate_default=False
    )

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("mcp-browsa", appauthor=False)))
    max_burners: int = 4
    initial_credits: int = 1000
    chromium: str | None = None  # BROWSA_CHROMIUM: explicit browser executable
    browser_ws: str | None = None  # BROWSA_BROWSER_WS: remote browsers (a comma list) used in turn instead of launching
    # BROWSA_EGRESS_LISTEN: host:port where the egress proxy listens for remote browsers (default: loopback).
    egress_listen: str | None = None
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
    # Webhook delivery: the delays before each retry, each POST's timeout, how often due rows are looked for.
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = DEFAULT_RETRY_SCHEDULE
    webhook_timeout: float = 15.0
    webhook_poll_interval: float = 1.0
    lease_seconds: int = 30
    sweep_interval: float = 5.0
    poll_interval: float = 1.0
    # BROWSA_WAKEUPS=0: no wake-ups between processes (NOTIFY, or SQLite's signal table); every waiter polls.
    # For a connection pooler that cannot LISTEN (PgBouncer in transaction mode), at the cost of latency.
    wakeups: bool = True
    warm_spares: int = 1
    nav_timeout_ms: int = 30_000
    # BROWSA_BROWSER_START_TIMEOUT: seconds a browser may take to start before the work fails UPSTREAM_TIMEOUT.
    browser_start_timeout: float = 60.0
    # BROWSA_MAX_IMAGE_BYTES: the largest screenshot sent back as image content; hosts refuse or choke on bigger ones.
    max_image_bytes: int = 8 * 1024 * 1024
    # Models: the default spec (BROWSA_LLM) and the keys a task without its own uses. Secrets never appear in a
    # repr, a log or a traceback.
    llm: str | None = None
    llm_api_key: str | None = Field(default=None, repr=False)
    anthropic_api_key: str | None = Field(default=None, repr=False, validation_alias="ANTHROPIC_API_KEY")
    openai_api_key: str | None = Field(default=None, repr=False, validation_alias="OPENAI_API_KEY")
    anthropic_base_url: str | None = Field(default=None, validation_alias="ANTHROPIC_BASE_URL")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    vault_key: str | None = Field(default=None, repr=False)
    log_level: str = "WARNING"
    log_wire: bool = False  # BROWSA_LOG_WIRE: debug logs include the MCP messages and SQL parameters (see logsetup)
    warmup_recipes: Annotated[dict[str, list[str]], NoDecode] = Field(default_factory=dict)
    # BROWSA_LIVE_HOST / BROWSA_LIVE_PORT: where a process without the HTTP transport serves live views (0: any port).
    live_host: str = "127.0.0.1"
    live_port: int = 0
    upload_dir: Path | None = None  # BROWSA_UPLOAD_DIR: the only place session uploads may be read from
    worker_id: str | None = None  # BROWSA_WORKER_ID / --worker-id: names this process in leases and job events
    # BROWSA_DATABASE_URL / --database-url: a postgresql:// URL every process of a deployment shares; None keeps
    # SQLite in the data dir.
    database_url: str | None = Field(default=None, repr=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _MappingEnv(settings_cls)

    # -- reading the environment's text ------------------------------------------------------------------

    @field_validator(*_INT_FLOORS, mode="before")
    @classmethod
    def _integer(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        if _blank(value):
            raise PydanticUseDefault()
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{_env_name(info)} must be an integer, got {value!r}") from None
        floor = _INT_FLOORS[info.field_name or ""]
        return number if floor is None else max(floor, number)

    @field_validator("webhook_log_retention_days")
    @classmethod
    def _days(cls, days: int, info: ValidationInfo) -> int:
        if days < 0:  # a negative retention is refused rather than read as 0
            raise ValueError(f"{_env_name(info)} must be a number of days, or 0 to keep forever; got {days}")
        return days

    @field_validator("headed", "log_wire", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if _blank(value):
            raise PydanticUseDefault()
        return value.strip().lower() in _TRUE

    @field_validator("webhook_timeout", "webhook_poll_interval", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{_env_name(info)} must be a number of seconds, got {value!r}") from None

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return parse_schedule(value) if isinstance(value, str) else value

    @field_validator("warmup_recipes", mode="before")
    @classmethod
    def _recipes(cls, value: Any) -> Any:
        return _parse_recipes(value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        level = str(value or "WARNING").strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"BROWSA_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}; got {level!r}")
        return level

    @field_validator("allow_private_network", "llm_endpoints", "live_host", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("allow_private_network")
    @classmethod
    def _private_rule(cls, value: str) -> str:
        try:
            PrivateNetworkRule.parse(value)
        except ValueError as exc:
            named = str(exc).startswith("BROWSA_ALLOW_PRIVATE_NETWORK")
            raise ValueError(str(exc) if named else f"BROWSA_ALLOW_PRIVATE_NETWORK: {exc}") from exc
        return value

    @field_validator("llm_endpoints")
    @classmethod
    def _endpoints(cls, value: str) -> str:
        parse_endpoint_list(value)  # a typo in a security switch is loud at start, like the one above
        return value

    @field_validator("worker_id", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        url = value.strip() if isinstance(value, str) else value
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("BROWSA_DATABASE_URL must be a postgresql://user:password@host:port/dbname URL")
        return url or None

    @model_validator(mode="after")
    def _remote(self) -> Settings:
        check_remote_settings(self.browser_ws, self.egress_listen)
        return self

    @field_validator("home", "upload_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    # -- derived -----------------------------------------------------------------------------------------

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

    @property
    def vendor_env(self) -> dict[str, str]:
        """The model vendors' variables as set, by their names: which key a task without its own gets."""
        named = {
            "ANTHROPIC_API_KEY": self.anthropic_api_key,
            "OPENAI_API_KEY": self.openai_api_key,
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "OPENAI_BASE_URL": self.openai_base_url,
            "BROWSA_LLM": self.llm,
            "BROWSA_LLM_API_KEY": self.llm_api_key,
        }
        return {name: value for name, value in named.items() if value}

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed (None leaves a field as it is), checked like the environment."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update({k: v for k, v in changes.items() if v is not None})
        return _checked(lambda: type(self).model_validate(values))


class _MappingEnv(EnvSettingsSource):
    """The environment source reading the mapping load_settings was given instead of os.environ."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        given = _ENV.get()
        if given is None:
            return super()._load_env_vars()
        return {k.lower(): v for k, v in given.items()}


def _checked(build: Callable[[], Settings]) -> Settings:
    try:
        return build()
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ValueError):
            raise ValueError(str(cause)) from None
        name = PREFIX + ".".join(str(p) for p in error["loc"]).upper()
        raise ValueError(f"{name}: {error['msg']}") from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from an environment mapping (default: os.environ) plus explicit overrides (None: not given)."""
    token = _ENV.set(dict(os.environ if env is None else env))
    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        return _checked(lambda: Settings(**given))
    finally:
        _ENV.reset(token)
