"""Encryption at rest: the data key (BROWSA_VAULT_KEY or a 0600 key file) and AES-GCM sealing with bound context.

Used for vault secrets and identity state alike. The AAD passed to `seal` must be passed again to `open_sealed`,
so a ciphertext copied into another row (another workspace, another secret name) fails to open.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
from pathlib import Path

from mcp_browsa.config import Settings

__all__ = [
    "KEY_BYTES",
    "KEY_FILE_NAME",
    "NONCE_BYTES",
    "SealedDataError",
    "VaultKeyError",
    "load_or_create_key",
    "open_sealed",
    "parse_key",
    "seal",
]

log = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per seal, so a key is good for ~2^32 seals
KEY_FILE_NAME = "vault.key"


class VaultKeyError(ValueError):
    """The configured key is unusable (malformed BROWSA_VAULT_KEY, unreadable key file); the message says how to fix it."""


class SealedDataError(ValueError):
    """A sealed value did not open: another key sealed it, or it was tampered with or moved to another row."""


def parse_key(raw: str) -> bytes:
    """A 32-byte key from 64 hex digits or base64 (standard or URL-safe, padding optional); VaultKeyError otherwise."""
    text = raw.strip()
    if not text:
        raise VaultKeyError("BROWSA_VAULT_KEY is empty; unset it to use the key file, or give 32 random bytes")
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass  # 64 characters of base64 are possible too (48 bytes): fall through and report the length
    padded = text + "=" * (-len(text) % 4)
    for alphabet in (b"+/", b"-_"):
        try:
            key = base64.b64decode(padded.encode("ascii"), altchars=alphabet, validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(key) == KEY_BYTES:
            return key
        raise VaultKeyError(
            f"BROWSA_VAULT_KEY decodes to {len(key)} bytes; it must be exactly {KEY_BYTES} bytes"
            " (64 hex digits, or 44 base64 characters — e.g. the output of `openssl rand -base64 32`)"
        )
    raise VaultKeyError(
        f"BROWSA_VAULT_KEY is neither hex nor base64; give {KEY_BYTES} random bytes as 64 hex digits"
        " or as base64 (e.g. the output of `openssl rand -base64 32`)"
    )


def _read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise VaultKeyError(f"cannot read the vault key file {path}: {exc}") from exc
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VaultKeyError(f"the vault key file {path} is corrupt (not base64); restore it from a backup") from exc
    if len(key) != KEY_BYTES:
        raise VaultKeyError(
            f"the vault key file {path} holds {len(key)} bytes, not {KEY_BYTES}; restore it from a backup"
        )
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("the vault key file %s is readable by other users; run `chmod 600 %s`", path, path)
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key so that no process ever sees a partial file, and never replace one another process made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii") + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)  # atomic, and fails if another process won the race: then theirs is the key
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)


def load_or_create_key(settings: Settings) -> bytes:
    """The data key: BROWSA_VAULT_KEY when set, else `<data dir>/vault.key`, created (mode 0600) on first use.

    Losing the key file loses every sealed value; the message of each failure says what to do.
    """
    if settings.vault_key:
        return parse_key(settings.vault_key)
    path = settings.home / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


# cryptography is imported where it is used: loading its bindings takes longer than the rest of the CLI's start-up
# together, and `mcp-browsa jobs` or a server that never seals anything should not wait for it.


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of `plaintext` under `key`, bound to `aad` (which is authenticated, not stored)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
    """The plaintext `seal` produced with the same key and aad; SealedDataError otherwise."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError) as exc:
        raise SealedDataError("sealed data did not open with this key and context") from exc
