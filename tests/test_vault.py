"""The vault service and `mcp-browsa vault`: sealed rows bound to their place, resolvers, masks, per-job answers.

A real SQLite file; the CLI runs in-process with stdin and the terminal prompt replaced.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from mcp_browsa import cli
from mcp_browsa.config import Settings
from mcp_browsa.errors import BadRequest, InternalError
from mcp_browsa.events import EngineEvent
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from mcp_browsa.workspace_secrets import (
    MissingSecret,
    SecretNotAllowed,
    Vault,
    mask_variants,
    referenced_secrets,
    task_secrets,
)
from tests.support.db import workspace_db

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE
VALUE = "p@ss word&1=2"


def db_bytes(folder: Path) -> bytes:
    """The database file and its WAL, as stored."""
    return b"".join(p.read_bytes() for p in folder.glob("browsa.db*"))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with workspace_db(tmp_path, WS, credits=10) as db:
        yield db


@pytest.fixture
def vault(db: Database, tmp_path: Path) -> Vault:
    return Vault(db, Settings(home=tmp_path))


async def test_set_list_delete_and_no_value_in_the_database_file(vault: Vault, db: Database, tmp_path: Path) -> None:
    assert await vault.set(WS, "github_password", VALUE) is True
    assert await vault.set(WS, "github_password", VALUE + "!") is False  # replaced
    await vault.set(WS, "github_username", "octocat")
    assert [s.name for s in await vault.list(WS)] == ["github_password", "github_username"]
    assert (await vault.values(WS, ["github_password"])) == {"github_password": VALUE + "!"}
    await vault.delete(WS, "github_username")
    with pytest.raises(MissingSecret, match="no secret named github_username"):
        await vault.delete(WS, "github_username")
    raw = db_bytes(tmp_path)
    assert VALUE.encode() not in raw and b"octocat" not in raw


@pytest.mark.parametrize("name", ["", "_hidden", "has space", "a/b", "{{x}}", "x" * 101])
async def test_names_are_checked(vault: Vault, name: str) -> None:
    with pytest.raises(BadRequest, match="is not valid"):
        await vault.set(WS, name, VALUE)


async def test_empty_and_huge_values_are_refused(vault: Vault) -> None:
    with pytest.raises(BadRequest, match="empty"):
        await vault.set(WS, "x", "")
    with pytest.raises(BadRequest, match="longer than"):
        await vault.set(WS, "x", "v" * 5000)


async def test_a_ciphertext_moved_to_another_row_does_not_open(vault: Vault, db: Database) -> None:
    await LedgerRepo(db).ensure_workspace("ws_other", initial_credits=0)
    await vault.set(WS, "bank_password", VALUE)
    await vault.set(WS, "forum_password", "harmless")
    await vault.set("ws_other", "bank_password", "theirs")
    # Another name in the same workspace, and the same name in another workspace.
    for workspace, name in ((WS, "forum_password"), ("ws_other", "bank_password")):
        await db.execute(
            "UPDATE vault_secrets SET nonce=(SELECT nonce FROM vault_secrets WHERE workspace_id=? AND name=?),"
            " ciphertext=(SELECT ciphertext FROM vault_secrets WHERE workspace_id=? AND name=?)"
            " WHERE workspace_id=? AND name=?",
            (WS, "bank_password", WS, "bank_password", workspace, name),
        )
        with pytest.raises(InternalError) as caught:
            await vault.values(workspace, [name])
        assert f"secret {name} cannot be decrypted" in caught.value.message
        assert VALUE not in caught.value.message


async def test_another_vault_key_says_so(vault: Vault, db: Database, tmp_path: Path) -> None:
    await vault.set(WS, "token", VALUE)
    other = Vault(db, Settings(home=tmp_path, vault_key="ab" * 32))
    with pytest.raises(InternalError, match="another vault key"):
        await other.resolver(WS)


async def test_a_malformed_environment_key_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    broken = Vault(db, Settings(home=tmp_path, vault_key="tooshort"))
    with pytest.raises(InternalError, match="BROWSA_VAULT_KEY decodes to"):
        await broken.set(WS, "token", VALUE)


async def test_a_resolver_fills_known_names_and_names_the_missing_one(vault: Vault) -> None:
    await vault.set(WS, "shop_password", VALUE)
    resolve = await vault.resolver(WS, fills=["shop_password", "shop_pin"])
    assert resolve("shop_password") == VALUE
    assert resolve.used == ["shop_password"]
    with pytest.raises(MissingSecret) as caught:
        resolve("shop_pin")
    assert (
        "no secret named shop_pin" in caught.value.message and "mcp-browsa vault set shop_pin" in caught.value.message
    )
    assert VALUE not in repr(resolve) and VALUE not in caught.value.message
    assert {VALUE, quote_plus(VALUE), "p%40ss%20word%261%3D2"} <= set(resolve.mask_values)
    assert resolve.mask(f"url?p={quote_plus(VALUE)} and {VALUE}") == "url?p=•••• and ••••"


async def test_a_resolver_fills_only_the_names_it_was_given_and_masks_every_value(vault: Vault) -> None:
    await vault.set(WS, "shop_password", VALUE)
    await vault.set(WS, "bank_password", "b4nk-s3cret")
    resolve = await vault.resolver(WS, fills=task_secrets("Sign in with {{secret:shop_password}}", None))
    assert resolve("shop_password") == VALUE
    # Held back the same way whether or not the vault has the name: the answer tells nothing about the vault.
    for name in ("bank_password", "no_such_secret"):
        with pytest.raises(SecretNotAllowed) as caught:
            resolve(name)
        assert caught.value.message.startswith(f"secret {name} is not available to this task")
        assert "b4nk-s3cret" not in caught.value.message and "shop_password" not in caught.value.message
    assert resolve.used == ["shop_password"]
    assert "b4nk-s3cret" in resolve.mask_values  # still masked wherever it shows up
    assert task_secrets("type {{secret:a}}", {"pin": "{{secret:b}}"}) == ["a", "b"]


async def test_require_names_every_missing_secret_before_work_starts(vault: Vault) -> None:
    await vault.set(WS, "a", VALUE)
    await vault.require(WS, ["a"])
    with pytest.raises(MissingSecret) as caught:
        await vault.require(WS, ["a", "b", "c"])
    assert "no secrets named b, c" in caught.value.message
    assert caught.value.context["secrets"] == ["b", "c"]


async def test_a_jobs_secret_answer_is_sealed_seen_by_that_job_only_and_gone_when_it_ends(
    vault: Vault, db: Database
) -> None:
    job, other = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    name = await vault.put_job_answer(WS, job, "246810")
    assert name == f"_job.{job}.1"
    assert await vault.put_job_answer(WS, job, "13579") == f"_job.{job}.2"
    assert await vault.list(WS) == []  # internal: never listed
    assert (await vault.resolver(WS, job_id=job))(name) == "246810"
    with pytest.raises(MissingSecret):
        (await vault.resolver(WS, job_id=other))(name)
    resolver = await vault.resolver(WS, job_id=job)
    async with db.transaction() as conn:
        await vault.finish_hook(conn, EngineEvent("job.completed", WS, {}, job_id=job))
    assert await db.fetchall("SELECT name FROM vault_secrets") == []
    with pytest.raises(MissingSecret):
        await resolver.refresh()
        resolver(name)


def test_placeholders_and_masks() -> None:
    assert referenced_secrets("log in as {{secret:user}} with {{ secret:pw }} and {{secret:user}}") == ["user", "pw"]
    assert mask_variants(["", "a b"]) == ("a b", "a%20b", "a+b")
    # How browsers encode a form field (WHATWG urlencoded: "*" stays, "~" does not) and how HTML escapes it.
    assert {"x%7Ey*z%3C", "x~y*z&lt;"} <= set(mask_variants(["x~y*z<"]))


# -- the command line --------------------------------------------------------------------------


def run(home: Path, *args: str) -> int:
    return cli.main(["--home", str(home), *args])


def test_the_cli_reads_a_piped_value_and_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BROWSA_VAULT_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(VALUE + "\n"))
    assert run(tmp_path, "vault", "set", "mail_password") == 0
    said = capsys.readouterr()
    assert "stored mail_password" in said.out and "{{secret:mail_password}}" in said.out
    assert run(tmp_path, "vault", "list", "--json") == 0
    listed = capsys.readouterr()
    assert [s["name"] for s in json.loads(listed.out)["secrets"]] == ["mail_password"]
    assert run(tmp_path, "vault", "list") == 0
    shown = capsys.readouterr()
    assert shown.out.startswith("mail_password ") and "updated" in shown.out
    assert VALUE not in said.out + said.err + listed.out + shown.out
    assert run(tmp_path, "vault", "delete", "mail_password") == 0
    assert run(tmp_path, "vault", "delete", "mail_password") == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_at_a_terminal_the_value_is_typed_twice_at_a_hidden_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BROWSA_VAULT_KEY", raising=False)
    tty = io.StringIO()
    monkeypatch.setattr(tty, "isatty", lambda: True)
    monkeypatch.setattr("sys.stdin", tty)
    typed = iter([VALUE, VALUE + "typo"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    assert run(tmp_path, "vault", "set", "pin") == 1
    assert "differ; nothing was stored" in capsys.readouterr().err
    typed = iter([VALUE, VALUE])
    assert run(tmp_path, "vault", "set", "pin") == 0
    assert VALUE not in capsys.readouterr().out


def test_a_bad_name_is_refused_before_the_value_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.StringIO(VALUE)
    monkeypatch.setattr("sys.stdin", stdin)
    assert run(tmp_path, "vault", "set", "bad name") == 1
    assert stdin.tell() == 0
    assert "BAD_REQUEST" in capsys.readouterr().err


def test_an_unknown_workspace_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "vault", "--workspace", "ws_nobody", "list") == 1
    assert "workspace 'ws_nobody' not found" in capsys.readouterr().err
