"""What every job kind's request shares: how it is stored as the job's params, read back, and told apart.

A tool builds the request once from its arguments; the app checks it and stores `params()` as the job's
params; the runner reads them back with `stored()`. Keys a request carries only in memory (an API key) are
excluded fields: no dump holds them, so neither the job row nor an idempotency hash ever does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import Self

__all__ = [
    "AllowedDomains",
    "Concurrency",
    "Country",
    "IdentityRef",
    "JobRequest",
    "KeySource",
    "LlmKey",
    "LlmSpec",
    "ModelChoice",
    "OsTypeName",
    "SecondsTimeout",
    "Url",
]

KeySource = Literal["call", "env", "client"]  # where a job's model key came from; "call" keys die with the process
# Errors that say a value is of the right type but outside a bound.
_BOUNDS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_long", "too_short", "string_too_long"}
)
OsTypeName = Literal["OS_TYPE_MACOS", "OS_TYPE_WINDOWS", "OS_TYPE_LINUX"]

Url = Annotated[str, Field(description="The page's http(s) URL.", max_length=4096)]
AllowedDomains = Annotated[
    list[Annotated[str, Field(max_length=253)]] | None,
    Field(max_length=100, description="Hosts it may contact (`*.x.com` wildcards); default any."),
]
# The model and key of agent work, shared by run_task, batch (tasks) and extract.
LlmSpec = Annotated[
    str | None,
    Field(max_length=500, description='"provider:model[@url]" or "client" (your model). Default: the server\'s.'),
]
LlmKey = Annotated[str | None, Field(max_length=1000, description="Vendor API key for this call only; never stored.")]
Concurrency = Annotated[
    int | None, Field(ge=1, le=20, description="How many rows at once (capped by the burner limit).")
]
Country = Annotated[
    str | None, Field(min_length=2, max_length=2, description="ISO country code for locale and time zone.")
]
IdentityRef = Annotated[
    str | None, Field(max_length=100, description="Run on this persistent identity (its logins kept).")
]


class JobRequest(BaseModel):
    """A job kind's parameters. Stored params an older version wrote read back through the defaults; keys this
    version no longer knows are passed over, so a job queued before an upgrade still runs after it."""

    model_config = ConfigDict(extra="ignore")

    def params(self) -> dict[str, Any]:
        """The job's params as stored: JSON, with no secret in them."""
        return self.model_dump(mode="json")

    @classmethod
    def stored(cls, params: dict[str, Any]) -> Self:
        """The request a job's stored params describe. A value outside today's bounds (a job accepted under other
        limits) is kept as it was accepted; a value of the wrong type is an error."""
        try:
            return cls.model_validate(params)
        except ValidationError as exc:
            errors = exc.errors()
            if not all(e["type"] in _BOUNDS and len(e["loc"]) == 1 for e in errors):
                raise
            outside = {str(e["loc"][0]) for e in errors}
            within = cls.model_validate({k: v for k, v in params.items() if k not in outside})
            return within.model_copy(update={k: params[k] for k in outside})

    @classmethod
    def pick(cls, values: dict[str, Any]) -> Self:
        """The request from a tool's arguments: the ones that are this request's fields, checked."""
        return cls.model_validate({k: v for k, v in values.items() if k in cls.model_fields})


class SecondsTimeout(JobRequest):
    """A request with a `timeout_seconds`; jobs stored before the request models kept it in milliseconds."""

    @model_validator(mode="before")
    @classmethod
    def _stored_timeout(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("timeout_ms") and data.get("timeout_seconds") is None:
            data = {**data, "timeout_seconds": data["timeout_ms"] / 1000}
        return data


class ModelChoice(JobRequest):
    """The model a job calls: the spec, its key (in memory only), and where the key came from."""

    llm: LlmSpec = None
    llm_api_key: LlmKey = Field(None, exclude=True, repr=False)  # no dump carries it: not the job row, not a hash
    # Set by the app once the model is resolved; a job stored before they existed reads as a server key, remote.
    key_source: KeySource = "env"
    llm_local: bool = False
