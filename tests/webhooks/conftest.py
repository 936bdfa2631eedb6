"""Fixtures for the webhook tests: a short data dir for server subprocesses."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home() -> Iterator[Path]:
    # Chromium's singleton socket lives under the server's TMPDIR (inside its data dir) and must stay under
    # 108 bytes; pytest's tmp_path names can be too long for that.
    path = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
