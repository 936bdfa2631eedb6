"""The credentials vault: named secrets per workspace, sealed at rest, opened only to fill a page server-side.

Nothing here returns a value to a caller outside the server: the CLI sets, lists and deletes; jobs get a
`SecretResolver` (values in memory for the job's lifetime) and the mask list that keeps values out of
everything the model, the events and the logs see.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from mcp_browsa.config import Settings
from mcp_browsa.crypto import SealedDataError, VaultKeyError, load_or_create_key, open_sealed, seal
from mcp_browsa.errors import BadRequest, InternalError, NotFound
from mcp_browsa.events import EngineEvent
from mcp_browsa.masking import mask_text
from mcp_browsa.storage.db import Conn, Database
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from mcp_browsa.storage.vault import SealedSecret, SecretInfo, VaultRepo

__all__ = [
    "JOB_SECRET_PREFIX",
    "MAX_VALUE_CHARS",
    "MissingSecret",
    "SecretNotAllowed",
    "SecretResolver",
    "Vault",
    "check_secret_name",
    "mask_variants",
    "referenced_secrets",
    "task_secrets",
]

# Server-made names (secret answers given to one job) start with this; a user name never does.
JOB_SECRET_PREFIX = "_job."
MAX_VALUE_CHARS = 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")  # what {{secret:NAME}} accepts, minus the reserved "_"
_PLACEHOLDER = re.compile(r"\{\{\s*secret:([A-Za-z0-9_.\-]+)\s*\}\}")  # engine/action_specs.py's SECRET_PATTERN
_ENDED = ("job.completed", "job.failed", "job.cancelled")


class MissingSecret(NotFound):
    """A job or a command named a secret the workspace's vault does not hold. Names only, never values."""


class SecretNotAllowed(MissingSecret):
    """A job asked to fill a secret it was not given: to that job the secret does not exist, whether or not it does.

    The same answer for both, so a page steering the model cannot learn which names the vault holds.
    """


def check_secret_name(name: str) -> str:
    """A user-chosen secret name, or BadRequest saying what names look like."""
    if not isinstance(name, str) or not _NAME.match(name):
        shown = name[:60] if isinstance(name, str) else type(name).__name__
        raise BadRequest(
            f"secret name {shown!r} is not valid: use 1–100 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit (e.g. github_password)"
        )
    return name


def referenced_secrets(text: str) -> list[str]:
    """The names a task text refers to with {{secret:NAME}}, in order, without repeats."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text or "")))


def task_secrets(task: str, input: dict[str, Any] | None) -> list[str]:
    """The secrets a task's own words name, in its text or its `input` values: all it may ever fill."""
    return referenced_secrets(task + json.dumps(input or {}, ensure_ascii=False))


def mask_variants(values: Iterable[str]) -> tuple[str, ...]:
    """Each value plus the spellings it takes in URLs and HTML, so a value echoed in a query string is masked too."""
    out: dict[str, None] = {}
    for value in values:
        if not value:
            continue
        form = quote_plus(value, safe="*").replace("~", "%7E")  # what a browser sends for a submitted form field
        for variant in (value, quote(value, safe=""), quote_plus(value), form, quote(value), html.escape(value)):
            out.setdefault(variant, None)
    return tuple(out)


def _aad(workspace_id: str, name: str) -> bytes:
    # Binds a ciphertext to its row: copied under another name or workspace, it no longer opens.
    return f"mcp-browsa/vault/v1\0{workspace_id}\0{name}".encode()


def _missing_message(workspace_id: str, names: Collection[str]) -> str:
    where = "" if workspace_id == DEFAULT_WORKSPACE else f" --workspace {workspace_id}"
    listed = ", ".join(names)
    if len(names) == 1:
        return (
            f"no secret named {listed} in the vault of workspace {workspace_id}; "
            f"add it at a terminal with `mcp-browsa vault set {listed}{where}`"
        )
    return (
        f"no secrets named {listed} in the vault of workspace {workspace_id}; "
        f"add each at a terminal with `mcp-browsa vault set NAME{where}`"
    )


class SecretResolver:
    """A job's view of the vault: `resolver(name) -> value` for the names it may fill, plus every value's masks.

    Every value of the workspace is held, to mask wherever it shows up, but only `fills` (and the job's own secret
    answers) can be typed: a page that talks the model into typing {{secret:other}} gets nothing.
    Synchronous on purpose: engine/actions.py fills `{{secret:NAME}}` in the middle of a `type` action.
    """

    def __init__(
        self, vault: Vault, workspace_id: str, job_id: str | None, values: dict[str, str], fills: Collection[str]
    ) -> None:
        self._vault = vault
        self._workspace_id = workspace_id
        self._job_id = job_id
        self._values = values
        self._fills = frozenset(fills)
        self.used: list[str] = []  # names filled so far, for the job's record

    def __call__(self, name: str) -> str:
        own_answer = self._job_id is not None and name.startswith(_job_prefix(self._job_id))
        if name not in self._fills and not own_answer:
            raise SecretNotAllowed(
                f"secret {name} is not available to this task: it can type only the secrets its own instructions"
                " name as {{secret:NAME}}",
                secret=name,
            )
        value = self._values.get(name)
        if value is None:
            raise MissingSecret(_missing_message(self._workspace_id, [name]), secret=name)
        if name not in self.used:
            self.used.append(name)
        return value

    def __repr__(self) -> str:
        return f"SecretResolver(workspace={self._workspace_id!r}, fills={sorted(self._fills)!r})"

    @property
    def mask_values(self) -> tuple[str, ...]:
        """Every value this job could fill, in every spelling; pass as `mask_values` to observe/execute."""
        return mask_variants(self._values.values())

    def mask(self, text: str) -> str:
        return mask_text(text, self.mask_values)

    async def refresh(self) -> None:
        """Re-read the vault: call after a secret answer for this job was stored (respond_to_job(secret=true))."""
        fresh = await self._vault.resolver(self._workspace_id, job_id=self._job_id, fills=self._fills)
        self._values = fresh._values


class Vault:
    """Sealing, opening and naming rules over `VaultRepo`; the key is loaded on first use."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.repo = VaultRepo(db)
        self.settings = settings
        self._key: bytes | None = None

    def _data_key(self) -> bytes:
        if self._key is None:
            try:
                self._key = load_or_create_key(self.settings)
            except VaultKeyError as exc:
                raise InternalError(f"the vault key is unusable: {exc}") from exc
        return self._key

    def _open(self, workspace_id: str, sealed: SealedSecret) -> str:
        try:
            plain = open_sealed(self._data_key(), sealed.nonce, sealed.ciphertext, _aad(workspace_id, sealed.name))
        except SealedDataError:
            raise InternalError(
                f"secret {sealed.name} cannot be decrypted: it was stored under another vault key (BROWSA_VAULT_KEY"
                f" or {self.settings.home}/vault.key) or altered; store it again with `mcp-browsa vault set {sealed.name}`"
            ) from None
        return plain.decode("utf-8")

    async def _store(self, workspace_id: str, name: str, value: str) -> bool:
        if not isinstance(value, str) or not value:
            raise BadRequest(f"the value for secret {name} is empty")
        if len(value) > MAX_VALUE_CHARS:
            raise BadRequest(f"the value for secret {name} is longer than {MAX_VALUE_CHARS} characters")
        nonce, ciphertext = seal(self._data_key(), value.encode("utf-8"), _aad(workspace_id, name))
        return await self.repo.put(workspace_id, name, nonce, ciphertext)

    # -- what the operator does (CLI) ----------------------------------------------------------

    async def set(self, workspace_id: str, name: str, value: str) -> bool:
        """Store or replace a secret; True when it is new."""
        return await self._store(workspace_id, check_secret_name(name), value)

    async def list(self, workspace_id: str) -> list[SecretInfo]:
        """Names and times only; per-job answers are internal and not listed."""
        return await self.repo.list_names(workspace_id, hide_prefix=JOB_SECRET_PREFIX)

    async def delete(self, workspace_id: str, name: str) -> None:
        if not await self.repo.delete(workspace_id, check_secret_name(name)):
            raise MissingSecret(f"no secret named {name} in the vault of workspace {workspace_id}", secret=name)

    # -- what jobs use ------------------------------------------------------------------------

    async def require(self, workspace_id: str, names: Collection[str]) -> None:
        """MissingSecret naming every absent one, before any work starts."""
        missing = [n for n in dict.fromkeys(names) if await self.repo.get(workspace_id, n) is None]
        if missing:
            raise MissingSecret(_missing_message(workspace_id, missing), secrets=missing)

    async def values(self, workspace_id: str, names: Collection[str] | None = None) -> dict[str, str]:
        """Opened values by name (all of the workspace's own secrets when `names` is None); absent names are skipped."""
        rows = await self.repo.sealed(workspace_id)
        wanted = None if names is None else set(names)
        return {
            r.name: self._open(workspace_id, r)
            for r in rows
            if (wanted is None and not r.name.startswith(JOB_SECRET_PREFIX))
            or (wanted is not None and r.name in wanted)
        }

    async def resolver(
        self, workspace_id: str, *, job_id: str | None = None, fills: Collection[str] = ()
    ) -> SecretResolver:
        """Open the workspace's secrets (and `job_id`'s secret answers) once, for a job to mask with, and to fill
        with where named in `fills` (a task: `task_secrets`; a login: its two credentials)."""
        values = await self.values(workspace_id)
        if job_id is not None:
            for row in await self.repo.sealed(workspace_id, prefix=_job_prefix(job_id)):
                values[row.name] = self._open(workspace_id, row)
        return SecretResolver(self, workspace_id, job_id, values, fills)

    async def put_job_answer(self, workspace_id: str, job_id: str, value: str) -> str:
        """Seal a human's secret answer for one job; returns the NAME to put in `{{secret:NAME}}` for the model.

        Deleted when the job ends (see `finish_hook`).
        """
        taken = {r.name for r in await self.repo.sealed(workspace_id, prefix=_job_prefix(job_id))}
        n = len(taken) + 1
        while f"{_job_prefix(job_id)}{n}" in taken:
            n += 1
        name = f"{_job_prefix(job_id)}{n}"
        await self._store(workspace_id, name, value)
        return name

    async def finish_hook(self, conn: Conn, event: EngineEvent) -> None:
        """Runs in the transaction that ends a job: its secret answers go with it."""
        if event.job_id and event.type in _ENDED:
            await VaultRepo.delete_prefix_in(conn, event.workspace_id, _job_prefix(event.job_id))


def _job_prefix(job_id: str) -> str:
    return f"{JOB_SECRET_PREFIX}{job_id}."
