"""The data key and AES-GCM sealing: key formats, the key file made once even under a race, and bound context."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import threading
from pathlib import Path

import pytest

from mcp_browsa.config import Settings
from mcp_browsa.crypto import (
    KEY_FILE_NAME,
    SealedDataError,
    VaultKeyError,
    load_or_create_key,
    open_sealed,
    parse_key,
    seal,
)

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "spelling",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {base64.b64encode(KEY).decode()}\n",
    ],
)
def test_a_key_is_taken_as_hex_or_base64(spelling: str) -> None:
    assert parse_key(spelling) == KEY


@pytest.mark.parametrize(
    ("spelling", "says"),
    [
        (" ", "is empty"),
        ("not a key at all!", "neither hex nor base64"),
        (KEY[:16].hex(), "decodes to 24 bytes"),  # 32 hex digits read as base64
        (base64.b64encode(KEY[:16]).decode(), "decodes to 16 bytes"),
        (base64.b64encode(KEY + KEY).decode(), "decodes to 64 bytes"),
    ],
)
def test_a_malformed_key_is_refused_with_what_to_do(spelling: str, says: str) -> None:
    with pytest.raises(VaultKeyError) as caught:
        parse_key(spelling)
    assert says in str(caught.value)
    assert "BROWSA_VAULT_KEY" in str(caught.value) and "32" in str(caught.value)


def test_the_key_file_is_made_once_private_and_then_reused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    key = load_or_create_key(settings)
    path = settings.home / KEY_FILE_NAME
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(settings) == key
    assert [p.name for p in settings.home.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_processes_racing_to_make_the_key_file_all_end_with_the_same_key(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    barrier = threading.Barrier(8)
    keys: list[bytes] = []

    def make() -> None:
        barrier.wait()
        keys.append(load_or_create_key(settings))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1


def test_the_environment_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, vault_key=KEY.hex())
    assert load_or_create_key(settings) == KEY
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_a_damaged_key_file_is_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("%%% not base64 %%%\n")
    os.chmod(path, 0o600)
    with pytest.raises(VaultKeyError) as caught:
        load_or_create_key(Settings(home=tmp_path))
    assert str(path) in str(caught.value) and "corrupt" in str(caught.value)
    assert path.read_text() == "%%% not base64 %%%\n"


def test_sealed_data_opens_only_with_its_key_and_its_context() -> None:
    key = secrets.token_bytes(32)
    nonce, box = seal(key, b"hunter2", b"ws_a\0github_password")
    assert b"hunter2" not in box
    assert open_sealed(key, nonce, box, b"ws_a\0github_password") == b"hunter2"
    for wrong_key, nonce_, box_, aad in [
        (key, nonce, box, b"ws_a\0gitlab_password"),  # moved to another row
        (secrets.token_bytes(32), nonce, box, b"ws_a\0github_password"),  # another key
        (key, nonce, box[:-1] + bytes([box[-1] ^ 1]), b"ws_a\0github_password"),  # tampered
        (key, secrets.token_bytes(12), box, b"ws_a\0github_password"),  # another nonce
    ]:
        with pytest.raises(SealedDataError):
            open_sealed(wrong_key, nonce_, box_, aad)


def test_every_seal_uses_a_fresh_nonce() -> None:
    key = secrets.token_bytes(32)
    sealed = {seal(key, b"same value")[0] for _ in range(50)}
    assert len(sealed) == 50
